"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines lack).
Markdown cells are copied; code cells become ```python blocks; nbdev directives are dropped. A markdown line
`{{results:NAME}}` becomes a table generated from the figures under outputs/ (see TABLES), so that no result
in the README is typed by hand. `--check` fails when README.md is out of step with the notebook or outputs/."""
import json, math, re, sys
from pathlib import Path
root = Path(__file__).resolve().parents[1]

def _load(rel):
    p = root/rel
    if not p.is_file(): sys.exit(f"{rel} is missing: the README's tables are generated from it")
    return json.loads(p.read_text())

def teacher_table():
    "Teacher scoring on this CPU (and the lent GPU), from outputs/bench/teacher.json."
    b = _load('outputs/bench/teacher.json'); pk = b['matmul_peak_gflops']
    rows = ["| pairs | scorer | pairs/s | vs sentence-transformers fp32 | share of the bf16 matrix peak | DL19 nDCG@10 |", "|---|---|---:|---:|---:|---:|"]
    for s, S in b['sets'].items():
        for name, r in S['scorers'].items():
            nd = f"{r['ndcg10']:.4f}" if 'ndcg10' in r else ''
            rows.append(f"| {s} ({S['mean_tokens']:.0f} tokens) | {name} | {r['pairs_per_s']:.1f} | {r['ratio_to_st_fp32']:.2f}× | {r['share_of_bf16_peak']:.1%} | {nd} |")
    out = [f"On {b['device'].split(':', 1)[1].strip()}; bf16 matrix peak measured in the same run {pk['bf16']:.0f} GFLOP/s (fp32 {pk['fp32']:.0f}).", ""] + rows
    if 'gpu' in b:
        g = b['gpu']
        out += ["", f"On a lent {g['device']} (bf16; matrix peak measured there {g['matmul_peak_tflops_bf16']:.0f} TFLOP/s):", "",
                "| pairs | kdnb pairs/s | sentence-transformers pairs/s | ratio | share of peak | model alone: share of peak |", "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {s} | {r['kdnb_pairs_per_s']:.0f} | {r['st_pairs_per_s']:.0f} | {r['ratio']:.2f}× | {r['share_of_peak']:.1%} | {r['model_only_share_of_peak']:.1%} |"
                for s, r in g['sets'].items()]
    return '\n'.join(out)

def encode_table():
    "Student encoding, from outputs/bench/encode.json."
    e = _load('outputs/bench/encode.json')
    rows = ["| encoder | fp32 passages/s | bf16 passages/s | bf16 / fp32 |", "|---|---:|---:|---:|"]
    for w, name in (('kdnb', 'kdnb `encode_passages`'), ('st', 'sentence-transformers `encode`')):
        f, b = max(e[w]['fp32'].values()), max(e[w]['bf16'].values())
        rows.append(f"| {name} | {f:.1f} | {b:.1f} | {b/f:.2f}× |")
    return (f"{e['model']}, {e['n']} SciFact passages, max length {e['max_length']}, best batch setting of each; {e['device']}. "
            f"Smallest cosine between bf16 and fp32 vectors: {e['min_cos_bf16_vs_fp32']:.5f}.\n\n" + '\n'.join(rows))

def keys_table():
    "The published answer keys, from outputs/answer_keys/*/provenance.json."
    rows = ["| key | pairs | file | teacher precision | scored on | scored | amended |", "|---|---:|---:|---|---|---|---|"]
    for p in sorted((root/'outputs'/'answer_keys').glob('*/provenance.json')):
        v = json.loads(p.read_text()); t = v['teachers'][0]; a = v.get('amended')
        am = f"{a['scored']} pairs scored, {a['dropped']} dropped ({a['precision']}, {a['scored_on']}, {a['date'][:10]})" if a else ''
        rows.append(f"| `{v['name']}` | {v['n_pairs']:,} | {v['bytes']/1024:.0f} KiB | {t['precision']} | {t['device']} | {v['scored'][:10]} | {am} |")
    return '\n'.join(rows)

def _p(p):
    "A p-value as the README prints it: three decimals below 0.1, so that 0.0498 never reads as 0.05."
    return 'p < 0.001' if p < 0.001 else f"p {p:.3f}" if p < 0.1 else f"p {p:.2f}"

def _peer_quality_row(student, name, peer):
    "The README row of a peer-quality comparison (tests/bench/common.py's peer_quality, written by a bench's --quality), or none before it has run."
    f = root/'outputs'/'bench'/name
    if not f.is_file(): return []
    q = json.loads(f.read_text()); n = len(q['seeds'].split(','))
    return [f"| {student} quality, kdnb / {peer} from the same start on the same groups ({q['train']}, {q['groups']} groups 1+{q['k']} once, "
            f"{q['steps']} steps of {q['batch_size']}, lr {q['lr']:g}, {q['loss']}, {n} seeds): re-rank nDCG@10 (the start in brackets), both scored by kdnb, "
            f"paired over queries, Holm over the sets | " + '; '.join(f"{e} {' / '.join(f'{v:.4f}' for v in r['mean'].values())} ({r['start']:.4f}; {_p(r['p_holm'])})"
                                                      for e, r in q['sets'].items()) + f" | `outputs/bench/{name}` |"]

def summary_table():
    "The project's headline figures, each from its experiment's or benchmark's output files."
    rows = ["| what | figure | where |", "|---|---|---|"]
    t = _load('outputs/teacher_rerank/metrics.json'); teacher = [k for k in t if k != 'BM25'][0]
    rows.append(f"| BM25 / the MiniLM-L12 teacher, DL19 re-rank nDCG@10 | {t['BM25']['nDCG@10']:.4f} / {t[teacher]['nDCG@10']:.4f} | `outputs/teacher_rerank/` |")
    tr = _load('outputs/bench/train.json'); q = tr['quality']
    rows.append(f"| training speed, kdnb against `SentenceTransformerTrainer` ({tr['loss']}, {tr['model']}, {len(tr['runs'])} seeds, fp32) | "
                f"{tr['examples_per_s']['kdnb']} / {tr['examples_per_s']['sentence-transformers']} groups/s = {tr['ratio']:.2f}× | `outputs/bench/train.json` |")
    d, sf = q['dl19-rerank'], q['scifact-full']
    rows.append(f"| the same students' nDCG@10, kdnb / sentence-transformers: DL19 re-rank; SciFact test | "
                f"{d['mean']['kdnb']:.4f} / {d['mean']['sentence-transformers']:.4f} ({_p(d['paired_ttest_p'])}); "
                f"{sf['mean']['kdnb']:.4f} / {sf['mean']['sentence-transformers']:.4f} ({_p(sf['paired_ttest_p'])}) | `outputs/bench/train.json` |")
    pr = _load('outputs/bench/train_precision.json'); g = pr['groups_per_s']
    rows.append(f"| training in bf16 against fp32 ({pr['model']}, {pr['steps']} steps, 1 seed), kdnb; sentence-transformers | "
                f"{g['bf16']['kdnb']} / {g['fp32']['kdnb']} groups/s = {pr['bf16_over_fp32']['kdnb']:.2f}×; "
                f"{g['bf16']['sentence-transformers']} / {g['fp32']['sentence-transformers']} = {pr['bf16_over_fp32']['sentence-transformers']:.2f}× | `outputs/bench/train_precision.json` |")
    ps = _load('outputs/bench/train_precision_scifact.json'); g = ps['groups_per_s']
    rows.append(f"| training at the pipeline's settings ({ps['model']}, SciFact-train groups 1+{ps['k']}, scale {ps['scale']:g}, dropout {ps['dropout']:g}, "
                f"{ps['steps']} steps), bf16: kdnb / sentence-transformers; bf16 over fp32, kdnb; sentence-transformers | "
                f"{g['bf16']['kdnb']} / {g['bf16']['sentence-transformers']} groups/s = {ps['kdnb_bf16_over_st_best']:.2f}×; "
                f"{ps['bf16_over_fp32']['kdnb']:.2f}×; {ps['bf16_over_fp32']['sentence-transformers']:.2f}× | `outputs/bench/train_precision_scifact.json` |")
    l6 = _load('outputs/bench/train_all-MiniLM-L6-v2_seed42.json')
    rows.append(f"| training speed, {l6['model']}, 1 seed, {l6['steps']} steps | {l6['ratio']:.2f}× | `outputs/bench/train_all-MiniLM-L6-v2_seed42.json` |")
    sp = _load('outputs/bench/train_splade.json'); g = sp['groups_per_s']
    rows.append(f"| SPLADE training ({sp['model']}, {sp['steps']} steps of {sp['batch_size']} groups 1+{sp['k']}, {sp['max_length']} tokens, {sp['precision']}): "
                f"kdnb / sentence-transformers' `SparseEncoderTrainer`; kdnb's pooled head over the full logits | "
                f"{g['kdnb (pooled head)']} / {g['sentence-transformers']} groups/s = {sp['kdnb_over_st']:.2f}×; {sp['pooled_over_full']:.2f}× | `outputs/bench/train_splade.json` |")
    rows += _peer_quality_row('SPLADE', 'train_splade_quality.json', "sentence-transformers' `SparseEncoderTrainer`")
    es = _load('outputs/bench/encode_splade.json'); b = {w: {p: max(es[w][p].values()) for p in es[w]} for w in ('kdnb', 'st')}
    rows.append(f"| SPLADE encoding ({es['model']}, {es['n']} SciFact passages, {es['max_length']} tokens), best setting of each: kdnb / "
                f"sentence-transformers' `SparseEncoder.encode`, fp32; bf16 | {b['kdnb']['fp32']} / {b['st']['fp32']} passages/s = {es['ratio_best']['fp32']:.2f}×; "
                f"{b['kdnb']['bf16']} / {b['st']['bf16']} = {es['ratio_best']['bf16']:.2f}× (min cosine bf16 vs fp32 {es['min_cos_bf16_vs_fp32']:.4f}) | `outputs/bench/encode_splade.json` |")
    cb = _load('outputs/bench/train_colbert.json'); g = cb['groups_per_s']
    rows.append(f"| ColBERT training ({cb['model']}, {cb['steps']} steps of {cb['batch_size']} groups 1+{cb['k']}, passages {cb['passage_len']} tokens, "
                f"{cb['loss']}, {cb['precision']}): kdnb / PyLate's trainer{' (' + cb['note'].split(':')[0] + ')' if cb.get('note') else ''} | "
                f"{g['kdnb']} / {g['PyLate']} groups/s = {cb['kdnb_over_pylate']:.2f}×"
                + (f" (kdnb with each batch in one block: {g['kdnb, one block']})" if 'kdnb, one block' in g else '') + " | `outputs/bench/train_colbert.json` |")
    rows += _peer_quality_row('ColBERT', 'train_colbert_quality.json', "PyLate's trainer")
    for f in sorted(root.glob('outputs/bench/cross_encoder*.json'), key=lambda f: f.name != 'cross_encoder.json'):
        if f.name == 'cross_encoder_quality.json': continue
        ce = json.loads(f.read_text()); g = ce['groups_per_s']
        rows.append(f"| cross-encoder student training ({ce['student']}, {ce['train']}, {ce['steps']} steps of {ce['batch_size']} groups 1+{ce['k']}, {ce['loss']}, "
                    f"{ce['precision']}): kdnb / sentence-transformers' CrossEncoderTrainer{' (' + ce['note'] + ')' if ce.get('note') else ''}, end to end"
                    + ("; steady (first step's end to last step's end)" if 'groups_per_s_steady' in ce else '') + f" | {g['kdnb']} / {g['sentence-transformers']} "
                    f"groups/s = {ce['kdnb_over_sentence_transformers']:.2f}×" + (f"; {ce['groups_per_s_steady']['kdnb']} / {ce['groups_per_s_steady']['sentence-transformers']} "
                    f"= {ce['kdnb_over_sentence_transformers_steady']:.2f}×" if 'groups_per_s_steady' in ce else '')
                    + (f"; medians of {len(ce['round_ratios'])} rounds, end-to-end ratios " + ', '.join(f"{x:.2f}" for x in ce['round_ratios']) if 'round_ratios' in ce else '')
                    + f" | `outputs/bench/{f.name}` |")
    ce = _load('outputs/bench/cross_encoder.json'); r = ce['rerank']['pairs_per_s']
    if (root/'outputs'/'bench'/'cross_encoder_quality.json').is_file():   # written by bench_cross_encoder.py --quality
        q = _load('outputs/bench/cross_encoder_quality.json')
        rows.append(f"| cross-encoder student quality, kdnb / sentence-transformers' CrossEncoderTrainer from the same start on the same groups ({q['train']}, "
                    f"{q['steps']} steps of {q['batch_size']}, lr {q['lr']:g}, MarginMSE, {len(q['per_seed']['kdnb'])} seeds): DL19 re-rank nDCG@10, both scored by kdnb | "
                    f"{q['mean']['kdnb']:.4f} / {q['mean']['sentence-transformers']:.4f} ({_p(q['paired_ttest_p'])}) | `outputs/bench/cross_encoder_quality.json` |")
    rows.append(f"| re-ranking pairs/s, {ce['rerank']['pairs']} DL19 pairs, fp32; bf16: teacher (L12), L3 student, L6 student | "
                + '; '.join(' / '.join(str(r[f"{n} {p}"]) for n in ('teacher ms-marco-MiniLM-L-12-v2', 'student paraphrase-MiniLM-L3-v2', 'student all-MiniLM-L6-v2'))
                            for p in ('fp32', 'bf16')) + " | `outputs/bench/cross_encoder.json` |")
    m, info = _load('outputs/main/metrics.json'), _load('outputs/main/run_info.json'); c = info['config']
    rows.append(f"| the main job ({c['student']}, seed {c['seed']}, trained on {c['train']}): SciFact test; DL19 re-rank nDCG@10 | "
                f"{m['scifact-full']['student before']['nDCG@10']:.4f} → {m['scifact-full']['student after']['nDCG@10']:.4f}; "
                f"{m['dl19-rerank']['student before']['nDCG@10']:.4f} → {m['dl19-rerank']['student after']['nDCG@10']:.4f} "
                f"(chosen on dev: step {info['best_step']}, α = {info['interpolation']['alpha'] if 'interpolation' in info else 1}; "
                f"{info['timings']['train_s']/60:.1f} min training, {info['timings']['total_s']/60:.1f} min in all) | `outputs/main/` |")
    return '\n'.join(rows)

def distill_table():
    "The distillation gain over seeds for each student, from outputs/{gain*,colbert,splade}/gain.json (written by kdnb.pipeline.distill_seeds)."
    from kdnb.pipeline import gain_table
    files = sorted(root.glob('outputs/gain*/gain.json')) + [p for p in (root/'outputs'/'colbert'/'gain.json', root/'outputs'/'splade'/'gain.json') if p.is_file()]
    gs = [json.loads(g.read_text()) for g in files]
    if not gs: sys.exit("outputs/gain*/gain.json are missing: the README's distillation table is generated from them")
    return ("nDCG@10. p: paired t-test over queries of each query's nDCG@10 averaged over the seeds "
            f"({'; '.join(', '.join(map(str, g['seeds'])) for g in gs)}), after against before; Holm: corrected over the test sets; "
            "▲/▼: a significant gain/loss.\n\n" + gain_table(gs))

def tuning_table():
    "The tuning trials on dev, from outputs/tuning/ (kdnb.pipeline.trials_table)."
    from kdnb.pipeline import trials_table
    return trials_table(root/'outputs'/'tuning').round(4).to_markdown()

def _test_rows(ts) -> list[str]:
    "A markdown table of paired tests (a studies' tests.csv): each row's difference, ▲/▼ where Holm-significant, and p."
    rows = ["| a | b | set | Δ nDCG@10 | p (Holm) |", "|---|---|---|---:|---:|"]
    for _, r in ts.iterrows():
        mark = ('▲' if r.delta > 0 else '▼') if r.p_holm < 0.05 else ''
        rows.append(f"| {r.a} | {r.b} | {r.set} | {r.delta:+.4f} {mark} | {_p(r.p_holm)} |")
    return rows

def objectives_table():
    "The cross-encoder objectives study, from outputs/objectives/<transfer>/ (nbs/experiments/objectives.ipynb)."
    import pandas as pd
    base = root/'outputs'/'objectives'; parts = []
    from kdnb.studies import TRANSFER_SETS, grid_dev
    for d in sorted(p for p in base.iterdir() if (p/'table.csv').is_file()) if base.is_dir() else []:
        g, tb = json.loads((d/'grid.json').read_text()), pd.read_csv(d/'table.csv')
        ts = pd.read_csv(d/'tests.csv') if (d/'tests.csv').stat().st_size > 1 else pd.DataFrame(columns=['a', 'b', 'set', 'delta', 'p_holm'])
        m = _load(str(next(d.glob('*/seed*/metrics.json')).relative_to(root)))
        st = list(dict.fromkeys(tb.student)); sets = list(dict.fromkeys(tb.set))
        short = {x: x.split('-')[-2] if x.count('-') >= 2 else x for x in st}   # paraphrase-MiniLM-L3-v2 -> L3
        before = {x: json.loads(next(d.glob(f"student-{x}_*/seed*/metrics.json")).read_text()) for x in st}   # the same for every run of x
        ref = '; '.join(f"{e}: BM25 {m[e]['BM25']['nDCG@10']:.4f}, teacher {m[e]['teacher (MiniLM-L12 CE)']['nDCG@10']:.4f}, before training (new head) "
                        + ', '.join(f"{short[x]} {before[x][e]['student before']['nDCG@10']:.4f}" for x in st) for e in m)
        lr = g.get('tied', {}).get('loss')
        lrs = ', '.join(f"{k} {v['lr']:g}" for k, v in lr.items()) if lr else f"{g['base']['lr']:g} for all"
        rows = ["| objective | " + ' | '.join(f"{short[x]} {e}" for e in sets for x in st) + " |", "|---" + "|---:" * (len(st) * len(sets)) + "|"]
        for l in [l for l in g['factors']['loss'] if l in set(tb.loss)]:   # the study's order
            cells = []
            for e in sets:
                for x in st:
                    r = tb[(tb.loss == l) & (tb.student == x) & (tb.set == e)]
                    sd = '' if not len(r) or pd.isna(r['sd'].iloc[0]) else f" ± {r['sd'].iloc[0]:.4f}"
                    cells.append(f"{r['mean'].iloc[0]:.4f}{sd} ({int(r['seeds'].iloc[0])})" if len(r) else '')
            rows.append(f"| `{l}` | " + ' | '.join(cells) + " |")
        tests = _test_rows(ts)
        # where each student sits: its objective chosen on dev (mean dev nDCG@10 over seeds), against the teacher, with re-ranking speeds
        dv = grid_dev(d).groupby(['student', 'loss'])['dev nDCG@10'].mean()
        ce = _load('outputs/bench/cross_encoder.json')['rerank']['pairs_per_s']; prec = 'bf16' if any(k.endswith('bf16') for k in ce) else 'fp32'
        t_rate = ce[f"teacher ms-marco-MiniLM-L-12-v2 {prec}"]
        sits = ["| re-ranker | objective (chosen on dev) | " + ' | '.join(f"{e} nDCG@10" for e in sets) + f" | pairs/s ({prec}) | speed vs teacher |",
                "|---|---|" + "---:|" * (len(sets) + 2)]
        sits.append("| teacher (MiniLM-L12 CE) | | " + ' | '.join(f"{m[e]['teacher (MiniLM-L12 CE)']['nDCG@10']:.4f}" for e in sets) + f" | {t_rate} | 1.00× |")
        for x in st:
            l = dv[x].idxmax(); rate = ce.get(f"student {x} {prec}")
            vals = [tb[(tb.loss == l) & (tb.student == x) & (tb.set == e)]['mean'] for e in sets]
            sits.append(f"| {x} + head | `{l}` | " + ' | '.join(f"{v.iloc[0]:.4f}" if len(v) else '' for v in vals)
                        + f" | {rate if rate else ''} | {f'{rate / t_rate:.2f}×' if rate else ''} |")
        parts.append(f"**Trained on {TRANSFER_SETS.get(d.name, {}).get('title', d.name)}** (`outputs/objectives/{d.name}/`). Learning rate of each objective, chosen on dev: "
                     f"{lrs}. nDCG@10, mean ± sd over seeds (seeds in brackets); for reference, {ref}.\n\n" + '\n'.join(rows)
                     + f"\n\nPaired t-tests over queries (each query's nDCG@10 averaged over seeds), Holm-corrected over the {len(ts)} rows; "
                       "▲/▼: significant.\n\n" + '\n'.join(tests)
                     + "\n\nWhere the students sit: each student with the objective its dev runs rank first, against the teacher; re-ranking "
                       "speed on the same CPU from `outputs/bench/cross_encoder.json`.\n\n" + '\n'.join(sits) + _objectives_control(d.name))
    if not parts: sys.exit("outputs/objectives/*/table.csv are missing: the README's objectives table is generated from them")
    return '\n\n'.join(parts)

def _objectives_control(t:str) -> str:
    "The learning-rate control of transfer set t's objectives study (outputs/objectives/same_lr/<t>/, `control_of`), or nothing before it has run."
    import pandas as pd
    d = root/'outputs'/'objectives'/'same_lr'/t
    if not (d/'control_tests.csv').is_file(): return ''
    g, tb, ts = json.loads((d/'grid.json').read_text()), pd.read_csv(d/'table.csv'), pd.read_csv(d/'control_tests.csv')
    cells = '; '.join(f"`{r.loss}` {r.student} {r.set} {r['mean']:.4f} ± {r.sd:.4f} ({int(r.seeds)})" for _, r in tb.iterrows())
    rows = _test_rows(ts)
    return (f"\n\n*Learning-rate control* (`outputs/objectives/same_lr/{t}/`): {', '.join(f'`{l}`' for l in g['factors']['loss'])} "
            f"retrained at lr {g['base']['lr']:g}, the rate of the others, {len(g['seeds'])} seeds: {cells}. Each against the others "
            f"at the same rate and against itself at the rate dev chose, Holm over the {len(ts)} rows:\n\n" + '\n'.join(rows))

def sampling_table():
    "The sampling study, from outputs/sampling_study/<transfer>/ (nbs/experiments/sampling_study.ipynb)."
    import pandas as pd
    base = root/'outputs'/'sampling_study'; parts = []
    from kdnb.studies import TRANSFER_SETS
    for d in sorted(p for p in base.iterdir() if (p/'table.csv').is_file()) if base.is_dir() else []:
        tset = TRANSFER_SETS.get(d.name, {}); name, home = tset.get('title', d.name), tset.get('in_domain')
        g, tb = json.loads((d/'grid.json').read_text()), pd.read_csv(d/'table.csv', dtype={'k': str})
        read = lambda f, cols: pd.read_csv(d/f) if (d/f).stat().st_size > 1 else pd.DataFrame(columns=cols)   # a grid with one cell has no test
        ts, sv = read('tests.csv', ['a', 'b', 'set', 'delta', 'p_holm']), read('stats_vs_quality.csv', ['set', 'diagnostic', 'rho', 'p', 'cells'])
        gs = pd.read_csv(d/'group_stats.csv', dtype={'k': str}).groupby(['sampler', 'k'])[['var_ratio', 'H_gap', 'best_step']].mean()
        infos = [json.loads(f.read_text()) for f in sorted(d.glob('*/seed*/run_info.json'))]
        m = infos[0]['metrics']; sets = [e for e in m if e in set(tb.set)]
        def before(e):   # the untrained student, per precision of the runs (bf16 and fp32 machines differ in the 4th decimal)
            by = {}
            for r in infos: by.setdefault(r['settings']['precision'], []).append(r['metrics'][e]['student before']['nDCG@10'])
            return ' / '.join(f"{min(v):.4f}{'' if f'{min(v):.4f}' == f'{max(v):.4f}' else f'–{max(v):.4f}'} ({p})" for p, v in sorted(by.items()))
        ref = '; '.join(f"{e}{' (in domain)' if e == home else ''}: BM25 {m[e]['BM25']['nDCG@10']:.4f}, the student before training {before(e)}" for e in sets)
        rows = ["| sampler | k | " + ' | '.join(sets) + " | variance ratio | entropy gap | step chosen |", "|---|---:|" + "---:|" * (len(sets) + 3)]
        for smp in g['factors']['sampler']:
            for k in map(str, g['factors']['k']):
                r = tb[(tb.sampler == smp) & (tb.k == k)].set_index('set')
                if not len(r): continue
                cells = [f"{r['mean'][e]:.4f}{'' if pd.isna(r['sd'][e]) else f' ± {r.sd[e]:.4f}'} ({int(r.seeds[e])})" if e in r.index else '' for e in sets]
                q = gs.loc[(smp, k)]
                rows.append(f"| `{smp}` | {k} | " + ' | '.join(cells) + f" | {q.var_ratio:.3f} | {q.H_gap:+.3f} | {q.best_step:.0f} |")
        sig = ts[ts.p_holm < 0.05]
        # every test, as a matrix: Δ (a − b) with its 95% interval, so "at least as good" can be read off where nothing is significant
        tests = ["| a − b | " + ' | '.join(sets) + " |", "|---|" + "---:|" * len(sets)]
        for (a, b), r in ts.groupby(['a', 'b'], sort=False):
            r = r.set_index('set')
            tests.append(f"| {a.split('=')[1].split()[0]} − {b.replace('sampler=', '')} | " + ' | '.join(
                (f"{'**' if r.p_holm[e] < 0.05 else ''}{r.delta[e]:+.3f}{'**' if r.p_holm[e] < 0.05 else ''} [{r.ci_low[e]:+.3f}, {r.ci_high[e]:+.3f}]"
                 if e in r.index else '') for e in sets) + " |")
        cor = ["| set | diagnostic | Spearman ρ | p | cells |", "|---|---|---:|---:|---:|"] + [
            f"| {r.set} | {r.diagnostic} | {r.rho:+.3f} | {r.p:.3g} | {int(r.cells)} |" for _, r in sv.dropna(subset=['rho']).iterrows()]
        total = len(g['seeds']) * math.prod(len(v) for v in g['factors'].values()); done = len(list(d.glob('*/seed*/run_info.json')))
        b, steps = g['base'], pd.read_csv(d/'group_stats.csv').best_step
        est = read('estimate.csv', ['runs', 'hours'])   # what is left, as the last slice (or run_left) estimated it
        left = '' if done == total else (' (it runs seed by seed and resumes where it stopped' + (
            f"; the {int(est.runs.sum())} runs left are estimated at {est.hours.sum():.0f} hours one after another on the machine that "
            f"last estimated them, `estimate.csv`)" if len(est) else ')'))
        tune = base/f"{d.name}_tune"/'dev.csv'   # the trials that chose this transfer set's regime, on dev
        tuned = '' if not tune.is_file() else (f" The regime was chosen on dev, seed 42, k = 4 (`{tune.relative_to(root)}`):\n\n"
                                               + pd.read_csv(tune).to_markdown(index=False) + "\n\n")
        parts.append(f"**Trained on {name}** (`outputs/sampling_study/{d.name}/`; plots `samplers.png`, `ndcg_vs_stats.png`), `{b['loss']}` at lr {b['lr']:g}, "
                     f"{b['epochs']} epoch{'s' if b['epochs'] > 1 else ''} of {b['rounds']} groups per query; dev kept the student before training (step 0) in "
                     f"{int((steps == 0).sum())} of {len(steps)} runs.{tuned or ' '}"
                     f"{done} of the grid's {total} runs finished{left}. nDCG@10, mean ± sd "
                     f"over seeds (seeds in brackets), and what the cell's training groups kept of the teacher's scores (mean over seeds); "
                     f"for reference, {ref}.\n\n" + '\n'.join(rows)
                     + f"\n\n`{g['factors']['sampler'][0]}` against each other sampler at the same k: {len(ts)} paired t-tests over queries "
                       f"(seeds averaged), Holm-corrected, {len(sig)} significant (in bold); Δ nDCG@10 and its 95% interval (before correction):\n\n" + '\n'.join(tests)
                     + "\n\nDoes what the groups keep predict the student? Rank correlation across cells of the mean nDCG@10 with the groups' "
                       "variance ratio and entropy gap:\n\n" + '\n'.join(cor))
    if not parts: sys.exit("outputs/sampling_study/*/table.csv are missing: the README's sampling-study table is generated from them")
    return '\n\n'.join(parts)

def frontier_table(name):
    "One experiment of issue 14, from outputs/frontier/<name>/ (nbs/experiments/<name>.ipynb): dev tuning, nDCG@10 per arm, references, paired tests."
    import pandas as pd
    d = root/'outputs'/'frontier'/name
    if not (d/'table.csv').is_file(): sys.exit(f"outputs/frontier/{name}/table.csv is missing: the README's table is generated from it")
    g, tb = json.loads((d/'grid.json').read_text()), pd.read_csv(d/'table.csv', keep_default_na=False)
    arm = 'arm' if 'arm' in tb else 'loss'; sets = list(dict.fromkeys(tb.set)); parts = []
    if (d/'tune'/'dev.csv').is_file():
        dv = pd.read_csv(d/'tune'/'dev.csv'); tied = json.dumps(g['tied'])
        parts.append("Tuned on dev (one run each, no test set): " + ', '.join(
            f"{r.loss_kwargs} → {r['dev nDCG@10']:.4f}{' (chosen)' if json.dumps(r.loss_kwargs)[1:-1] in tied else ''}" for _, r in dv.iterrows()) + '.')
    rows = [f"| {arm} | " + ' | '.join(sets) + ' |', '|---|' + '---:|' * len(sets)]
    for a in dict.fromkeys(tb[arm]):
        r = tb[tb[arm] == a].set_index('set')
        rows.append(f"| {a or '(none)'} | " + ' | '.join(f"{r['mean'][e]:.4f}" + (f" ± {float(r.sd[e]):.4f}" if str(r.sd[e]) not in ('', 'nan') else '')
                                                     + f" ({int(r.seeds[e])})" for e in sets) + ' |')
    if (d/'references.csv').is_file(): ref = pd.read_csv(d/'references.csv', index_col=0)
    else:
        m = json.loads(next(d.glob('*/seed*/metrics.json')).read_text())
        ref = pd.DataFrame({e: {s: m[e][s]['nDCG@10'] for s in ('BM25', 'student before')} for e in sets if e in m})
    for s_, r in ref.iterrows(): rows.append(f"| *{s_}* | " + ' | '.join(f"*{r[e]:.4f}*" if e in r else '' for e in sets) + ' |')
    total = len(g['seeds']) * (len(g['factors']) if isinstance(g['factors'], list) else math.prod(len(v) for v in g['factors'].values()))
    done = len(list(d.glob('*/seed*/run_info.json')))
    parts.append(f"nDCG@10, mean ± sd over seeds (seeds in brackets), {done} of {total} runs; in italics, the references "
                 f"(`outputs/frontier/{name}/`, plot `{name}.png`):\n\n" + '\n'.join(rows))
    if (d/'budget.csv').is_file() and (d/'budget.csv').stat().st_size > 1:   # what each arm's key cost the teacher (online distillation)
        b = pd.read_csv(d/'budget.csv'); m = b.groupby('arm', sort=False)[['pairs', 'scored_here', 'from_published', 'fresh_scored_here', 'steps']].mean()
        parts.append("The teacher's budget, each arm's key at the end (mean over its runs): pairs, those the teacher scored in the run (the "
                     "fresh ones among them) and those read from the published key; and the training steps.\n\n"
                     "| arm | pairs | scored in the run | of them fresh | from the published key | steps |\n|---|---:|---:|---:|---:|---:|\n"
                     + '\n'.join(f"| {a} | {r.pairs:,.0f} | {r.scored_here:,.0f} | {r.fresh_scored_here:,.0f} | {r.from_published:,.0f} | {r.steps:.0f} |" for a, r in m.iterrows()))
    if (d/'tests.csv').is_file() and (d/'tests.csv').stat().st_size > 1:
        ts = pd.read_csv(d/'tests.csv'); same = 'nearly_same' in ts
        t = [f"| a | b | set | Δ nDCG@10 [95% interval] | p (Holm) |{' nearly the same |' if same else ''}", '|---|---|---|---:|---:|' + ('---|' if same else '')]
        t += [f"| {r.a} | {r.b} | {r.set} | {r.delta:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]{(' ▲' if r.delta > 0 else ' ▼') if r.p_holm < 0.05 else ''} | "
              f"{_p(r.p_holm)} |" + (f" {'yes' if r.nearly_same else 'no'} |" if same else '') for _, r in ts.iterrows()]
        parts.append(f"Paired t-tests over queries (each query's nDCG@10 averaged over seeds), Holm-corrected over the {len(ts)} rows; "
                     "▲/▼: significant.\n\n" + '\n'.join(t))
    return '\n\n'.join(parts)

TABLES = {'sampling': sampling_table, 'objectives': objectives_table, 'teacher': teacher_table, 'encode': encode_table, 'keys': keys_table, 'summary': summary_table, 'distill': distill_table,
          'tuning': tuning_table, 'teacher_free': lambda: frontier_table('teacher_free'), 'self_distill': lambda: frontier_table('self_distill'),
          'multitask': lambda: frontier_table('multitask'), 'online': lambda: frontier_table('online')}

def fill(md):
    return re.sub(r'^\{\{results:(\w+)\}\}$', lambda m: TABLES[m.group(1)](), md, flags=re.M)

nb = json.loads((root/'nbs'/'index.ipynb').read_text())
out = []
for c in nb['cells']:
    src = ''.join(c['source'])
    if c['cell_type'] == 'markdown': out.append(fill(src))
    elif c['cell_type'] == 'code':
        if re.search(r'^#\|\s*hide', src, re.M): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if code: out.append(f"```python\n{code}\n```")
text = '\n\n'.join(out).rstrip() + '\n'
readme = root/'README.md'
if '--check' in sys.argv:
    if readme.read_text() != text: sys.exit("README.md is out of step with nbs/index.ipynb or outputs/: run python scripts/make_readme.py")
else: readme.write_text(text)
