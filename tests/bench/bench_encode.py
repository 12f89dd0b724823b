"""Encoding benchmark: kdnb `BiEncoder.encode_passages` against sentence-transformers' `SentenceTransformer.encode`.

Same model, same passages (SciFact corpus, title + text), same max length, fp32, in one run. Prints passages
per second for each kdnb token budget and each sentence-transformers batch size, the ratio of the best of each,
and the largest difference between their vectors; writes outputs/bench/encode.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_encode.py [--model all-MiniLM-L6-v2] [--n 2000] [--budgets 2048,4096,8192,16384]
"""
import argparse, json, os, time
import numpy as np, torch
from kdnb.core import project_path
from kdnb.data import load_beir
from kdnb.students import BiEncoder
from kdnb.zoo import resolve_model

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='all-MiniLM-L6-v2'); ap.add_argument('--n', type=int, default=2000)
ap.add_argument('--max-len', type=int, default=256); ap.add_argument('--budgets', default='2048,4096,8192,16384')
ap.add_argument('--st-batch-sizes', default='16,32,64'); ap.add_argument('--out', default='outputs/bench')
a = ap.parse_args()

sf = load_beir('scifact', 'test')
ids = sorted(sf.corpus.ids)[:a.n]
texts = [sf.corpus.text(i) for i in ids]
print(f"{len(texts)} SciFact passages; {a.model}; max length {a.max_len}; torch {torch.get_num_threads()} threads")

from sentence_transformers import SentenceTransformer
stm = SentenceTransformer(resolve_model(a.model), device='cpu'); stm.max_seq_length = a.max_len
kd = BiEncoder(a.model, device='cpu', passage_max_len=a.max_len)
kd.encode_passages(texts[:64], progress=False); stm.encode(texts[:64])   # warm up
res = dict(device=f"cpu, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)", model=a.model, n=len(texts),
           max_length=a.max_len, kdnb={}, st={})
for b in map(int, a.budgets.split(',')):
    t = time.perf_counter(); ek = kd.encode_passages(texts, tokens_per_batch=b, progress=False); s = time.perf_counter() - t
    res['kdnb'][b] = round(len(texts)/s, 1); print(f"kdnb, {b} tokens per batch: {len(texts)/s:.1f} passages/s")
for bs in map(int, a.st_batch_sizes.split(',')):
    t = time.perf_counter(); es = stm.encode(texts, batch_size=bs, normalize_embeddings=True); s = time.perf_counter() - t
    res['st'][bs] = round(len(texts)/s, 1); print(f"sentence-transformers, batch {bs}: {len(texts)/s:.1f} passages/s")
res['max_abs_diff'] = float(np.abs(ek - es).max())
res['ratio_best'] = round(max(res['kdnb'].values()) / max(res['st'].values()), 3)
print(f"best kdnb / best sentence-transformers: {res['ratio_best']:.2f}x; max |diff| {res['max_abs_diff']:.1e}")
out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
(out/'encode.json').write_text(json.dumps(res, indent=2) + '\n')
