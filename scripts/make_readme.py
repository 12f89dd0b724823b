"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines lack).
Markdown cells are copied; code cells become ```python blocks; nbdev directives are dropped. A markdown line
`{{results:NAME}}` becomes a table generated from the figures under outputs/ (see TABLES), so that no result
in the README is typed by hand. `--check` fails when README.md is out of step with the notebook or outputs/."""
import json, re, sys
from pathlib import Path
root = Path(__file__).resolve().parents[1]

def _load(rel):
    p = root/rel
    if not p.is_file(): sys.exit(f"{rel} is missing: the README's tables are generated from it")
    return json.loads(p.read_text())

def teacher_table():
    "Teacher scoring on this CPU (and the lent GPU), from outputs/bench/teacher.json."
    b = _load('outputs/bench/teacher.json'); pk = b['matmul_peak_gflops']
    rows = ["| pairs | scorer | pairs/s | vs sentence-transformers fp32 | share of the bf16 matrix peak | DL19 nDCG@10 |", "|---|---|---:|---:|---:|---:|"]
    for s, S in b['sets'].items():
        for name, r in S['scorers'].items():
            nd = f"{r['ndcg10']:.4f}" if 'ndcg10' in r else ''
            rows.append(f"| {s} ({S['mean_tokens']:.0f} tokens) | {name} | {r['pairs_per_s']:.1f} | {r['ratio_to_st_fp32']:.2f}× | {r['share_of_bf16_peak']:.1%} | {nd} |")
    out = [f"On {b['device'].split(':', 1)[1].strip()}; bf16 matrix peak measured in the same run {pk['bf16']:.0f} GFLOP/s (fp32 {pk['fp32']:.0f}).", ""] + rows
    if 'gpu' in b:
        g = b['gpu']
        out += ["", f"On a lent {g['device']} (bf16; matrix peak measured there {g['matmul_peak_tflops_bf16']:.0f} TFLOP/s):", "",
                "| pairs | kdnb pairs/s | sentence-transformers pairs/s | ratio | share of peak | model alone: share of peak |", "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {s} | {r['kdnb_pairs_per_s']:.0f} | {r['st_pairs_per_s']:.0f} | {r['ratio']:.2f}× | {r['share_of_peak']:.1%} | {r['model_only_share_of_peak']:.1%} |"
                for s, r in g['sets'].items()]
    return '\n'.join(out)

def encode_table():
    "Student encoding, from outputs/bench/encode.json."
    e = _load('outputs/bench/encode.json')
    rows = ["| encoder | fp32 passages/s | bf16 passages/s | bf16 / fp32 |", "|---|---:|---:|---:|"]
    for w, name in (('kdnb', 'kdnb `encode_passages`'), ('st', 'sentence-transformers `encode`')):
        f, b = max(e[w]['fp32'].values()), max(e[w]['bf16'].values())
        rows.append(f"| {name} | {f:.1f} | {b:.1f} | {b/f:.2f}× |")
    return (f"{e['model']}, {e['n']} SciFact passages, max length {e['max_length']}, best batch setting of each; {e['device']}. "
            f"Smallest cosine between bf16 and fp32 vectors: {e['min_cos_bf16_vs_fp32']:.5f}.\n\n" + '\n'.join(rows))

def keys_table():
    "The published answer keys, from outputs/answer_keys/*/provenance.json."
    rows = ["| key | pairs | file | teacher precision | scored on | scored |", "|---|---:|---:|---|---|---|"]
    for p in sorted((root/'outputs'/'answer_keys').glob('*/provenance.json')):
        v = json.loads(p.read_text()); t = v['teachers'][0]
        rows.append(f"| `{v['name']}` | {v['n_pairs']:,} | {v['bytes']/1024:.0f} KiB | {t['precision']} | {t['device']} | {v['scored'][:10]} |")
    return '\n'.join(rows)

TABLES = {'teacher': teacher_table, 'encode': encode_table, 'keys': keys_table}

def fill(md):
    return re.sub(r'^\{\{results:(\w+)\}\}$', lambda m: TABLES[m.group(1)](), md, flags=re.M)

nb = json.loads((root/'nbs'/'index.ipynb').read_text())
out = []
for c in nb['cells']:
    src = ''.join(c['source'])
    if c['cell_type'] == 'markdown': out.append(fill(src))
    elif c['cell_type'] == 'code':
        if re.search(r'^#\|\s*hide', src, re.M): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if code: out.append(f"```python\n{code}\n```")
text = '\n\n'.join(out).rstrip() + '\n'
readme = root/'README.md'
if '--check' in sys.argv:
    if readme.read_text() != text: sys.exit("README.md is out of step with nbs/index.ipynb or outputs/: run python scripts/make_readme.py")
else: readme.write_text(text)
