"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines lack).
Markdown cells are copied; code cells become ```python blocks; nbdev directives are dropped."""
import json, re, sys
from pathlib import Path
root = Path(__file__).resolve().parents[1]
nb = json.loads((root/'nbs'/'index.ipynb').read_text())
out = []
for c in nb['cells']:
    src = ''.join(c['source'])
    if c['cell_type'] == 'markdown': out.append(src)
    elif c['cell_type'] == 'code':
        if re.search(r'^#\|\s*hide', src, re.M): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if code: out.append(f"```python\n{code}\n```")
text = '\n\n'.join(out).rstrip() + '\n'
readme = root/'README.md'
if '--check' in sys.argv:
    if readme.read_text() != text: sys.exit("README.md is out of step with nbs/index.ipynb: run python scripts/make_readme.py")
else: readme.write_text(text)
