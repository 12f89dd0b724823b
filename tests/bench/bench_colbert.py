"""ColBERT training benchmark: kdnb's `train` with a `ColBERT` student against PyLate's trainer, on the same groups.

Same training groups (kdnb.pipeline.training_groups, dev queries held out), same start (the zoo's answerai-colbert-small-v1
backbone and one new 384->96 projection, saved by kdnb in PyLate's format and loaded by both), same loss family (KL over the
group on raw MaxSim scores: kdnb's 'kl', PyLate's `Distillation(normalize_scores=False)`), batch size, lengths (query 32 with [MASK] augmentation, passages 180),
learning rate, warm-up, clipping and number of steps, bf16 autocast on the CPU. PyLate pins sentence-transformers 5, so its
side runs in .venv-pylate (scripts/setup.sh). Prints training groups per second and the ratio; writes
outputs/bench/train_colbert.json.

Quality (--quality): both trainers train the same start on the same groups (DL21 + DL22 by default, 4 groups per query, each group once,
dev queries held out) for the same steps, once per seed; each trained model is loaded by kdnb (PyLate's folder through
`ColBERT(folder)`) and scored by the same code (exact MaxSim re-ranking of the BM25 top-100 of SciFact test and DL19),
beside the start itself; a paired t-test over queries (each query averaged over seeds), Holm over the sets, compares them.
Each (trainer, seed) writes its per-query scores to outputs/bench/colbert_quality/ as it finishes, so a killed run resumes
there; the summary is outputs/bench/train_colbert_quality.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_colbert.py [--steps 8] [--batch-size 16] [--k 4] [--one-block]
       ... --quality --no-speed --seeds 42,43,44   # the quality comparison alone
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import torch
from kdnb.core import project_path, seed_everything, cpu_bf16_native, machine
from kdnb.colbert import ColBERT
from kdnb.training import TrainConfig, train
from kdnb.teacher import part_rule
sys.path.insert(0, str(Path(__file__).parent)); from common import bench_groups, peer_quality, quality_args

ap = argparse.ArgumentParser()
ap.add_argument('--steps', type=int, default=8); ap.add_argument('--batch-size', type=int, default=16); ap.add_argument('--k', type=int, default=4)
ap.add_argument('--query-len', type=int, default=32); ap.add_argument('--passage-len', type=int, default=180); ap.add_argument('--lr', type=float, default=3e-5)
ap.add_argument('--train', default='scifact-train-bm25'); ap.add_argument('--precision', default='bf16'); ap.add_argument('--out', default='outputs/bench')
ap.add_argument('--train-tokens', type=int, default=0, help="kdnb's padded tokens per part of a batch's passages (ColBERT.train_tokens); 0: part_rule's")
ap.add_argument('--one-block', action='store_true', help="also time kdnb with each batch's passages in one padded block (no parts)")
ap.add_argument('--note', default='', help='conditions of the run worth recording (e.g. another job on the machine)')
quality_args(ap, 'train_colbert_quality.json')
a = ap.parse_args()
py = project_path('.venv-pylate')/'bin'/'python'
if not py.is_file(): sys.exit(f"{py} is missing: run scripts/setup.sh, which builds PyLate's environment")
data = None if a.no_speed else bench_groups(a.train, a.k, a.steps, a.batch_size)   # the speed part's groups
if data: n = len(data); print(f"{n} groups of 1+{a.k}; {a.steps} steps of {a.batch_size}; query {a.query_len}, passages {a.passage_len}; {a.precision}; torch {torch.get_num_threads()} threads", flush=True)

def kdnb_run(init, out, train_tokens=a.train_tokens, data=data, steps=a.steps, seed=0, save=False):
    seed_everything(seed)
    st = ColBERT.load(init, device='cpu', precision=a.precision)
    if train_tokens: st.train_tokens = train_tokens
    cfg = TrainConfig(loss='kl', lr=a.lr, batch_size=a.batch_size, max_steps=steps, warmup_ratio=0.1, seed=seed, save_every=10**9, log_every=10**9,
                      max_grad_norm=1.0, weight_decay=0.01, precision=a.precision)
    t = time.perf_counter(); train(st, data, out, cfg, resume=False, progress=False); s = time.perf_counter() - t
    if save: st.eval().save(Path(out)/'model')
    return s

def pylate_run(init, out, groups, steps=a.steps, seed=0, save=False):
    cmd = [str(py), str(Path(__file__).parent/'pylate_train.py'), str(init), str(groups), str(out), '--steps', str(steps), '--seed', str(seed),
           '--batch-size', str(a.batch_size), '--lr', str(a.lr)] + (['--bf16'] if a.precision == 'bf16' else []) + (['--save'] if save else [])
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'TOKENIZERS_PARALLELISM': 'false'})
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

def groups_file(data, path):
    "The groups as PyLate's side reads them."
    path.write_text(json.dumps({'queries': data.queries, 'passages': data.passages, 'scores': [s.tolist() for s in data.scores]})); return path

def new_start(path):
    "The start both trainers load: the zoo backbone and a new projection (seed 0), saved by kdnb in PyLate's format."
    return ColBERT(query_max_len=a.query_len, passage_max_len=a.passage_len, truncate_queries=True, device='cpu', seed=0).save(path)

device = machine()
res = dict(device=device, cpu_bf16_native=cpu_bf16_native(),
           model='answerai-colbert-small-v1 + new 384->96 projection', train=a.train, steps=a.steps, batch_size=a.batch_size, k=a.k,
           query_len=a.query_len, passage_len=a.passage_len, lr=a.lr, train_tokens=part_rule('cpu', a.train_tokens or None)[0], precision=a.precision, loss='KL over the group', note=a.note, groups_per_s={})
if not a.no_speed:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); init = new_start(d/'init')
        p = pylate_run(init, d/'pl', groups_file(data, d/'groups.json')); res['pylate_version'] = p['pylate']
        res['groups_per_s']['PyLate'] = round(n / p['seconds'], 3); print(f"PyLate: {n/p['seconds']:.3f} groups/s ({p['seconds']:.0f} s)", flush=True)
        s = kdnb_run(init, d/'kd'); res['groups_per_s']['kdnb'] = round(n / s, 3); print(f"kdnb: {n/s:.3f} groups/s ({s:.0f} s)", flush=True)
        if a.one_block:
            s = kdnb_run(init, d/'kd1', 10**9); res['groups_per_s']['kdnb, one block'] = round(n / s, 3); print(f"kdnb, one block: {n/s:.3f} groups/s ({s:.0f} s)", flush=True)
    res['kdnb_over_pylate'] = round(res['groups_per_s']['kdnb'] / res['groups_per_s']['PyLate'], 3)
    out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'train_colbert.json').write_text(json.dumps(res, indent=2) + '\n'); print(json.dumps(res))

if a.quality:
    import math
    from kdnb.colbert import rerank_colbert
    from kdnb.pipeline import eval_sets
    qdata = bench_groups(a.quality_train, a.k, 1, a.batch_size, a.quality_rounds, repeat=False); steps = math.ceil(len(qdata) / a.batch_size)
    print(f"quality: {len(qdata)} groups of {a.quality_train}, one pass ({steps} steps of {a.batch_size}), seeds {a.seeds}", flush=True)
    score = lambda folder, pool: rerank_colbert(ColBERT(str(folder), truncate_queries=True, device='cpu', precision=a.precision), pool, progress=False)
    qres = dict(device=device, model=res['model'], precision=a.precision, loss='KL over the group', k=a.k, train=a.quality_train, rounds=a.quality_rounds,
                groups=len(qdata), steps=steps, batch_size=a.batch_size, lr=a.lr, query_len=a.query_len, passage_len=a.passage_len, seeds=a.seeds,
                measure='nDCG@10', note=a.note)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); init = new_start(d/'init'); gf = groups_file(qdata, d/'groups.json')
        train_fns = {'kdnb': lambda seed, f: kdnb_run(init, f, data=qdata, steps=steps, seed=seed, save=True),
                     'PyLate': lambda seed, f: pylate_run(init, f, gf, steps=steps, seed=seed, save=True)}
        sets = eval_sets(a.quality_sets)
        qres['sets'] = peer_quality(train_fns, score, init, sets, [int(x) for x in a.seeds.split(',')], project_path(a.out)/'colbert_quality', d,
                                    {k: v for k, v in qres.items() if k not in ('device', 'note', 'seeds')} | {'sets': sets})
    (project_path(a.out)/'train_colbert_quality.json').write_text(json.dumps(qres, indent=2) + '\n'); print(json.dumps(qres))
