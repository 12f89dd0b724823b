"""Cross-encoder student benchmark: training speed against sentence-transformers' CrossEncoderTrainer, and re-ranking speed against the teacher.

Training: the same groups (kdnb.pipeline.training_groups, dev queries held out, 1 positive + k negatives), the same start
(a zoo encoder with a new one-logit head, saved by kdnb and loaded by both), the same loss (MarginMSE on the teacher's
scores: kdnb's 'margin_mse', sentence-transformers' `MarginMSELoss`), batch size, learning rate, warm-up, clipping,
steps, and precision (bf16 autocast where the CPU has native bf16). sentence-transformers cuts the joined pair to one
window (query + passage, 32 + 256 + 3 tokens); kdnb cuts the query to 32 and the passage to 256. Prints groups per
second and the ratio, twice: end to end (the trainer's call, setup and final checkpoint included) and steady (from the
end of the first step to the end of the last, from each trainer's own step clock: kdnb's log, a sentence-transformers
callback), which leaves out the one-off costs a short run exaggerates.

Quality (--quality): both trainers train the same start on the same groups (DL21 + DL22 by default, 4 groups per query,
dev queries held out) for the study's budget, once per seed; each trained model is saved and scored by the same code
(kdnb's re-ranker) on DL19's BM25 top-100; a paired t-test over queries compares them (each query averaged over seeds).

Re-ranking: pairs per second of the students and of the teacher on the same DL19 pairs, in fp32 and bf16.
Writes outputs/bench/cross_encoder.json (cross_encoder_<tag>.json with --tag).

usage: KDNB_DATA=../shared/data python tests/bench/bench_cross_encoder.py [--steps 12] [--batch-size 16] [--k 7]
       ... --quality --no-speed --seeds 42,43,44 --quality-lr 1e-4   # the quality comparison alone
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path
import torch
from kdnb.core import project_path, seed_everything, cpu_bf16_native, machine
from kdnb.cross_encoder import CrossEncoderStudent
from kdnb.teacher import CrossEncoder, part_rule
from kdnb.training import TrainConfig, train
sys.path.insert(0, str(Path(__file__).parent)); from common import bench_groups

ap = argparse.ArgumentParser()
ap.add_argument('--student', default='paraphrase-MiniLM-L3-v2'); ap.add_argument('--steps', type=int, default=12)
ap.add_argument('--batch-size', type=int, default=16); ap.add_argument('--k', type=int, default=7); ap.add_argument('--lr', type=float, default=1e-5)
ap.add_argument('--train', default='scifact-train-bm25'); ap.add_argument('--precision', default='bf16' if cpu_bf16_native() else 'fp32')
ap.add_argument('--rerank-queries', type=int, default=10, help='DL19 queries (x 100 candidates) scored in the re-ranking part; 0: skip it')
ap.add_argument('--out', default='outputs/bench'); ap.add_argument('--note', default='', help='conditions of the run worth recording')
ap.add_argument('--quality', action='store_true', help='also compare the quality of the two trainers: writes cross_encoder_quality.json')
ap.add_argument('--tag', default='', help='suffix of the speed file name: cross_encoder_<tag>.json')
ap.add_argument('--no-speed', action='store_true', help='skip the speed parts (training and re-ranking): with --quality, the quality alone')
ap.add_argument('--seeds', default='42,43,44'); ap.add_argument('--quality-train', default='dl21-bm25,dl22-bm25')
ap.add_argument('--quality-steps', type=int, default=45); ap.add_argument('--quality-batch-size', type=int, default=32)
ap.add_argument('--quality-lr', type=float, default=1e-4); ap.add_argument('--quality-rounds', type=int, default=4)
ap.add_argument('--train-tokens', type=int, default=0, help="kdnb's padded tokens per sub-batch (CrossEncoderStudent.train_tokens); 0: the default")
ap.add_argument('--split-gain', type=float, default=None, help="kdnb's gate for cutting a batch into parts (CrossEncoderStudent.split_gain): 0 always cuts; None: part_rule's")
ap.add_argument('--attention', default='auto', help="kdnb's attention kernels while training (TrainConfig.attention)")
ap.add_argument('--repeats', type=int, default=1, help='speed rounds, who goes first alternating; the figures are medians over rounds, the ratio the median of the rounds\' ratios')
a = ap.parse_args()
if a.repeats < 1: ap.error(f"--repeats {a.repeats}: at least one speed round is needed")
data = bench_groups(a.train, a.k, a.steps, a.batch_size); n = len(data)
print(f"{n} groups of 1+{a.k}; {a.steps} steps of {a.batch_size}; {a.student}; {a.precision}; torch {torch.get_num_threads()} threads", flush=True)

def kdnb_run(init, out, data=data, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=0):
    seed_everything(seed)
    st = CrossEncoderStudent.load(init, device='cpu', precision=a.precision)
    if a.train_tokens: st.train_tokens = a.train_tokens
    if a.split_gain is not None: st.split_gain = a.split_gain
    cfg = TrainConfig(loss='margin_mse', lr=lr, batch_size=batch_size, max_steps=steps, warmup_ratio=0.1, seed=seed, save_every=10**9,
                      log_every=1, max_grad_norm=1.0, weight_decay=0.01, dropout=0.0, precision=a.precision, attention=a.attention)
    t = time.perf_counter(); train(st, data, out, cfg, resume=False, progress=False); total = time.perf_counter() - t
    ends = [r['elapsed'] for r in map(json.loads, (Path(out)/'log.jsonl').read_text().splitlines()) if 'loss' in r]   # each step's end
    st.eval().save(Path(out)/'model')
    return total, (ends[-1] - ends[0]) / (len(ends) - 1)

def st_run(init, out, data=data, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=0):
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MarginMSELoss
    seed_everything(seed)
    model = STCrossEncoder(str(init), device='cpu')
    for m in model.modules():   # the same dropout as kdnb's run (0: the pipeline's default on a CPU)
        if isinstance(m, torch.nn.Dropout): m.p = 0.0
    cols = {'query': data.queries, **{f"passage{j}": [g[j] for g in data.passages] for j in range(a.k + 1)},
            'label': [[float(x) for x in s] for s in data.scores]}
    args = CrossEncoderTrainingArguments(output_dir=str(out), per_device_train_batch_size=batch_size, learning_rate=lr, warmup_ratio=0.1,
                                         max_grad_norm=1.0, weight_decay=0.01, max_steps=steps, bf16=a.precision == 'bf16', use_cpu=True,
                                         report_to='none', save_strategy='no', logging_steps=10**9, seed=seed, dataloader_drop_last=False)
    from transformers import TrainerCallback
    class Clock(TrainerCallback):
        def __init__(self): self.ends = []
        def on_step_end(self, args, state, control, **kw): self.ends.append(time.perf_counter())
    clock = Clock()
    tr = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_dict(cols), loss=MarginMSELoss(model), callbacks=[clock])
    t = time.perf_counter(); tr.train(); total = time.perf_counter() - t
    model.save(str(Path(out)/'model'))
    return total, (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)

import sentence_transformers
res = dict(device=machine(), cpu_bf16_native=cpu_bf16_native(),
           student=f"{a.student} + new one-logit head", train=a.train, steps=a.steps, batch_size=a.batch_size, k=a.k, lr=a.lr,
           precision=a.precision, loss='MarginMSE', train_tokens=part_rule('cpu', a.train_tokens or None)[0], split_gain=part_rule('cpu', None, a.split_gain)[1], attention=a.attention, sentence_transformers=sentence_transformers.__version__, note=a.note, groups_per_s={},
           groups_per_s_steady={})
rounds = []   # per round and trainer: (groups/s end to end, steady)
with tempfile.TemporaryDirectory() as d:
    d = Path(d); init = CrossEncoderStudent(a.student, device='cpu', seed=0).save(d/'init')
    for r in range(0 if a.no_speed else a.repeats):
        order = [('sentence-transformers', st_run), ('kdnb', kdnb_run)][::1 if r % 2 == 0 else -1]   # a drift of the machine's speed falls on both
        rounds.append({})
        for name, run in order:
            s, step = run(init, d/f"{name}-{r}"); rounds[-1][name] = (n / s, a.batch_size / step)
            print(f"round {r + 1}, {name}: {n/s:.3f} groups/s end to end ({s:.0f} s), {a.batch_size/step:.3f} steady ({step:.2f} s/step)", flush=True)
for i, k in enumerate(() if a.no_speed else ('groups_per_s', 'groups_per_s_steady')):
    res[k] = {name: round(statistics.median(x[name][i] for x in rounds), 3) for name in ('sentence-transformers', 'kdnb')}
    ratios = [x['kdnb'][i] / x['sentence-transformers'][i] for x in rounds]
    res[k.replace('groups_per_s', 'kdnb_over_sentence_transformers')] = round(statistics.median(ratios), 3)
    if a.repeats > 1: res[k.replace('groups_per_s', 'round_ratios')] = [round(x, 3) for x in ratios]
    print(f"{k}: kdnb / sentence-transformers {res[k.replace('groups_per_s', 'kdnb_over_sentence_transformers')]:.3f}" + (f" (median of {ratios})" if a.repeats > 1 else ''), flush=True)

if a.quality:
    import pandas as pd
    from kdnb.cross_encoder import rerank_cross
    from kdnb.pipeline import key_pool, eval_qrels
    from kdnb.evaluation import per_query, paired_ttest
    qdata = bench_groups(a.quality_train, a.k, a.quality_steps, a.quality_batch_size, a.quality_rounds, repeat=False)   # each trainer runs epochs
    pool, qrels, per = key_pool('dl19-bm25'), eval_qrels('dl19-rerank'), {'kdnb': [], 'sentence-transformers': []}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); init = CrossEncoderStudent(a.student, device='cpu', seed=0).save(d/'init')
        for seed in map(int, a.seeds.split(',')):
            for name, run in [('sentence-transformers', st_run), ('kdnb', kdnb_run)]:
                run(init, d/f"{name}-{seed}", qdata, a.quality_steps, a.quality_batch_size, a.quality_lr, seed)
                m = CrossEncoderStudent(str(d/f"{name}-{seed}"/'model'), device='cpu', precision=a.precision)   # the same scorer for both
                per[name].append(per_query(rerank_cross(m, pool, progress=False), qrels, ['nDCG@10'])['nDCG@10'])
                print(f"seed {seed}, {name}: DL19 re-rank nDCG@10 {per[name][-1].mean():.4f}", flush=True)
    kq, sq = (pd.concat(per[n], axis=1).mean(axis=1) for n in ('kdnb', 'sentence-transformers')); t = paired_ttest(kq, sq)
    qres = dict(device=res['device'], student=res['student'], precision=a.precision, loss='MarginMSE', train_tokens=part_rule('cpu', a.train_tokens or None)[0], attention=a.attention, k=a.k, train=a.quality_train,
                steps=a.quality_steps, batch_size=a.quality_batch_size, lr=a.quality_lr, rounds=a.quality_rounds, seeds=a.seeds,
                set='dl19-rerank', measure='nDCG@10', per_seed={n: [round(float(x.mean()), 4) for x in v] for n, v in per.items()},
                mean={'kdnb': round(float(kq.mean()), 4), 'sentence-transformers': round(float(sq.mean()), 4)},
                queries=len(kq), paired_ttest_p=round(float(t.pvalue), 4))
    print(f"quality: {qres}", flush=True)
    out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'cross_encoder_quality.json').write_text(json.dumps(qres, indent=2) + '\n')

if a.rerank_queries and not a.no_speed:
    from kdnb.data import load_pool
    pool = load_pool('BM25', 'dl19', k=100); pool = pool.subset(sorted(pool.queries)[:a.rerank_queries]); pairs = pool.pairs()
    qs, ps = [pool.queries[q] for q, _ in pairs], [pool.passages[x] for _, x in pairs]
    res['rerank'] = dict(pairs=len(pairs), pairs_per_s={})
    for prec in dict.fromkeys(['fp32', a.precision]):
        for name, model in [('teacher ms-marco-MiniLM-L-12-v2', lambda: CrossEncoder('ms-marco-MiniLM-L-12-v2', device='cpu', precision=prec)),
                            ('student paraphrase-MiniLM-L3-v2', lambda: CrossEncoderStudent('paraphrase-MiniLM-L3-v2', device='cpu', precision=prec)),
                            ('student all-MiniLM-L6-v2', lambda: CrossEncoderStudent('all-MiniLM-L6-v2', device='cpu', precision=prec))]:
            m = model(); m.predict(qs[:64], ps[:64], progress=False)   # warm-up
            t = time.perf_counter(); m.predict(qs, ps, progress=False); r = len(pairs) / (time.perf_counter() - t)
            res['rerank']['pairs_per_s'][f"{name} {prec}"] = round(r, 1); print(f"{name} {prec}: {r:.1f} pairs/s", flush=True)
if not a.no_speed:
    out = project_path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/f"cross_encoder{'_' + a.tag if a.tag else ''}.json").write_text(json.dumps(res, indent=2) + '\n'); print(json.dumps(res))
