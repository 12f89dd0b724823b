"""Teacher-scoring benchmark: kdnb's CrossEncoder against sentence-transformers' CrossEncoder.predict.

Same 4,300 TREC DL19 BM25 pairs, same model (the zoo's MiniLM-L12 teacher), max length 256, fp32, in one run.
Each side first picks its best batch setting on a sample; then both score all pairs. Also: kdnb int8 on CPU
(speed and DL19 nDCG@10), bf16 on CUDA when present (with TFLOP/s against the card's peak), and the time of
a rerun on a finished key and of a resume after a kill. Prints figures; writes outputs/bench/teacher.json and .md.

usage: KDNB_DATA=../shared/data python tests/bench/bench_teacher.py [--quick] [--peak-tflops 989]
"""
import argparse, json, os, sys, time, signal, subprocess, tempfile, platform
from pathlib import Path
import numpy as np, torch
from kdnb.core import project_path
from kdnb.data import load_pool, dl_qrels
from kdnb.teacher import CrossEncoder, rerank_pool
from kdnb.evaluation import evaluate
from kdnb.zoo import resolve_model

ap = argparse.ArgumentParser()
ap.add_argument('--quick', action='store_true', help='score 430 pairs instead of 4,300 (a smoke run)')
ap.add_argument('--peak-tflops', type=float, default=None, help="the GPU's dense bf16 peak (default: looked up by name)")
ap.add_argument('--out', default='outputs/bench')
args = ap.parse_args()
PEAKS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'L4': 121.0, 'A10': 125.0}  # dense bf16 TFLOP/s (SXM where applicable)

pool = load_pool('BM25', 'dl19', k=10 if args.quick else 100)
pairs = pool.pairs(); Q = [pool.queries[q] for q, _ in pairs]; D = [pool.passages[d] for _, d in pairs]
qrels = {q: v for q, v in dl_qrels('dl19').items() if q in pool.queries}
teacher, L = 'ms-marco-MiniLM-L-12-v2', 256
path = resolve_model(teacher)
rng = np.random.default_rng(0); sample = rng.choice(len(pairs), size=min(480, len(pairs)), replace=False)
cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
print(f"{len(pairs)} pairs; {cpu}")

def timed(f, *a, **kw):
    t = time.perf_counter(); r = f(*a, **kw); return r, time.perf_counter() - t

# --- sentence-transformers ---
from sentence_transformers import CrossEncoder as STCrossEncoder
import sentence_transformers
st = STCrossEncoder(path, max_length=L, device='cpu')
st_pairs = list(zip(Q, D))
best_st = None
for bs in (16, 32, 64, 128):
    _, dt = timed(st.predict, [st_pairs[i] for i in sample], batch_size=bs, show_progress_bar=False)
    print(f"  sentence-transformers batch_size={bs}: {len(sample)/dt:.1f} pairs/s")
    if best_st is None or dt < best_st[1]: best_st = (bs, dt)
st_scores, st_dt = timed(st.predict, st_pairs, batch_size=best_st[0], show_progress_bar=False)
st_scores = np.asarray(st_scores, dtype=np.float32)
print(f"sentence-transformers {sentence_transformers.__version__} (batch_size={best_st[0]}): {len(pairs)/st_dt:.1f} pairs/s")

# --- kdnb fp32 ---
ce = CrossEncoder(teacher, max_length=L, device='cpu', precision='fp32')
best_kd = None
for tpb in (4096, 8192, 16384, 32768):
    ce.tokens_per_batch = tpb
    _, dt = timed(ce.predict, [Q[i] for i in sample], [D[i] for i in sample], progress=False)
    print(f"  kdnb tokens_per_batch={tpb}: {len(sample)/dt:.1f} pairs/s")
    if best_kd is None or dt < best_kd[1]: best_kd = (tpb, dt)
ce.tokens_per_batch = best_kd[0]
kd_scores, kd_dt = timed(ce.predict, Q, D, progress=False)
diff = float(np.abs(kd_scores - st_scores).max())
print(f"kdnb fp32 (tokens_per_batch={best_kd[0]}): {len(pairs)/kd_dt:.1f} pairs/s; ratio {st_dt/kd_dt:.2f}x; max |score diff| {diff:.2e}")

def ndcg(scores):
    run = {}
    for (q, d), s in zip(pairs, scores.tolist()): run.setdefault(q, {})[d] = s
    return evaluate(run, qrels, ['nDCG@10'])['nDCG@10']

# --- kdnb int8 ---
ce8 = CrossEncoder(teacher, max_length=L, device='cpu', precision='int8'); ce8.tokens_per_batch = best_kd[0]
i8_scores, i8_dt = timed(ce8.predict, Q, D, progress=False)
nd32, nd8 = ndcg(kd_scores), ndcg(i8_scores)
print(f"kdnb int8: {len(pairs)/i8_dt:.1f} pairs/s ({st_dt/i8_dt:.2f}x sentence-transformers); nDCG@10 {nd8:.4f} vs fp32 {nd32:.4f} ({nd8-nd32:+.4f})")

res = dict(device='cpu: ' + cpu, n_pairs=len(pairs), model=teacher, max_length=L, precision='fp32',
           pairs_per_s={'kdnb': round(len(pairs)/kd_dt, 2), 'sentence-transformers': round(len(pairs)/st_dt, 2)},
           ratio=round(st_dt/kd_dt, 3), max_abs_diff=diff,
           best_settings={'kdnb_tokens_per_batch': best_kd[0], 'sentence-transformers_batch_size': best_st[0]},
           sentence_transformers_version=sentence_transformers.__version__,
           int8={'pairs_per_s': round(len(pairs)/i8_dt, 2), 'ratio_to_sentence_transformers': round(st_dt/i8_dt, 3),
                 'ndcg10': round(nd8, 4), 'ndcg10_fp32': round(nd32, 4), 'ndcg10_delta': round(nd8 - nd32, 4),
                 'max_abs_diff_to_fp32': float(np.abs(i8_scores - kd_scores).max())})

# --- GPU ---
if torch.cuda.is_available():
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    g = CrossEncoder(teacher, max_length=L, device='cuda', precision='bf16', tokens_per_batch=65536, max_batch=1024)
    stg = STCrossEncoder(path, max_length=L, device='cuda', model_kwargs={'torch_dtype': torch.bfloat16})
    reps = 5
    g.predict(Q, D, progress=False); torch.cuda.synchronize()
    _, gdt = timed(lambda: [g.predict(Q, D, progress=False) for _ in range(reps)]); torch.cuda.synchronize()
    best_g = None
    for bs in (64, 256, 1024):
        stg.predict(st_pairs[:bs], batch_size=bs, show_progress_bar=False); torch.cuda.synchronize()
        _, dt = timed(lambda: [stg.predict(st_pairs, batch_size=bs, show_progress_bar=False) for _ in range(reps)])
        if best_g is None or dt < best_g[1]: best_g = (bs, dt)
    enc = g.tokenizer(Q, D, truncation='longest_first', max_length=L)
    ntok = sum(map(len, enc['input_ids'])); nparams = sum(p.numel() for n, p in g.model.named_parameters() if 'embeddings' not in n)
    cfg = g.model.config
    seq2 = sum(len(x)**2 for x in enc['input_ids'])
    flops = 2 * nparams * ntok + 4 * cfg.num_hidden_layers * cfg.hidden_size * seq2   # dense layers + attention (QK^T and AV)
    tflops = flops * reps / gdt / 1e12
    res['gpu'] = dict(device=name, precision='bf16', pairs_per_s=round(len(pairs)*reps/gdt, 1),
                      st_pairs_per_s=round(len(pairs)*reps/best_g[1], 1), st_batch_size=best_g[0],
                      ratio=round(best_g[1]/gdt, 3), tflops=round(tflops, 2), peak_tflops=peak,
                      share_of_peak=round(tflops/peak, 4) if peak else None)
    print(f"GPU {name} bf16: kdnb {len(pairs)*reps/gdt:.0f} pairs/s, sentence-transformers (bf16, batch {best_g[0]}) {len(pairs)*reps/best_g[1]:.0f} pairs/s, "
          f"ratio {best_g[1]/gdt:.2f}x; {tflops:.1f} TFLOP/s" + (f" = {tflops/peak:.1%} of {peak:.0f}" if peak else ''))

# --- rerun and resume ---
tmp = Path(tempfile.mkdtemp())
small = load_pool('BM25', 'dl19', k=40).subset(sorted(pool.queries)[:4])
code = ("from kdnb.data import load_pool; from kdnb.answer_key import build_key\n"
        f"p = load_pool('BM25', 'dl19', k=40).subset({sorted(pool.queries)[:4]!r})\n"
        f"build_key({str(tmp/'k')!r}, p.pairs(), p.queries, p, shard_size=16, progress=False)")
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); full = time.perf_counter() - t
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); rerun = time.perf_counter() - t
import shutil; shutil.rmtree(tmp/'k')
p = subprocess.Popen([sys.executable, '-c', code])
while len(list((tmp/'k'/'shards').glob('*.parquet'))) < 5 and p.poll() is None: time.sleep(0.1)
p.send_signal(signal.SIGKILL); p.wait(); done = len(list((tmp/'k'/'shards').glob('*.parquet')))
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); resume = time.perf_counter() - t
import json as _j; nsh = _j.loads((tmp/'k'/'manifest.json').read_text())['n_shards']
res['key'] = dict(pairs=small.n_pairs, shards=nsh, full_build_s=round(full, 2), rerun_finished_s=round(rerun, 2),
                  killed_after_shards=done, resume_s=round(resume, 2), note='process wall times, including Python and torch start-up')
print(f"answer key ({small.n_pairs} pairs, {nsh} shards): full build {full:.1f}s; rerun of the finished key {rerun:.1f}s; "
      f"resume after kill -9 at {done}/{nsh} shards {resume:.1f}s")

out = project_path(args.out); out.mkdir(parents=True, exist_ok=True)
(out/'teacher.json').write_text(json.dumps(res, indent=2) + '\n')
md = [f"# Teacher scoring benchmark", "", f"{len(pairs)} TREC DL19 BM25 pairs, `{teacher}`, max length {L}; {res['device']}.", "",
      "| scorer | pairs/s | vs sentence-transformers | DL19 nDCG@10 |", "|---|---:|---:|---:|",
      f"| sentence-transformers {sentence_transformers.__version__} `CrossEncoder.predict`, fp32, batch {best_st[0]} | {len(pairs)/st_dt:.1f} | 1.00x | {ndcg(st_scores):.4f} |",
      f"| kdnb `CrossEncoder.predict`, fp32, {best_kd[0]} tokens/batch | {len(pairs)/kd_dt:.1f} | {st_dt/kd_dt:.2f}x | {nd32:.4f} |",
      f"| kdnb int8 (dynamic quantization) | {len(pairs)/i8_dt:.1f} | {st_dt/i8_dt:.2f}x | {nd8:.4f} |", "",
      f"Maximum |score difference| kdnb fp32 vs sentence-transformers: {diff:.2e}.", ""]
if 'gpu' in res:
    g_ = res['gpu']; md += [f"GPU {g_['device']} bf16: kdnb {g_['pairs_per_s']} pairs/s, sentence-transformers {g_['st_pairs_per_s']} pairs/s ({g_['ratio']}x); "
                            f"{g_['tflops']} TFLOP/s" + (f", {g_['share_of_peak']:.1%} of peak." if g_['share_of_peak'] else '.'), ""]
k_ = res['key']; md += [f"Answer key of {k_['pairs']} pairs in {k_['shards']} shards: full build {k_['full_build_s']}s, rerun of the finished key {k_['rerun_finished_s']}s, "
                        f"resume after `kill -9` at {k_['killed_after_shards']}/{k_['shards']} shards {k_['resume_s']}s ({k_['note']})."]
(out/'teacher.md').write_text('\n'.join(md) + '\n')
print(f"wrote {out/'teacher.json'} and {out/'teacher.md'}")
