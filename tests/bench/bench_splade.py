"""SPLADE training benchmark: kdnb's `train` with a `Splade` student against sentence-transformers' SparseEncoderTrainer.

Same training groups (from kdnb.pipeline.training_groups, dev queries held out), same model (the zoo's splade-tiny), same
loss (MarginMSE on dot products plus FLOPS on queries and on passages, ST's `SpladeLoss(SparseMarginMSELoss)`), same
weights, batch size, max length, learning rate, warm-up, clipping and number of steps, bf16 autocast on the CPU, in one
run. kdnb is run twice: with its pooled head (`SpladeHead`, the default) and with the full (B, L, V) logits, to show what
the head buys. Prints training groups per second and the ratios; writes outputs/bench/train_splade.json.

Quality (--quality): both trainers train splade-tiny on the same groups (DL21 + DL22 by default, 4 groups per query, each
group once, dev queries held out) for the same steps, with the regularisers' quadratic warm-up over the first third of
them (sentence-transformers' default, which its trainer adds by itself), once per seed; each trained model is loaded by
kdnb (sentence-transformers' folder through `Splade(folder)`) and scored by the same code (dot products re-ranking the
BM25 top-100 of SciFact test and DL19), beside the start; paired t-tests over queries (each averaged over seeds), Holm
over the sets. Per-query scores go to outputs/bench/splade_quality/ as each model finishes (a killed run resumes there);
the summary is outputs/bench/train_splade_quality.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_splade.py [--steps 8] [--batch-size 16] [--k 4] [--max-len 256]
       ... --quality --no-speed --seeds 42,43,44   # the quality comparison alone
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
import torch, datasets
from kdnb.core import project_path, seed_everything, cpu_bf16_native, machine
from kdnb.splade import Splade
from kdnb.training import TrainConfig, train
from kdnb.zoo import resolve_model
sys.path.insert(0, str(Path(__file__).parent)); from common import bench_groups, peer_quality, quality_args

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='splade-tiny'); ap.add_argument('--steps', type=int, default=8)
ap.add_argument('--batch-size', type=int, default=16); ap.add_argument('--k', type=int, default=4)
ap.add_argument('--max-len', type=int, default=256); ap.add_argument('--lr', type=float, default=2e-5)
ap.add_argument('--lambda-q', type=float, default=5e-4); ap.add_argument('--lambda-d', type=float, default=3e-4)
ap.add_argument('--train', default='scifact-train-bm25'); ap.add_argument('--precision', default='bf16')
ap.add_argument('--out', default='outputs/bench'); ap.add_argument('--note', default='', help='conditions of the run worth recording')
quality_args(ap, 'train_splade_quality.json')
a = ap.parse_args()

data = None if a.no_speed else bench_groups(a.train, a.k, a.steps, a.batch_size)   # the speed part's groups
if data: n = len(data); print(f"{n} groups of 1+{a.k}; {a.steps} steps of {a.batch_size}; {a.model}; max length {a.max_len}; {a.precision}; torch {torch.get_num_threads()} threads", flush=True)

def kdnb_run(out, pooled=True, data=data, steps=a.steps, seed=0, warmup=0, save=False):
    seed_everything(seed)
    st = Splade(a.model, device='cpu', query_max_len=a.max_len, passage_max_len=a.max_len, precision=a.precision)
    st.pooled_head = pooled
    cfg = TrainConfig(loss='splade', loss_kwargs=dict(lambda_q=a.lambda_q, lambda_d=a.lambda_d, reg_q='flops', reg_d='flops', warmup_steps=warmup), lr=a.lr,
                      batch_size=a.batch_size, max_steps=steps, warmup_ratio=0.1, seed=seed, save_every=10**9, log_every=10**9,
                      max_grad_norm=1.0, weight_decay=0.01, precision=a.precision)
    t = time.perf_counter(); train(st, data, out, cfg, resume=False, progress=False); s = time.perf_counter() - t
    if save: st.eval().save(Path(out)/'model')
    return s

def st_run(out, data=data, steps=a.steps, seed=0, save=False):
    from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.losses import SpladeLoss, SparseMarginMSELoss
    from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling
    seed_everything(seed)
    m = SparseEncoder(modules=[MLMTransformer(resolve_model(a.model), max_seq_length=a.max_len), SpladePooling('max')], device='cpu')
    cols = {'query': data.queries, 'positive': [p[0] for p in data.passages]}
    for i in range(1, a.k + 1): cols[f"negative_{i}"] = [p[i] for p in data.passages]
    cols['label'] = [[float(s[0] - s[i]) for i in range(1, a.k + 1)] for s in data.scores]
    args = SparseEncoderTrainingArguments(output_dir=str(out), per_device_train_batch_size=a.batch_size, max_steps=steps, learning_rate=a.lr,
                                          warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=seed, save_strategy='no', report_to='none',
                                          logging_steps=10**9, use_cpu=True, dataloader_drop_last=False, disable_tqdm=True, bf16=a.precision == 'bf16')
    loss = SpladeLoss(m, SparseMarginMSELoss(m), document_regularizer_weight=a.lambda_d, query_regularizer_weight=a.lambda_q)
    tr = SparseEncoderTrainer(model=m, args=args, train_dataset=datasets.Dataset.from_dict(cols), loss=loss)
    t = time.perf_counter(); tr.train(); s = time.perf_counter() - t
    if save: m.save(str(Path(out)/'model'))
    return s

res = dict(device=machine(), cpu_bf16_native=cpu_bf16_native(),
           model=a.model, train=a.train, steps=a.steps, batch_size=a.batch_size, k=a.k, max_length=a.max_len, lr=a.lr, precision=a.precision,
           loss=f"MarginMSE + {a.lambda_q} FLOPS(q) + {a.lambda_d} FLOPS(d)", note=a.note, groups_per_s={})
if not a.no_speed:
    with tempfile.TemporaryDirectory() as d:
        for name, f in (('sentence-transformers', lambda: st_run(Path(d)/'st')), ('kdnb (pooled head)', lambda: kdnb_run(Path(d)/'kd')),
                        ('kdnb (full logits)', lambda: kdnb_run(Path(d)/'kd_full', pooled=False))):
            s = f(); res['groups_per_s'][name] = round(n / s, 3); print(f"{name}: {n/s:.3f} groups/s ({s:.0f} s)", flush=True)
    g = res['groups_per_s']
    res['kdnb_over_st'] = round(g['kdnb (pooled head)'] / g['sentence-transformers'], 3)
    res['pooled_over_full'] = round(g['kdnb (pooled head)'] / g['kdnb (full logits)'], 3)
    out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'train_splade.json').write_text(json.dumps(res, indent=2) + '\n'); print(json.dumps(res))

if a.quality:
    import math
    from kdnb.splade import rerank_sparse
    from kdnb.pipeline import eval_sets
    qdata = bench_groups(a.quality_train, a.k, 1, a.batch_size, a.quality_rounds, repeat=False); steps = math.ceil(len(qdata) / a.batch_size)
    warmup = max(1, round(steps / 3))   # sentence-transformers' SpladeRegularizerWeightSchedulerCallback: quadratic over a third of the steps
    print(f"quality: {len(qdata)} groups of {a.quality_train}, one pass ({steps} steps of {a.batch_size}), seeds {a.seeds}", flush=True)
    score = lambda f, pool: rerank_sparse(Splade(str(f), query_max_len=a.max_len, passage_max_len=a.max_len, device='cpu', precision=a.precision), pool, progress=False)
    qres = dict(device=res['device'], model=a.model, precision=a.precision, loss=res['loss'] + f", warm-up {warmup} steps", k=a.k, train=a.quality_train,
                rounds=a.quality_rounds, groups=len(qdata), steps=steps, batch_size=a.batch_size, lr=a.lr, max_length=a.max_len, seeds=a.seeds,
                measure='nDCG@10', note=a.note)
    with tempfile.TemporaryDirectory() as d:
        train_fns = {'kdnb': lambda seed, f: kdnb_run(f, data=qdata, steps=steps, seed=seed, warmup=warmup, save=True),
                     'sentence-transformers': lambda seed, f: st_run(f, data=qdata, steps=steps, seed=seed, save=True)}
        sets = eval_sets(a.quality_sets)
        qres['sets'] = peer_quality(train_fns, score, resolve_model(a.model), sets, [int(x) for x in a.seeds.split(',')], project_path(a.out)/'splade_quality', Path(d),
                                    {k: v for k, v in qres.items() if k not in ('device', 'note', 'seeds')} | {'sets': sets})
    (project_path(a.out)/'train_splade_quality.json').write_text(json.dumps(qres, indent=2) + '\n'); print(json.dumps(qres))
