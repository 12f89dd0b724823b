"""SPLADE training benchmark: kdnb's `train` with a `Splade` student against sentence-transformers' SparseEncoderTrainer.

Same training groups (from kdnb.pipeline.training_groups, dev queries held out), same model (the zoo's splade-tiny), same
loss (MarginMSE on dot products plus FLOPS on queries and on passages, ST's `SpladeLoss(SparseMarginMSELoss)`), same
weights, batch size, max length, learning rate, warm-up, clipping and number of steps, bf16 autocast on the CPU, in one
run. kdnb is run twice: with its pooled head (`SpladeHead`, the default) and with the full (B, L, V) logits, to show what
the head buys. Prints training groups per second and the ratios; writes outputs/bench/train_splade.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_splade.py [--steps 8] [--batch-size 16] [--k 4] [--max-len 256]
"""
import argparse, json, os, tempfile, time
from pathlib import Path
import torch, datasets
from kdnb.core import project_path, seed_everything, cpu_bf16_native
from kdnb.splade import Splade
from kdnb.training import GroupData, TrainConfig, train
from kdnb.zoo import resolve_model

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='splade-tiny'); ap.add_argument('--steps', type=int, default=8)
ap.add_argument('--batch-size', type=int, default=16); ap.add_argument('--k', type=int, default=4)
ap.add_argument('--max-len', type=int, default=256); ap.add_argument('--lr', type=float, default=2e-5)
ap.add_argument('--lambda-q', type=float, default=5e-4); ap.add_argument('--lambda-d', type=float, default=3e-4)
ap.add_argument('--train', default='scifact-train-bm25'); ap.add_argument('--precision', default='bf16')
ap.add_argument('--out', default='outputs/bench')
a = ap.parse_args()

from kdnb.pipeline import training_groups, dev_sets, DistillConfig
held = {q for d in dev_sets(DistillConfig().dev) for q in d.queries}
full, _ = training_groups(a.train, exclude=held, k=a.k, rounds=1, seed=0)
groups = [dict(qid=q, query=x, docids=[str(i) for i in range(len(p))], scores=s_, passages=p) for q, x, p, s_ in zip(full.qids, full.queries, full.passages, full.scores)]
n = a.steps * a.batch_size
data = GroupData([groups[i % len(groups)] for i in range(n)])   # exactly `steps` batches for every trainer
print(f"{len(data)} groups of 1+{a.k}; {a.steps} steps of {a.batch_size}; {a.model}; max length {a.max_len}; {a.precision}; torch {torch.get_num_threads()} threads", flush=True)

def kdnb_run(out, pooled=True):
    seed_everything(0)
    st = Splade(a.model, device='cpu', query_max_len=a.max_len, passage_max_len=a.max_len, precision=a.precision)
    st.pooled_head = pooled
    cfg = TrainConfig(loss='splade', loss_kwargs=dict(lambda_q=a.lambda_q, lambda_d=a.lambda_d, reg_q='flops', reg_d='flops'), lr=a.lr,
                      batch_size=a.batch_size, max_steps=a.steps, warmup_ratio=0.1, seed=0, save_every=10**9, log_every=10**9,
                      max_grad_norm=1.0, weight_decay=0.01, precision=a.precision)
    t = time.perf_counter(); train(st, data, out, cfg, resume=False, progress=False); return time.perf_counter() - t

def st_run(out):
    from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.losses import SpladeLoss, SparseMarginMSELoss
    from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling
    seed_everything(0)
    m = SparseEncoder(modules=[MLMTransformer(resolve_model(a.model), max_seq_length=a.max_len), SpladePooling('max')], device='cpu')
    cols = {'query': data.queries, 'positive': [p[0] for p in data.passages]}
    for i in range(1, a.k + 1): cols[f"negative_{i}"] = [p[i] for p in data.passages]
    cols['label'] = [[float(s[0] - s[i]) for i in range(1, a.k + 1)] for s in data.scores]
    args = SparseEncoderTrainingArguments(output_dir=str(out), per_device_train_batch_size=a.batch_size, max_steps=a.steps, learning_rate=a.lr,
                                          warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=0, save_strategy='no', report_to='none',
                                          logging_steps=10**9, use_cpu=True, dataloader_drop_last=False, disable_tqdm=True, bf16=a.precision == 'bf16')
    loss = SpladeLoss(m, SparseMarginMSELoss(m), document_regularizer_weight=a.lambda_d, query_regularizer_weight=a.lambda_q)
    tr = SparseEncoderTrainer(model=m, args=args, train_dataset=datasets.Dataset.from_dict(cols), loss=loss)
    t = time.perf_counter(); tr.train(); return time.perf_counter() - t

res = dict(device=f"cpu, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)", cpu_bf16_native=cpu_bf16_native(),
           model=a.model, train=a.train, steps=a.steps, batch_size=a.batch_size, k=a.k, max_length=a.max_len, lr=a.lr, precision=a.precision,
           loss=f"MarginMSE + {a.lambda_q} FLOPS(q) + {a.lambda_d} FLOPS(d)", groups_per_s={})
with tempfile.TemporaryDirectory() as d:
    for name, f in (('sentence-transformers', lambda: st_run(Path(d)/'st')), ('kdnb (pooled head)', lambda: kdnb_run(Path(d)/'kd')),
                    ('kdnb (full logits)', lambda: kdnb_run(Path(d)/'kd_full', pooled=False))):
        s = f(); res['groups_per_s'][name] = round(n / s, 3); print(f"{name}: {n/s:.3f} groups/s ({s:.0f} s)", flush=True)
g = res['groups_per_s']
res['kdnb_over_st'] = round(g['kdnb (pooled head)'] / g['sentence-transformers'], 3)
res['pooled_over_full'] = round(g['kdnb (pooled head)'] / g['kdnb (full logits)'], 3)
out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
(out/'train_splade.json').write_text(json.dumps(res, indent=2) + '\n'); print(json.dumps(res))
