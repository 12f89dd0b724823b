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
