"""Training benchmark: kdnb's `train` against sentence-transformers' SentenceTransformerTrainer with MarginMSELoss.

Same training groups (stratified, from named training sets through kdnb.pipeline.training_groups, dev queries held out;
by default the DL21/DL22 answer keys), same model (all-MiniLM-L6-v2, cosine), same score scale, dropout, batch size,
max length, learning rate, warm-up and number of steps, fp32 on the CPU, in one run. Prints
training examples (groups) per second for both and their ratio; writes outputs/bench/train.json.
With --quality, also evaluates both trained students for each seed on DL19 (re-ranking the BM25 top-100) and on
SciFact test (full retrieval over its corpus), then compares them with a paired t-test over queries (each query's
nDCG@10 averaged over the seeds). Slow on a CPU: most of the time is encoding SciFact's corpus, twice per seed.

usage: KDNB_DATA=../shared/data python tests/bench/bench_train.py [--steps 20] [--batch-size 16] [--quality --seeds 42,43,44]
       ... --precisions fp32,bf16 --train scifact-train-bm25 --model paraphrase-MiniLM-L3-v2 --scale 20 --dropout 0 --tag scifact
"""
import argparse, json, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch, datasets
from kdnb.core import project_path, seed_everything, cpu_bf16_native, machine
from kdnb.students import BiEncoder
from kdnb.training import GroupData, TrainConfig, train
from kdnb.data import load_pool, dl_qrels, load_beir
from kdnb.retrieval import rerank_dense, retrieve
from kdnb.evaluation import evaluate, per_query, paired_ttest
from kdnb.zoo import resolve_model

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='all-MiniLM-L6-v2'); ap.add_argument('--steps', type=int, default=20)
ap.add_argument('--batch-size', type=int, default=16); ap.add_argument('--k', type=int, default=4)
ap.add_argument('--max-len', type=int, default=256); ap.add_argument('--lr', type=float, default=2e-5)
ap.add_argument('--quality', action='store_true'); ap.add_argument('--seeds', default='42')
ap.add_argument('--out', default='outputs/bench')
ap.add_argument('--train', default='dl21-bm25,dl22-bm25', help='training sets (kdnb.pipeline.training_groups)')
ap.add_argument('--scale', type=float, default=1.0, help='student scores (cosine) times this, for both trainers')
ap.add_argument('--dropout', type=float, default=None, help="dropout while training, for both trainers; default the model's own")
ap.add_argument('--tag', default='', help='suffix of the output file names')
ap.add_argument('--note', default='', help='conditions of the run worth recording (e.g. another job on the machine)')
ap.add_argument('--precisions', default=None, help="e.g. fp32,bf16: training speed only, both trainers in each precision, one run; "
                                                   "writes train_precision.json")
a = ap.parse_args()

# --- the same groups for both ---
from kdnb.pipeline import training_groups, dev_sets, DistillConfig
held = {q for d in dev_sets(DistillConfig().dev) for q in d.queries}
full, _ = training_groups(a.train, exclude=held, k=a.k, rounds=1, seed=0)
groups = [dict(qid=q, query=x, docids=[str(i) for i in range(len(p))], scores=s_, passages=p) for q, x, p, s_ in zip(full.qids, full.queries, full.passages, full.scores)]
n = a.steps * a.batch_size
data = GroupData([groups[i % len(groups)] for i in range(n)])   # exactly `steps` batches for both sides
print(f"{len(data)} groups of 1+{a.k}; {a.steps} steps of {a.batch_size}; {a.model}; max length {a.max_len}; torch {torch.get_num_threads()} threads")

def kdnb_run(seed, out, precision='fp32'):
    seed_everything(seed)
    st = BiEncoder(a.model, device='cpu', scale=a.scale, query_max_len=a.max_len, passage_max_len=a.max_len, precision=precision)
    cfg = TrainConfig(loss='margin_mse', lr=a.lr, batch_size=a.batch_size, max_steps=a.steps, warmup_ratio=0.1, seed=seed,
                      save_every=10**9, log_every=10**9, max_grad_norm=1.0, weight_decay=0.01, precision=precision, dropout=a.dropout)
    t = time.perf_counter(); train(st, data, out, cfg, resume=False, progress=False); return st, time.perf_counter() - t

def st_run(seed, out, precision='fp32'):
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    seed_everything(seed)
    from sentence_transformers import util
    from kdnb.training import set_dropout
    m = SentenceTransformer(resolve_model(a.model), device='cpu'); m.max_seq_length = a.max_len
    if a.dropout is not None: set_dropout(m, a.dropout)
    cols = {'query': data.queries, 'positive': [p[0] for p in data.passages]}
    for i in range(1, a.k + 1): cols[f"negative_{i}"] = [p[i] for p in data.passages]
    cols['label'] = [[float(s[0] - s[i]) for i in range(1, a.k + 1)] for s in data.scores]
    ds = datasets.Dataset.from_dict(cols)
    args = SentenceTransformerTrainingArguments(output_dir=str(out), per_device_train_batch_size=a.batch_size, max_steps=a.steps,
                                                learning_rate=a.lr, warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=seed,
                                                save_strategy='no', report_to='none', logging_steps=10**9, use_cpu=True,
                                                dataloader_drop_last=False, disable_tqdm=True, bf16=precision == 'bf16')
    tr = SentenceTransformerTrainer(model=m, args=args, train_dataset=ds, loss=losses.MarginMSELoss(m, similarity_fct=lambda x, y: a.scale * util.pairwise_cos_sim(x, y)))
    t = time.perf_counter(); tr.train(); return m, time.perf_counter() - t

class STEncoder:
    "Adapter: a SentenceTransformer as a kdnb encoder (cosine)."
    similarity = 'cos'
    def __init__(self, m): self.m = m
    def encode_queries(self, texts, **kw): return self.m.encode(list(texts), batch_size=64, convert_to_numpy=True)
    def encode_passages(self, texts, **kw): return self.m.encode(list(texts), batch_size=64, convert_to_numpy=True)

if a.precisions:   # speed of both trainers in each precision, in one run
    pr = dict(device=machine(), cpu_bf16_native=cpu_bf16_native(),
              model=a.model, train=a.train, scale=a.scale, dropout=a.dropout, steps=a.steps, batch_size=a.batch_size, k=a.k, max_length=a.max_len, lr=a.lr,
              loss='MarginMSE', seed=int(a.seeds.split(',')[0]), note=a.note,
              groups_per_s={})
    for p in a.precisions.split(','):
        with tempfile.TemporaryDirectory() as d:
            _, st_s = st_run(pr['seed'], Path(d)/'st', p); _, kd_s = kdnb_run(pr['seed'], Path(d)/'kd', p)
        pr['groups_per_s'][p] = {'kdnb': round(n/kd_s, 2), 'sentence-transformers': round(n/st_s, 2)}
        print(f"{p}: kdnb {n/kd_s:.2f} groups/s, sentence-transformers {n/st_s:.2f} groups/s", flush=True)
    g = pr['groups_per_s']
    if 'fp32' in g and 'bf16' in g:
        pr['bf16_over_fp32'] = {w: round(g['bf16'][w] / g['fp32'][w], 3) for w in ('kdnb', 'sentence-transformers')}
        pr['kdnb_bf16_over_st_best'] = round(g['bf16']['kdnb'] / max(g[p]['sentence-transformers'] for p in g), 3)
    out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/f'train_precision{"_" + a.tag if a.tag else ""}.json').write_text(json.dumps(pr, indent=2) + '\n'); print(json.dumps(pr)); raise SystemExit

res = dict(device=machine(), model=a.model,
           steps=a.steps, batch_size=a.batch_size, k=a.k, max_length=a.max_len, lr=a.lr, loss='MarginMSE', note=a.note, runs=[])
SYSTEMS, SETS = ('kdnb', 'sentence-transformers'), ('dl19-rerank', 'scifact-full')
quality = {(s, e): [] for s in SYSTEMS for e in SETS}
pool, qrels = load_pool('BM25', 'dl19'), dl_qrels('dl19')
sf = load_beir('scifact', 'test') if a.quality else None
for seed in map(int, a.seeds.split(',')):
    with tempfile.TemporaryDirectory() as d:
        st_m, st_s = st_run(seed, Path(d)/'st')
        kd_m, kd_s = kdnb_run(seed, Path(d)/'kd')
    r = dict(seed=seed, kdnb_s=round(kd_s, 1), st_s=round(st_s, 1), examples_per_s={'kdnb': round(n/kd_s, 2), 'sentence-transformers': round(n/st_s, 2)},
             ratio=round(st_s/kd_s, 3))
    print(f"seed {seed}: kdnb {n/kd_s:.2f} groups/s ({kd_s:.0f}s), sentence-transformers {n/st_s:.2f} groups/s ({st_s:.0f}s): ratio {st_s/kd_s:.2f}x")
    if a.quality:
        kd_m.eval()
        for name, enc in (('kdnb', kd_m), ('sentence-transformers', STEncoder(st_m))):
            quality[name, 'dl19-rerank'].append(per_query(rerank_dense(enc, pool, progress=False), qrels, ['nDCG@10']))
            quality[name, 'scifact-full'].append(per_query(retrieve(enc, sf, k=100, cache=False, progress=False), sf.qrels, ['nDCG@10']))
        r['ndcg10'] = {e: {s: round(float(quality[s, e][-1]['nDCG@10'].mean()), 4) for s in SYSTEMS} for e in SETS}
        print(f"  nDCG@10: {r['ndcg10']}")
    res['runs'].append(r)
res['examples_per_s'] = {s: round(float(np.mean([r['examples_per_s'][s] for r in res['runs']])), 2) for s in ('kdnb', 'sentence-transformers')}
res['ratio'] = round(float(np.mean([r['ratio'] for r in res['runs']])), 3)
if a.quality:
    import pandas as pd
    res['quality'] = dict(seeds=a.seeds, measure='nDCG@10')
    for e in SETS:
        kq, sq = (pd.concat(quality[s, e]).groupby(level=0).mean()['nDCG@10'] for s in SYSTEMS)
        t = paired_ttest(kq, sq)
        res['quality'][e] = dict(mean={'kdnb': round(float(kq.mean()), 4), 'sentence-transformers': round(float(sq.mean()), 4)},
                                 per_seed={s: [round(float(x['nDCG@10'].mean()), 4) for x in quality[s, e]] for s in SYSTEMS},
                                 queries=len(kq), paired_ttest_p=round(float(t.pvalue), 4))
        print(f"{e}: kdnb {kq.mean():.4f}, sentence-transformers {sq.mean():.4f}, paired t-test p = {t.pvalue:.3f} ({len(kq)} queries)")
out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
(out/f'train{"_" + a.tag if a.tag else ""}.json').write_text(json.dumps(res, indent=2) + '\n')
print(json.dumps({k: res[k] for k in ('examples_per_s', 'ratio')}), f"-> {out/'train.json'}")
