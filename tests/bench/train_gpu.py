"""The ColBERT and SPLADE trainings of bench_colbert.py and bench_splade.py on a GPU machine that has neither the data nor PyPI:
training groups per second in bf16 and in fp32, with sentence-transformers' SparseEncoderTrainer beside SPLADE.

`pack` (here, with KDNB_DATA and the zoo) writes a folder with the students' zoo wheels cut down to what their build reads
(common.slim_wheels) and the training groups: stratified 1+4 groups of the SciFact-train key, dev queries held out (as
common.bench_groups gives the CPU benches), each group once. `run` (on the GPU machine) builds the students with
`kdnb.zoo.build_model` itself (same sha256), then trains each student with kdnb's `train` on those groups, repeated to the
steps asked, with the CPU benches' settings (ColBERT: answerai-colbert-small-v1 + a new 384->96 projection, KL over the
group, query 32 with [MASK] augmentation, passages 180, lr 3e-5; SPLADE: splade-tiny, MarginMSE + FLOPS on queries and
passages, 256 tokens, lr 2e-5; warm-up 10%, clipping 1.0), for each precision and batch size. Each setting is timed twice,
for a short and a long run from a fresh start: the long run's groups per second include start-up (as the CPU benches'
figures do), and the difference of the two runs gives the steady rate, without start-up. It writes OUT/train_gpu.json.

usage: python tests/bench/train_gpu.py pack DIR
       python tests/bench/train_gpu.py run DIR OUT [--steps 5,45] [--batch-sizes 16,64] [--precisions bf16,fp32]
"""
import argparse, gzip, json, sys, tempfile, time, traceback
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent)); from common import slim_wheels, zoo_from_slim

STUDENTS = {'colbert': 'answerai-colbert-small-v1', 'splade': 'splade-tiny'}
TRAIN, K = 'scifact-train-bm25', 4

def pack(folder):
    from common import bench_groups
    folder = Path(folder); slim_wheels(list(STUDENTS.values()), folder/'wheels')
    g = bench_groups(TRAIN, K, 1, 1, repeat=False)
    with gzip.open(folder/'groups.json.gz', 'wt', encoding='utf-8') as f:
        json.dump({'train': TRAIN, 'k': K, 'queries': g.queries, 'passages': g.passages, 'scores': [s.tolist() for s in g.scores]}, f)
    print(f"{len(g)} groups of 1+{K}; packed into {folder}: {sum(f.stat().st_size for f in folder.rglob('*') if f.is_file())/2**20:.1f} MiB")

def _device():
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'   # the CPU only for a smoke test here

def _sync():
    import torch
    if torch.cuda.is_available(): torch.cuda.synchronize()

def _groups(G, n):
    "`n` training groups: the packed ones, repeated."
    from kdnb.training import GroupData
    m = len(G['queries'])
    return GroupData([dict(qid=str(i % m), query=G['queries'][i % m], docids=[str(j) for j in range(K + 1)], scores=G['scores'][i % m],
                           passages=G['passages'][i % m]) for i in range(n)])

def _kdnb(student, G, steps, bs, precision, out, num_workers=0):
    "Seconds of one kdnb training run from a fresh start (the student's loading included, as in the CPU benches)."
    import torch
    from kdnb.core import seed_everything
    from kdnb.training import TrainConfig, train
    data = _groups(G, steps * bs)
    _sync(); t = time.perf_counter(); seed_everything(0)
    if student == 'colbert':
        from kdnb.colbert import ColBERT
        st = ColBERT(query_max_len=32, passage_max_len=180, truncate_queries=True, device=_device(), precision=precision, seed=0)
        cfg = dict(loss='kl', lr=3e-5)
    else:
        from kdnb.splade import Splade
        st = Splade('splade-tiny', device=_device(), query_max_len=256, passage_max_len=256, precision=precision)
        cfg = dict(loss='splade', loss_kwargs=dict(lambda_q=5e-4, lambda_d=3e-4, reg_q='flops', reg_d='flops', warmup_steps=0), lr=2e-5)
    train(st, data, out, TrainConfig(**cfg, batch_size=bs, max_steps=steps, warmup_ratio=0.1, seed=0, save_every=10**9, log_every=10**9,
                                     max_grad_norm=1.0, weight_decay=0.01, precision=precision, num_workers=num_workers), resume=False, progress=False)
    _sync(); return time.perf_counter() - t

def _st_splade(G, steps, bs, precision, out):
    "Seconds of one sentence-transformers SparseEncoderTrainer run (SpladeLoss with SparseMarginMSELoss, FLOPS on both sides) from a fresh start."
    import torch, datasets
    from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.losses import SpladeLoss, SparseMarginMSELoss
    from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling
    from kdnb.core import seed_everything
    from kdnb.zoo import resolve_model
    data = _groups(G, steps * bs)
    _sync(); t = time.perf_counter(); seed_everything(0)
    m = SparseEncoder(modules=[MLMTransformer(resolve_model('splade-tiny'), max_seq_length=256), SpladePooling('max')], device=_device())
    cols = {'query': data.queries, 'positive': [p[0] for p in data.passages]}
    for i in range(1, K + 1): cols[f"negative_{i}"] = [p[i] for p in data.passages]
    cols['label'] = [[float(s[0] - s[i]) for i in range(1, K + 1)] for s in data.scores]
    args = SparseEncoderTrainingArguments(output_dir=str(out), per_device_train_batch_size=bs, max_steps=steps, learning_rate=2e-5, warmup_ratio=0.1,
                                          weight_decay=0.01, max_grad_norm=1.0, seed=0, save_strategy='no', report_to='none', logging_steps=10**9,
                                          dataloader_drop_last=False, disable_tqdm=True, bf16=precision == 'bf16', use_cpu=_device() == 'cpu')
    loss = SpladeLoss(m, SparseMarginMSELoss(m), document_regularizer_weight=3e-4, query_regularizer_weight=5e-4)
    SparseEncoderTrainer(model=m, args=args, train_dataset=datasets.Dataset.from_dict(cols), loss=loss).train()
    _sync(); return time.perf_counter() - t

def run(folder, out, steps=(5, 45), batch_sizes=(16, 64), precisions=('bf16', 'fp32')):
    import torch, transformers
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    with gzip.open(Path(folder)/'groups.json.gz', 'rt', encoding='utf-8') as f: G = json.load(f)
    zoo_from_slim(Path(folder)/'wheels', list(STUDENTS.values()))
    res = dict(device=torch.cuda.get_device_name() if _device() == 'cuda' else 'cpu (smoke test)', torch=torch.__version__, transformers=transformers.__version__, train=G['train'], k=K,
               groups=len(G['queries']), steps=list(steps), note='groups/s: the long run, start-up included; steady: (long - short) groups / (long - short) seconds',
               runs=[])
    try: import sentence_transformers; res['sentence_transformers'] = sentence_transformers.__version__
    except Exception as e: res['sentence_transformers'] = f"not importable: {e}"
    print(json.dumps({k: v for k, v in res.items() if k != 'runs'}), flush=True)
    trainers = [('kdnb', s) for s in STUDENTS] + [('sentence-transformers', 'splade')]
    tmp = Path(tempfile.mkdtemp())
    _kdnb('colbert', G, 2, 8, 'bf16', tmp/'warm')   # CUDA's and cuBLAS's one-time start, paid before any timed run
    for who, student in trainers:
        for precision in precisions:
            for bs in batch_sizes:
                r = dict(trainer=who, student=STUDENTS[student], precision=precision, batch_size=bs)
                try:
                    f = (lambda n, d: _kdnb(student, G, n, bs, precision, d)) if who == 'kdnb' else (lambda n, d: _st_splade(G, n, bs, precision, d))
                    if _device() == 'cuda': torch.cuda.reset_peak_memory_stats()
                    t = [f(n, tmp/f"{who}-{student}-{precision}-{bs}-{n}") for n in steps]
                    r.update(seconds=[round(x, 2) for x in t], groups_per_s=round(steps[1] * bs / t[1], 2),
                             steady_groups_per_s=round((steps[1] - steps[0]) * bs / (t[1] - t[0]), 2),
                             peak_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if _device() == 'cuda' else None)
                except Exception as e: r['error'] = ''.join(traceback.format_exception_only(e)).strip()[-600:]; traceback.print_exc()
                res['runs'].append(r); print(json.dumps(r), flush=True)
                (out/'train_gpu.json').write_text(json.dumps(res, indent=2) + '\n')   # each run as it ends: a killed call keeps what it measured
    # kdnb's tokenization happens in the training process; with DataLoader workers it overlaps the GPU's work
    for student in STUDENTS:
        r = dict(trainer='kdnb', student=STUDENTS[student], precision='bf16', batch_size=max(batch_sizes), num_workers=4)
        try:
            t = [_kdnb(student, G, n, r['batch_size'], 'bf16', tmp/f"w-{student}-{n}", num_workers=4) for n in steps]
            r.update(seconds=[round(x, 2) for x in t], groups_per_s=round(steps[1] * r['batch_size'] / t[1], 2),
                     steady_groups_per_s=round((steps[1] - steps[0]) * r['batch_size'] / (t[1] - t[0]), 2))
        except Exception as e: r['error'] = ''.join(traceback.format_exception_only(e)).strip()[-600:]; traceback.print_exc()
        res['runs'].append(r); print(json.dumps(r), flush=True)
        (out/'train_gpu.json').write_text(json.dumps(res, indent=2) + '\n')

if __name__ == '__main__':
    cmd, *rest = sys.argv[1:]
    if cmd == 'pack': pack(*rest)
    else:
        ap = argparse.ArgumentParser(); ap.add_argument('folder'); ap.add_argument('out')
        ap.add_argument('--steps', default='5,45'); ap.add_argument('--batch-sizes', default='16,64'); ap.add_argument('--precisions', default='bf16,fp32')
        a = ap.parse_args(rest)
        run(a.folder, a.out, tuple(int(x) for x in a.steps.split(',')), tuple(int(x) for x in a.batch_sizes.split(',')), tuple(a.precisions.split(',')))
