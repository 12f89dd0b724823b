#!/usr/bin/env python
"""Run chapters as `nbdev_test` does (cells flagged `slow`, `cuda` or `notest` skipped) and store their small outputs.

A reader of `nbs/` on GitHub should see the tables, plots and printed figures that a chapter's cells show without
running anything, and no bulk. Kept: a cell's results and displays (tables, markdown, `show_doc`, PNG plots) and its
printed lines, each within a size limit; dropped: stderr (warnings, progress bars), anything with a carriage return
(progress bars), errors, widgets, and every output of a `#| hide` or `#| export` cell. A chapter whose kept outputs
pass `--max_kb` is left as it was, with a message. Run `nbdev_clean` afterwards (CI checks it).

    python scripts/store_outputs.py nbs/08_losses.ipynb nbs/20_online.ipynb
    python scripts/store_outputs.py --all
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEEP_MIME = ('image/png', 'text/markdown', 'text/html', 'text/plain')
MAX_TEXT = 20_000      # characters of one text output
MAX_IMAGE = 150_000    # base64 characters of one PNG
MAX_STREAM = 4_000     # characters of one cell's printed lines


def _size(o) -> int: return len(json.dumps(o))


def keep_outputs(source:str, outputs:list) -> list:
    "The outputs of one cell worth storing: small results, displays and printed lines; none of a hidden or exported cell."
    first = [l.strip().replace(' ', '') for l in source.splitlines()[:3]]
    if any(l.startswith(('#|hide', '#|export', '#|exporti', '#|exports')) for l in first): return []
    kept = []
    for o in outputs:
        t = o.get('output_type')
        if t == 'stream':
            text = ''.join(o.get('text', ''))
            if o.get('name') != 'stdout' or '\r' in text or len(text) > MAX_STREAM: continue
            kept.append(dict(output_type='stream', name='stdout', text=text.splitlines(True)))
        elif t in ('execute_result', 'display_data'):
            data = {m: v for m, v in o.get('data', {}).items() if m in KEEP_MIME}
            if 'image/png' in data and len(data['image/png']) > MAX_IMAGE: continue
            if any(len(''.join(v)) > MAX_TEXT for m, v in data.items() if m != 'image/png'): continue
            if not data: continue
            out = dict(output_type=t, data=data, metadata={m: v for m, v in o.get('metadata', {}).items() if m in data})
            if t == 'execute_result': out['execution_count'] = None
            kept.append(out)
    return kept


def run_chapter(path:Path, max_kb:int) -> bool:
    "Run one chapter as nbdev_test does and write its kept outputs back into it; False if a cell failed."
    from fastcore.foundation import L
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    flags = set(L(get_config().tst_flags.split()))
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    def no_eval(cell):
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
        d = getattr(cell, 'directives_', {}) or {}
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return flags & d.keys()
    os.environ['IN_TEST'] = '1'
    t0, k = time.time(), CaptureShell(path)
    try:
        with working_directory(path.parent): k.run_all(nb, exc_stop=True, preproc=no_eval)
    except Exception:
        sys.stderr.write(k.prettytb(fname=path) + '\n'); print(f"{path}: a cell failed, nothing written"); return False
    ran = {c.get('id'): [dict(o) for o in (c.get('outputs') or [])] for c in nb.cells if c.cell_type == 'code'}
    raw = json.loads(path.read_text())
    n = 0
    for c in raw['cells']:
        if c['cell_type'] != 'code': continue
        c['outputs'] = keep_outputs(''.join(c['source']), json.loads(json.dumps(ran.get(c.get('id'), []), default=str)))
        n += bool(c['outputs'])
    kb = sum(_size(c.get('outputs', [])) for c in raw['cells']) / 1000
    if kb > max_kb: print(f"{path}: kept outputs would be {kb:.0f} KB, over --max_kb {max_kb}: left as it was"); return True
    path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n')
    print(f"{path}: {n} cells with outputs, {kb:.0f} KB, ran in {time.time() - t0:.0f} s")
    return True


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('chapters', nargs='*', help='notebooks to run (default with --all: every chapter in nbs/)')
    ap.add_argument('--all', action='store_true', help='every chapter in nbs/ (not nbs/experiments)')
    ap.add_argument('--max_kb', type=int, default=400, help="largest total of a chapter's kept outputs")
    a = ap.parse_args()
    paths = sorted((ROOT/'nbs').glob('[0-9]*.ipynb')) if a.all else [Path(p).resolve() for p in a.chapters]
    if not paths: ap.error('name the chapters, or pass --all')
    bad = [p for p in paths if not run_chapter(p, a.max_kb)]
    if bad: sys.exit(f"failed: {', '.join(p.name for p in bad)}")
