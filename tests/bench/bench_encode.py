"""Encoding benchmark: kdnb `BiEncoder.encode_passages` against sentence-transformers' `SentenceTransformer.encode`, or, with
`--kind splade`, kdnb `Splade.encode_passages` (pooled head) against `SparseEncoder.encode`.

Same model, same passages (SciFact corpus, title + text), same max length, in fp32 and in bf16, in one run.
Prints passages per second for each kdnb token budget and each sentence-transformers batch size, per precision;
the ratio of the best of each; bf16 against fp32; the largest difference between kdnb's and sentence-transformers'
fp32 vectors and the smallest cosine between bf16 and fp32 vectors. Writes outputs/bench/encode.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_encode.py [--model all-MiniLM-L6-v2] [--n 1500] [--budgets 1024,2048,4096,8192]
       KDNB_DATA=../shared/data python tests/bench/bench_encode.py --kind splade   # splade-tiny; writes outputs/bench/encode_splade.json
"""
import argparse, json, time
import numpy as np, torch
from kdnb.core import project_path
from kdnb.data import load_beir
from kdnb.students import BiEncoder
from kdnb.splade import Splade
from kdnb.zoo import resolve_model

ap = argparse.ArgumentParser()
ap.add_argument('--kind', default='dense', choices=('dense', 'splade'))
ap.add_argument('--model', default=None, help='default: all-MiniLM-L6-v2, or splade-tiny with --kind splade'); ap.add_argument('--n', type=int, default=1500)
ap.add_argument('--max-len', type=int, default=256); ap.add_argument('--budgets', default='1024,2048,4096,8192')
ap.add_argument('--st-batch-sizes', default='16,32,64'); ap.add_argument('--out', default='outputs/bench')
a = ap.parse_args()
sparse = a.kind == 'splade'; a.model = a.model or ('splade-tiny' if sparse else 'all-MiniLM-L6-v2')

sf = load_beir('scifact', 'test')
ids = sorted(sf.corpus.ids)[:a.n]
texts = [sf.corpus.text(i) for i in ids]
print(f"{len(texts)} SciFact passages; {a.model}; max length {a.max_len}; torch {torch.get_num_threads()} threads")

from sentence_transformers import SentenceTransformer, SparseEncoder
dense = lambda v: v.toarray() if hasattr(v, 'toarray') else (v.to_dense().float().numpy() if torch.is_tensor(v) else np.asarray(v))
from kdnb.core import cpu_bf16_native, machine
res = dict(kind=a.kind, device=machine(), cpu_bf16_native=cpu_bf16_native(),
           model=a.model, n=len(texts), max_length=a.max_len, kdnb={}, st={})
vec = {}
for prec, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
    stm = (SparseEncoder if sparse else SentenceTransformer)(resolve_model(a.model), device='cpu', model_kwargs={'dtype': dtype}); stm.max_seq_length = a.max_len
    kd = (Splade if sparse else BiEncoder)(a.model, device='cpu', passage_max_len=a.max_len, precision=prec)
    kd.encode_passages(texts[:64], progress=False); stm.encode(texts[:64])   # warm up
    res['kdnb'][prec], res['st'][prec] = {}, {}
    for b in map(int, a.budgets.split(',')):
        t = time.perf_counter(); v = kd.encode_passages(texts, tokens_per_batch=b, progress=False); s = time.perf_counter() - t; vec['kdnb', prec] = dense(v)
        res['kdnb'][prec][b] = round(len(texts)/s, 1); print(f"kdnb {prec}, {b} tokens per batch: {len(texts)/s:.1f} passages/s", flush=True)
    for bs in map(int, a.st_batch_sizes.split(',')):
        t = time.perf_counter(); v = stm.encode(texts, batch_size=bs, **({} if sparse else {'normalize_embeddings': True})); s = time.perf_counter() - t; vec['st', prec] = dense(v)
        res['st'][prec][bs] = round(len(texts)/s, 1); print(f"sentence-transformers {prec}, batch {bs}: {len(texts)/s:.1f} passages/s", flush=True)
best = {(w, p): max(res[w][p].values()) for w in ('kdnb', 'st') for p in ('fp32', 'bf16')}
cos = lambda x, y: float(((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)).min())
res['max_abs_diff_fp32'] = float(np.abs(vec['kdnb', 'fp32'] - vec['st', 'fp32']).max())
res['min_cos_bf16_vs_fp32'] = cos(vec['kdnb', 'bf16'], vec['kdnb', 'fp32'])
res['ratio_best'] = {p: round(best['kdnb', p] / best['st', p], 3) for p in ('fp32', 'bf16')}
res['bf16_speedup'] = {w: round(best[w, 'bf16'] / best[w, 'fp32'], 3) for w in ('kdnb', 'st')}
res['ratio_kdnb_bf16_to_st_fp32'] = round(best['kdnb', 'bf16'] / best['st', 'fp32'], 3)
print(f"best kdnb / best sentence-transformers: fp32 {res['ratio_best']['fp32']:.2f}x, bf16 {res['ratio_best']['bf16']:.2f}x; "
      f"bf16 / fp32: kdnb {res['bf16_speedup']['kdnb']:.2f}x; kdnb bf16 / sentence-transformers fp32 {res['ratio_kdnb_bf16_to_st_fp32']:.2f}x; "
      f"max |diff| fp32 {res['max_abs_diff_fp32']:.1e}; min cosine bf16 vs fp32 {res['min_cos_bf16_vs_fp32']:.5f}")
out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
(out/('encode_splade.json' if sparse else 'encode.json')).write_text(json.dumps(res, indent=2) + '\n')
