"""A kdnb experiment on the GPU machine, which has neither the data, the zoo, the answer keys nor some of kdnb's dependencies.

`pack` (here) writes into DIR: the zoo wheels of the named models cut down to what their build reads (common.slim_wheels),
the named answer keys as the cache holds them (keys.tgz: imported or built here, so the GPU machine needs no teacher), the
named data folders (data.tgz), and the wheels of the dependencies the GPU image lacks, for its Python 3.12 (pip download,
no dependencies of theirs: the image has the rest). `run` (there) installs those wheels into a folder of its own, unpacks
the data and the keys into a fresh KDNB_DATA and KDNB_CACHE, builds the models with `kdnb.zoo.build_model` itself (the
weights' sha256 checked as always), runs CODE (Python, in the checkout) with them, and packs the small files of the output
folders it names (reports, tables, per-query scores, logs, plots; no checkpoints, students or indexes) into OUT/results.tgz.
`unpack` (here) puts those files into the checkout, where git shows what the run changed.

usage: python tests/bench/gpu_job.py pack DIR --models answerai-colbert-small-v1 --keys scifact-train-bm25,dl21-bm25,dl19-bm25
       python tests/bench/gpu_job.py run DIR OUT --outputs outputs/colbert --code "from kdnb.pipeline import distill_seeds; ..."
       python tests/bench/gpu_job.py unpack OUT/results.tgz

The ColBERT student's three seeds (issue 11; about 5 hours a seed on one core of a CPU without AMX), on the device tool
(`carry: [".gjob"]`, the pack made with the `pack` line above):
    python3 tests/bench/gpu_job.py run .gjob $OUT --outputs outputs/colbert --code "from kdnb.pipeline import distill_seeds;
      distill_seeds('outputs/colbert', '42,43,44', student='answerai-colbert-small-v1', alphas='0,0.5,0.8,1', rounds=2, lr=3e-5,
                    passage_max_len=180, eval_sets='scifact-full,dl19-rerank,dl19-full', progress=False)"

What is left of a study, e.g. the sampling study's k = 16 on SciFact-train (issue 13; about 2.5 hours a run on one core here),
from its recorded grid alone (pack with `--models paraphrase-MiniLM-L3-v2 --keys scifact-train-bm25,dl21-bm25,dl19-bm25`); then, here,
unpack and `papermill nbs/experiments/sampling_study.ipynb /tmp/r.ipynb -p report_only True --cwd nbs/experiments`:
    python3 tests/bench/gpu_job.py run .gjob $OUT --outputs outputs/sampling_study --code "from kdnb.studies import run_left;
      run_left('outputs/sampling_study/scifact', {'k': [16]}, progress=False)"
"""
import argparse, os, subprocess, sys, tarfile, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent)); from common import slim_wheels

ROOT = Path(__file__).resolve().parents[2]
DATA = 'beir-scifact,msmarco-dl-candidates/BM25,msmarco-trec-dl-mini,topics-qrels,cranfield,vaswani'
# kdnb's imports that the GPU image lacks (its package list names the rest), at the versions this checkout runs with
WHEELS = ['fastcore==1.12.47', 'datasets==4.5.0', 'dill==0.4.0', 'multiprocess==0.70.18', 'ir-measures==0.4.3', 'pytrec-eval-terrier==0.5.11',
          'bm25s==0.3.16', 'PyStemmer==3.1.0']
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64']
SMALL = {'.json', '.jsonl', '.csv', '.md', '.png', '.txt'}   # what a run folder keeps in git (see .gitignore)

def pack(folder, models, keys, data=DATA):
    from kdnb.core import cache_dir
    from kdnb.pipeline import named_key
    folder = Path(folder); (folder/'wheels').mkdir(parents=True, exist_ok=True)
    slim_wheels(models, folder/'zoo'); (folder/'models.txt').write_text('\n'.join(models) + '\n')
    for k in keys: named_key(k)   # in the cache: imported from its published copy first where it was not
    with tarfile.open(folder/'keys.tgz', 'w:gz') as tf:
        for k in keys: tf.add(cache_dir()/'keys'/k, arcname=k)
    src = Path(os.environ['KDNB_DATA'])
    with tarfile.open(folder/'data.tgz', 'w:gz') as tf:
        for d in data.split(','): tf.add(src/d, arcname=d, filter=lambda t: None if t.name.endswith('.zip') else t)
    for w in WHEELS:
        r = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:', '--python-version', '3.12',
                            '--implementation', 'cp', *[a for p in PLATFORMS for a in ('--platform', p)], '-d', str(folder/'wheels'), w],
                           capture_output=True, text=True)
        if r.returncode: sys.exit(f"pip could not download {w} for Python 3.12:\n{r.stderr[-2000:]}")
    print(f"packed into {folder}: {sum(f.stat().st_size for f in folder.rglob('*') if f.is_file())/2**20:.1f} MiB")

def _small(path):
    "Whether a file of an output folder is one git keeps: small, of a kind the reports are, not inside a checkpoint, student or index."
    skip = {'last', 'best', 'runs', 'work'}
    return (path.suffix in SMALL and path.stat().st_size < 2**21 and not skip & set(path.parts)
            and not any(p.startswith('student-') for p in path.parts))

def run(folder, out, outputs, code, install=True):
    folder, out, tmp = Path(folder).resolve(), Path(out), Path(tempfile.mkdtemp())
    env = {**os.environ, 'KDNB_DATA': str(tmp/'data'), 'KDNB_CACHE': str(tmp/'cache'), 'KDNB_MODELS': str(tmp/'models'),
           'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1', 'TOKENIZERS_PARALLELISM': 'false', 'MPLBACKEND': 'Agg'}
    if install:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile', '--target', str(tmp/'site'),
                        *map(str, sorted((folder/'wheels').glob('*.whl')))], check=True)
        env['PYTHONPATH'] = os.pathsep.join([str(tmp/'site'), str(ROOT), env.get('PYTHONPATH', '')])
    else: env['PYTHONPATH'] = os.pathsep.join([str(ROOT), env.get('PYTHONPATH', '')])
    with tarfile.open(folder/'data.tgz') as tf: tf.extractall(tmp/'data', filter='data')
    with tarfile.open(folder/'keys.tgz') as tf: tf.extractall(tmp/'cache'/'keys', filter='data')
    models = (folder/'models.txt').read_text().split()
    boot = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from common import zoo_from_slim\n"
            f"zoo_from_slim({str(folder/'zoo')!r}, {models!r})\n")
    r = subprocess.run([sys.executable, '-c', boot + code], cwd=ROOT, env=env)
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out/'results.tgz', 'w:gz') as tf:   # what the run wrote, also when it failed half-way
        for o in outputs:
            for f in sorted((ROOT/o).rglob('*')):
                if f.is_file() and _small(f.relative_to(ROOT)): tf.add(f, arcname=str(f.relative_to(ROOT)))
    sys.exit(r.returncode)

def unpack(tgz):
    with tarfile.open(tgz) as tf:
        names = tf.getnames(); tf.extractall(ROOT, filter='data')
    print(f"{len(names)} files into {ROOT}; `git status` shows what changed")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('pack'); p.add_argument('dir'); p.add_argument('--models', required=True); p.add_argument('--keys', required=True)
    p.add_argument('--data', default=DATA)
    r = sub.add_parser('run'); r.add_argument('dir'); r.add_argument('out'); r.add_argument('--outputs', required=True); r.add_argument('--code', required=True)
    r.add_argument('--no-install', action='store_true', help='use the Python packages already here (a smoke test on this machine)')
    u = sub.add_parser('unpack'); u.add_argument('tgz')
    a = ap.parse_args()
    if a.cmd == 'pack': pack(a.dir, a.models.split(','), a.keys.split(','), a.data)
    elif a.cmd == 'run': run(a.dir, a.out, a.outputs.split(','), a.code, not a.no_install)
    else: unpack(a.tgz)
