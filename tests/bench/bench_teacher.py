"""Teacher-scoring benchmark: kdnb's CrossEncoder in fp32, bf16 and int8 against sentence-transformers' CrossEncoder.predict.

One run, on two sets of real pairs, with the zoo's MiniLM-L12 teacher at max length 256:
  - the TREC DL19 BM25 top-100 pool (4,300 pairs; short MS MARCO passages, about 95 tokens a pair);
  - a random sample of SciFact-train BM25 candidates (1,000 pairs; abstracts, nearly all cut at 256 tokens).
Each scorer first picks its best batch setting on a sample of the set. Reported per set and scorer: pairs/s, the
ratio to sentence-transformers (fp32, its default), the achieved GFLOP/s counted from the real token lengths
(`encoder_flops`) and its share of the bf16 matrix peak measured in the same run (2048^3 products), the largest
score difference to kdnb fp32, and on DL19 the re-ranking nDCG@10. On a machine with a GPU the run also measures it
(bf16: kdnb and sentence-transformers pairs/s, the share of the card's measured matrix peak); GPU figures measured
on a lent GPU machine without the data by `tests/bench/teacher_gpu.py` are merged in from
`outputs/bench/teacher_gpu.json` when present. Also: the time of
a rerun on a finished key and of a resume after a kill. Writes outputs/bench/teacher.json and .md.

usage: KDNB_DATA=../shared/data python tests/bench/bench_teacher.py [--quick]
"""
import argparse, json, sys, time, signal, subprocess, tempfile, warnings
from pathlib import Path
import numpy as np, torch
from kdnb.core import project_path, cpu_bf16_native, machine
from kdnb.data import load_pool, dl_qrels
from kdnb.teacher import CrossEncoder, encoder_flops
from kdnb.answer_key import key_pool
from kdnb.evaluation import evaluate
from kdnb.zoo import resolve_model
warnings.filterwarnings('ignore')

ap = argparse.ArgumentParser()
ap.add_argument('--quick', action='store_true', help='a smoke run: 430 DL19 pairs and 100 SciFact pairs')
ap.add_argument('--out', default='outputs/bench')
args = ap.parse_args()
teacher, L = 'ms-marco-MiniLM-L-12-v2', 256
path = resolve_model(teacher)
rng = np.random.default_rng(0)

def timed(f, *a, **kw):
    t = time.perf_counter(); r = f(*a, **kw); return r, time.perf_counter() - t

def matmul_peak(dtype, n=2048, reps=10, tries=5):
    "The best of `tries` timings of `reps` n^3 products, in GFLOP/s."
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3): a @ b
    best = 0.
    for _ in range(tries):
        t = time.perf_counter()
        for _ in range(reps): a @ b
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best

cpu = machine()
peak = {'bf16': matmul_peak(torch.bfloat16), 'fp32': matmul_peak(torch.float32)}
print(f"{cpu}; native bf16: {cpu_bf16_native()}; 2048^3 matmul: bf16 {peak['bf16']:.0f} GFLOP/s, fp32 {peak['fp32']:.0f} GFLOP/s", flush=True)

# --- the two sets ---
dl19 = load_pool('BM25', 'dl19', k=10 if args.quick else 100)
qrels = {q: v for q, v in dl_qrels('dl19').items() if q in dl19.queries}
sf = key_pool('scifact-train-bm25'); sfp = sf.pairs()
sfp = [sfp[i] for i in sorted(rng.choice(len(sfp), 100 if args.quick else 1000, replace=False))]
sets = {'DL19 BM25 top-100': (dl19.pairs(), dl19.queries, dl19.passages), 'SciFact-train candidates': (sfp, sf.queries, sf.passages)}

from sentence_transformers import CrossEncoder as STCrossEncoder
import sentence_transformers
st = {'fp32': STCrossEncoder(path, max_length=L, device='cpu'),
      'bf16': STCrossEncoder(path, max_length=L, device='cpu', model_kwargs={'dtype': torch.bfloat16})}
kd = {p: CrossEncoder(teacher, max_length=L, device='cpu', precision=p) for p in ('fp32', 'bf16', 'int8')}
SWEEP = {'fp32': (2048, 4096, 8192), 'bf16': (1024, 2048, 4096, 8192), 'int8': (2048, 4096, 8192)}

def ndcg(pairs, scores):
    run = {}
    for (q, d), s in zip(pairs, np.asarray(scores).tolist()): run.setdefault(q, {})[d] = s
    return evaluate(run, qrels, ['nDCG@10'])['nDCG@10']

res = dict(device='cpu: ' + cpu, cpu_bf16_native=cpu_bf16_native(), model=teacher, max_length=L,
           matmul_peak_gflops={k: round(v, 1) for k, v in peak.items()},
           sentence_transformers_version=sentence_transformers.__version__, sets={})
for sname, (pairs, queries, passages) in sets.items():
    Q = [queries[q] for q, _ in pairs]; D = [passages[d] for _, d in pairs]
    sample = rng.choice(len(pairs), size=min(240, len(pairs)), replace=False)
    Qs, Ds = [Q[i] for i in sample], [D[i] for i in sample]
    lens = [len(x) for x in kd['fp32'].tokenizer(Q, D, truncation='longest_first', max_length=L)['input_ids']]
    flops = encoder_flops(kd['fp32'].model.config, lens)
    print(f"== {sname}: {len(pairs)} pairs, mean {np.mean(lens):.1f} tokens, {flops/len(pairs)/1e9:.2f} GFLOP a pair", flush=True)
    rows, scores = {}, {}
    for p, m in st.items():
        best = None
        for bs in (16, 32, 64):
            _, dt = timed(m.predict, list(zip(Qs, Ds)), batch_size=bs, show_progress_bar=False)
            if best is None or dt < best[1]: best = (bs, dt)
        s, dt = timed(m.predict, list(zip(Q, D)), batch_size=best[0], show_progress_bar=False)
        scores[f'st-{p}'] = np.asarray(s, dtype=np.float32)
        rows[f'sentence-transformers {p}'] = dict(setting=f"batch_size {best[0]}", pairs_per_s=len(pairs)/dt, seconds=dt)
        print(f"  sentence-transformers {p} (batch {best[0]}): {len(pairs)/dt:.1f} pairs/s", flush=True)
    for p, ce in kd.items():
        best = None
        for tpb in SWEEP[p]:
            ce.tokens_per_batch = tpb
            _, dt = timed(ce.predict, Qs, Ds, progress=False)
            if best is None or dt < best[1]: best = (tpb, dt)
        ce.tokens_per_batch = best[0]
        s, dt = timed(ce.predict, Q, D, progress=False)
        scores[p] = s
        rows[f'kdnb {p}'] = dict(setting=f"{best[0]} tokens/batch", pairs_per_s=len(pairs)/dt, seconds=dt)
        print(f"  kdnb {p} ({best[0]} tokens/batch): {len(pairs)/dt:.1f} pairs/s", flush=True)
    base = rows['sentence-transformers fp32']['seconds']
    for name, r in rows.items():
        k = 'st-' + name.split()[-1] if name.startswith('sentence') else name.split()[-1]
        r.update(ratio_to_st_fp32=base / r['seconds'], gflops=flops / r['seconds'] / 1e9)
        r['share_of_bf16_peak'] = r['gflops'] / peak['bf16']
        r['max_abs_diff_to_kdnb_fp32'] = float(np.abs(scores[k] - scores['fp32']).max())
        if sname.startswith('DL19'): r['ndcg10'] = ndcg(pairs, scores[k])
        r.update({x: round(r[x], 4) for x in ('pairs_per_s', 'seconds', 'ratio_to_st_fp32', 'gflops', 'share_of_bf16_peak')})
    res['sets'][sname] = dict(pairs=len(pairs), mean_tokens=round(float(np.mean(lens)), 1), gflop_per_pair=round(flops/len(pairs)/1e9, 3), scorers=rows)

gp = project_path(args.out)/'teacher_gpu.json'
if torch.cuda.is_available():   # a GPU here: measure it in this run (teacher_gpu.py does the same on a machine without the data)
    sys.path.insert(0, str(Path(__file__).resolve().parent)); from teacher_gpu import gpu_figures
    full = {n: dict(pairs=p.pairs(), queries=p.queries, passages=p.passages) for n, p in (('dl19-bm25', dl19), ('scifact-train-bm25', sf))}
    g = gpu_figures(full); g['keys'] = {}
    gp.write_text(json.dumps(g) + '\n')
if gp.is_file():
    g = json.loads(gp.read_text())
    g['dl19_ndcg10_bf16'] = ndcg([(q, d) for q, d, _ in g['dl19_scores_bf16']], [s for _, _, s in g['dl19_scores_bf16']]) if not args.quick else None
    res['gpu'] = {k: v for k, v in g.items() if k != 'dl19_scores_bf16'}

# --- rerun and resume ---
tmp = Path(tempfile.mkdtemp())
qs4 = sorted(dl19.queries)[:4]
code = ("from kdnb.data import load_pool; from kdnb.answer_key import build_key\n"
        f"p = load_pool('BM25', 'dl19', k=40).subset({qs4!r})\n"
        f"build_key({str(tmp/'k')!r}, p.pairs(), p.queries, p, shard_size=16, progress=False)")
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); full = time.perf_counter() - t
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); rerun = time.perf_counter() - t
import shutil; shutil.rmtree(tmp/'k')
p = subprocess.Popen([sys.executable, '-c', code])
while len(list((tmp/'k'/'shards').glob('*.parquet'))) < 5 and p.poll() is None: time.sleep(0.05)
p.send_signal(signal.SIGKILL); p.wait(); done = len(list((tmp/'k'/'shards').glob('*.parquet')))
t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); resume = time.perf_counter() - t
nsh = json.loads((tmp/'k'/'manifest.json').read_text())['n_shards']
res['key'] = dict(pairs=160, shards=nsh, full_build_s=round(full, 2), rerun_finished_s=round(rerun, 2),
                  killed_after_shards=done, resume_s=round(resume, 2), note='process wall times, including Python and torch start-up')
print(f"answer key (160 pairs, {nsh} shards): full build {full:.1f}s; rerun {rerun:.1f}s; resume after kill -9 at {done}/{nsh} shards {resume:.1f}s")

out = project_path(args.out); out.mkdir(parents=True, exist_ok=True)
(out/'teacher.json').write_text(json.dumps(res, indent=2) + '\n')
md = ["# Teacher scoring benchmark", "",
      f"`{teacher}`, max length {L}; {res['device']}; native bf16 units: {res['cpu_bf16_native']}. "
      f"Matrix peak measured in the same run (2048³ products): bf16 {peak['bf16']:.0f} GFLOP/s, fp32 {peak['fp32']:.0f} GFLOP/s.", ""]
for sname, S in res['sets'].items():
    dl = sname.startswith('DL19')
    md += [f"## {sname}: {S['pairs']} pairs, {S['mean_tokens']} tokens a pair on average ({S['gflop_per_pair']} GFLOP)", "",
           "| scorer | setting | pairs/s | vs sentence-transformers fp32 | GFLOP/s | share of bf16 peak | max \\|Δ score\\| vs kdnb fp32 |" + (" DL19 nDCG@10 |" if dl else ""),
           "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if dl else "")]
    for name, r in S['scorers'].items():
        md.append(f"| {name} | {r['setting']} | {r['pairs_per_s']:.1f} | {r['ratio_to_st_fp32']:.2f}× | {r['gflops']:.0f} | {r['share_of_bf16_peak']:.1%} | "
                  f"{r['max_abs_diff_to_kdnb_fp32']:.3g} |" + (f" {r['ndcg10']:.4f} |" if dl else ""))
    md.append("")
if 'gpu' in res:
    g = res['gpu']
    md += [f"## GPU: {g['device']} (bf16; torch {g['torch']}, sentence-transformers {g['sentence_transformers']})", "",
           f"Measured with `tests/bench/teacher_gpu.py` on a lent machine (16 CPU cores); matrix peak measured there (8192³ bf16 products): {g['matmul_peak_tflops_bf16']} TFLOP/s.", "",
           "| set | pairs | kdnb pairs/s | sentence-transformers pairs/s (best batch) | ratio | TFLOP/s | share of peak | model alone: pairs/s | TFLOP/s | share of peak |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s, r in g['sets'].items():
        md.append(f"| {s} | {r['pairs']} | {r['kdnb_pairs_per_s']:.0f} | {r['st_pairs_per_s']:.0f} ({r['st_batch_size']}) | {r['ratio']:.2f}× | {r['tflops']} | {r['share_of_peak']:.1%} | "
                  f"{r['model_only_pairs_per_s']:.0f} | {r['model_only_tflops']} | {r['model_only_share_of_peak']:.1%} |")
    if g.get('dl19_ndcg10_bf16') is not None: md += ["", f"DL19 nDCG@10 of the GPU bf16 scores: {g['dl19_ndcg10_bf16']:.4f}."]
    if g.get('keys'): md += ["", "Keys scored there in fp32 (`build_key` wall time, tokenization included): " +
                             ", ".join(f"{n} {k['pairs']} pairs in {k['seconds']} s" for n, k in g['keys'].items()) + "."]
    md += [""]
k_ = res['key']; md += [f"Answer key of {k_['pairs']} pairs in {k_['shards']} shards: full build {k_['full_build_s']}s, rerun of the finished key {k_['rerun_finished_s']}s, "
                        f"resume after `kill -9` at {k_['killed_after_shards']}/{k_['shards']} shards {k_['resume_s']}s ({k_['note']})."]
(out/'teacher.md').write_text('\n'.join(md) + '\n')
print(f"wrote {out/'teacher.json'} and {out/'teacher.md'}")
