"""PyLate's side of bench_colbert.py: run in PyLate's own environment (.venv-pylate), it trains `pylate.models.ColBERT` on the
groups written by the benchmark with PyLate's trainer and its distillation loss (KL over the group, on raw MaxSim scores as kdnb's 'kl'), and prints the seconds.

usage: .venv-pylate/bin/python tests/bench/pylate_train.py MODEL GROUPS.json OUT --steps 8 --batch-size 16 --lr 3e-5 [--seed 0] [--bf16] [--save]
"""
import argparse, json, time
import datasets, torch
from pylate import losses, models, utils
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

ap = argparse.ArgumentParser()
ap.add_argument('model'); ap.add_argument('groups'); ap.add_argument('out')
ap.add_argument('--steps', type=int, default=8); ap.add_argument('--batch-size', type=int, default=16)
ap.add_argument('--lr', type=float, default=3e-5); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--bf16', action='store_true'); ap.add_argument('--save', action='store_true')
a = ap.parse_args()
g = json.load(open(a.groups))
torch.manual_seed(a.seed)
m = models.ColBERT(a.model, device='cpu')
ds = datasets.Dataset.from_dict({'query': g['queries'], 'documents': g['passages'], 'scores': g['scores']})
args = SentenceTransformerTrainingArguments(output_dir=a.out, per_device_train_batch_size=a.batch_size, max_steps=a.steps, learning_rate=a.lr,
                                            warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=a.seed, save_strategy='no', report_to='none',
                                            logging_steps=10**9, use_cpu=True, disable_tqdm=True, bf16=a.bf16)
tr = SentenceTransformerTrainer(model=m, args=args, train_dataset=ds, loss=losses.Distillation(model=m, normalize_scores=False),   # kdnb's 'kl': its default min-max normalises the student's scores first
                                data_collator=utils.ColBERTCollator(tokenize_fn=m.tokenize))
t = time.perf_counter(); tr.train(); s = time.perf_counter() - t
if a.save: m.save(a.out + '/model')
print(json.dumps({'seconds': s, 'pylate': __import__('pylate').__version__, 'sentence_transformers': __import__('sentence_transformers').__version__}))
