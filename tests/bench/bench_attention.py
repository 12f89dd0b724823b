"""Attention kernels and part sizes while training on a CPU: transformers' eager, kdnb's lean eager ('kdnb_eager') and
SDPA, and one padded block against token-budget parts.

Times forward + backward (bf16 autocast where the CPU has native bf16, else fp32; `--precision` forces one) of a cross-encoder student's encoder
on B rows of L tokens, for each sequence length L, with B chosen so that a part holds `--tokens` padded tokens (the
students' `train_tokens`), and, at `--whole-len`, the same `--whole-rows` rows as one block. The rows are padded as a
length-sorted part is: the first fills the L tokens, the others lose up to `--pad` of them (evenly spread), so the
kernels see a real padding mask. Prints seconds per forward+backward and each kernel's time over SDPA's per length; the
threshold kdnb's 'length' attention uses (`EAGER_MAX_LEN`) and the students' rule for cutting a batch into parts are
read from these figures, CPU by CPU and precision by precision.
Writes outputs/bench/attention_<tag>.json.

usage: KDNB_DATA=../shared/data python tests/bench/bench_attention.py [--tag amx] [--lens 64,128,192,256,291,384,512]
"""
import argparse, json, time
from pathlib import Path
import torch
from kdnb.core import project_path, cpu_bf16_native, cpu_amx, machine
from kdnb.cross_encoder import CrossEncoderStudent
from kdnb.teacher import part_rule
import kdnb.training   # registers 'kdnb_eager'

ap = argparse.ArgumentParser()
ap.add_argument('--student', default='paraphrase-MiniLM-L3-v2'); ap.add_argument('--lens', default='64,128,192,256,291,384,512')
ap.add_argument('--tokens', type=int, default=part_rule('cpu')[0]); ap.add_argument('--reps', type=int, default=3)
ap.add_argument('--whole-len', type=int, default=291); ap.add_argument('--whole-rows', type=int, default=128)
ap.add_argument('--pad', type=float, default=0.1); ap.add_argument('--tag', default=''); ap.add_argument('--note', default='')
ap.add_argument('--precision', default='auto', choices=['auto', 'bf16', 'fp32'], help="'auto': bf16 where the CPU has it natively, as training does")
a = ap.parse_args()
amx = cpu_amx()
prec = torch.bfloat16 if a.precision == 'bf16' or (a.precision == 'auto' and cpu_bf16_native()) else torch.float32
st = CrossEncoderStudent(a.student, device='cpu'); enc = st.encoder.train()
for m in enc.modules():
    if isinstance(m, torch.nn.Dropout): m.p = 0.0

def padded(rows:int, n:int) -> tuple[torch.Tensor, torch.Tensor]:
    "Token ids and the mask of `rows` rows of at most `n` tokens, the first full, the rest down to (1 - pad) n."
    ids = torch.randint(1000, 20000, (rows, n), generator=torch.Generator().manual_seed(0))
    lens = torch.linspace(n, round(n * (1 - a.pad)), rows).round().long()
    return ids, (torch.arange(n)[None] < lens[:, None]).long()

def step(ids:torch.Tensor, mask:torch.Tensor) -> None:
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=prec == torch.bfloat16):
        s = enc(input_ids=ids, attention_mask=mask).logits[:, 0]
    s.float().pow(2).mean().backward(); enc.zero_grad(set_to_none=True)

def timed(impl:str, rows:int, n:int, parts:int=1) -> float:
    "Best of `reps` seconds for forward + backward of `rows` x `n` tokens in `parts` equal parts, after one warm-up."
    enc.set_attn_implementation(impl); ids, mask = padded(rows, n)
    def once():
        t = time.perf_counter()
        for x, m in zip(ids.chunk(parts), mask.chunk(parts)): step(x, m)
        return time.perf_counter() - t
    once(); return min(once() for _ in range(a.reps))

res = dict(pad=a.pad, device=machine(), amx=amx,
           cpu_bf16_native=cpu_bf16_native(), precision=str(prec).replace('torch.', ''), student=a.student, tokens=a.tokens, note=a.note, lengths=[])
print(f"{res['device']}; AMX {amx}; {res['precision']}; parts of {a.tokens} tokens", flush=True)
KERNELS = ('eager', 'kdnb_eager', 'sdpa')
for n in map(int, a.lens.split(',')):
    rows = max(1, a.tokens // n); t = {k: timed(k, rows, n) for k in KERNELS}
    res['lengths'].append(dict(len=n, rows=rows, **{f"{k}_s": round(v, 4) for k, v in t.items()},
                               **{f"{k}_over_sdpa": round(t[k] / t['sdpa'], 3) for k in KERNELS[:2]}))
    print(f"L {n:4d}, {rows:3d} rows: " + ', '.join(f"{k} {v:.3f} s" for k, v in t.items()) +
          ''.join(f", {k}/sdpa {t[k] / t['sdpa']:.2f}" for k in KERNELS[:2]), flush=True)
W, n = a.whole_rows, a.whole_len; parts = max(1, W * n // a.tokens)
res['whole'] = dict(len=n, rows=W, parts=parts, **{f"{impl}_{how}_s": round(timed(impl, W, n, p), 4)
                                                  for impl in KERNELS for how, p in (('one_block', 1), ('parts', parts))})
print(f"{W} rows of {n}: " + ', '.join(f"{k} {v}" for k, v in res['whole'].items() if k.endswith('_s')), flush=True)
out = project_path('outputs/bench'); out.mkdir(parents=True, exist_ok=True)
(out/f"attention{'_' + a.tag if a.tag else ''}.json").write_text(json.dumps(res, indent=2) + '\n'); print(json.dumps(res))
