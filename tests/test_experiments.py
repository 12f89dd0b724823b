"Smoke runs of the papermill experiments, on a handful of real queries."
import json, pytest, papermill as pm
from kdnb.core import project_root

def test_teacher_rerank_smoke(tmp_path, data_root):
    out = tmp_path/'out'
    pm.execute_notebook(str(project_root()/'nbs/experiments/teacher_rerank.ipynb'), str(tmp_path/'run.ipynb'),
                        parameters=dict(n_queries=3, out_dir=str(out)), progress_bar=False, kernel_name='python3')
    m = json.loads((out/'metrics.json').read_text())
    assert set(m) == {'BM25', 'ms-marco-MiniLM-L-12-v2'}
    for s in m: assert set(m[s]) == {'nDCG@10', 'RR(rel=2)@10', 'R(rel=2)@100'}
    # Re-ranking a top-100 cannot change recall at 100; the teacher lifts nDCG@10 on these queries.
    assert m['BM25']['R(rel=2)@100'] == pytest.approx(m['ms-marco-MiniLM-L-12-v2']['R(rel=2)@100'])
    assert m['ms-marco-MiniLM-L-12-v2']['nDCG@10'] > m['BM25']['nDCG@10']
    info = json.loads((out/'run_info.json').read_text())
    assert info['pairs'] == 300 and info['parameters']['max_length'] == 256
    for f in ('results.md', 'results.csv', 'per_query_ndcg10.png', 'ndcg10_ci.png'): assert (out/f).stat().st_size > 0

def test_objectives_smoke(tmp_path, data_root):
    "The objectives runner on a tiny grid: two objectives, one seed, two steps; a second run resumes and trains nothing."
    out = tmp_path/'obj'
    params = dict(out_dir=str(out), students='paraphrase-MiniLM-L3-v2', losses='bce,margin_mse', seeds='42', transfers='dl', k=2, max_steps=2,
                  batch_size=4, query_max_len=16, passage_max_len=48, eval_sets='dl19-rerank', rounds=1, tune_lrs='1e-5,1e-4')
    pm.execute_notebook(str(project_root()/'nbs/experiments/objectives.ipynb'), str(tmp_path/'run.ipynb'), parameters=params,
                        progress_bar=False, kernel_name='python3')
    import pandas as pd
    tb = pd.read_csv(out/'dl'/'table.csv')
    assert set(tb.loss) == {'bce', 'margin_mse'} and (tb.seeds == 1).all() and tb['mean'].between(0, 1).all()
    ts = pd.read_csv(out/'dl'/'tests.csv')
    assert list(ts.a) == ['student=paraphrase-MiniLM-L3-v2 loss=margin_mse'] and (ts.p_holm >= ts.p).all()
    assert (out/'dl'/'objectives.png').stat().st_size > 0 and (out/'dl'/'estimate.csv').is_file()
    runs = sorted(p.parent.parent.name for p in (out/'dl').glob('*/seed42/run_info.json'))
    assert runs == ['student-paraphrase-MiniLM-L3-v2_loss-bce', 'student-paraphrase-MiniLM-L3-v2_loss-margin-mse']
    pm.execute_notebook(str(project_root()/'nbs/experiments/objectives.ipynb'), str(tmp_path/'again.ipynb'), parameters=params,
                        progress_bar=False, kernel_name='python3')
    dev = pd.read_csv(out/'dl'/'tune'/'dev.csv')   # the learning rate of each objective, chosen on dev (no test set run)
    assert sorted(zip(dev.loss, dev.lr)) == [('bce', 1e-5), ('bce', 1e-4), ('margin_mse', 1e-5), ('margin_mse', 1e-4)]
    assert not list((out/'dl'/'tune').glob('*/seed42/per_query.csv'))
    tied = json.loads((out/'dl'/'grid.json').read_text())['tied']['loss']
    for l, t in tied.items():   # the best dev run of each objective (ties: the first rate tried)
        d = dev[dev.loss == l].reset_index(drop=True); assert t['lr'] == d.lr[d['dev nDCG@10'].idxmax()]
    assert (tmp_path/'again.ipynb').read_text().count(' 0 to run') == 2   # the tuning grid and the study: nothing left
    (out/'dl'/'table.csv').unlink()
    pm.execute_notebook(str(project_root()/'nbs/experiments/objectives.ipynb'), str(tmp_path/'report.ipynb'), parameters={**params, 'report_only': True},
                        progress_bar=False, kernel_name='python3')
    assert 'to run' not in (tmp_path/'report.ipynb').read_text() and (out/'dl'/'table.csv').is_file()   # tables only, no run started
    pm.execute_notebook(str(project_root()/'nbs/experiments/objectives.ipynb'), str(tmp_path/'est.ipynb'), parameters={**params, 'seeds': '43', 'estimate_only': True},
                        progress_bar=False, kernel_name='python3')
    est = (tmp_path/'est.ipynb').read_text()   # tuning finished: the study's cost at the rates dev chose, a second seed neither recorded nor run
    assert 'h for the 0 runs of this call' in est and 'h for the 2 runs of this call' in est
    assert json.loads((out/'dl'/'grid.json').read_text())['seeds'] == [42] and not list((out/'dl').glob('*/seed43'))

def test_sampling_study_smoke(tmp_path, data_root):
    "The sampling-study runner on a tiny grid: two samplers, one k, one seed, two steps; tests, diagnostics and plots; a slice run again trains nothing and reports the whole grid."
    out = tmp_path/'ss'
    params = dict(out_dir=str(out), samplers='stratified,topk', ks='2', seeds='42', transfers='dl', max_steps=2, batch_size=4, rounds=1,
                  passage_max_len=48, eval_sets='cranfield-full')
    nb = str(project_root()/'nbs/experiments/sampling_study.ipynb')
    pm.execute_notebook(nb, str(tmp_path/'run.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')
    import pandas as pd
    tb = pd.read_csv(out/'dl'/'table.csv')
    assert sorted(tb.sampler) == ['stratified', 'topk'] and (tb.seeds == 1).all() and tb['mean'].between(0, 1).all()
    ts = pd.read_csv(out/'dl'/'tests.csv')
    assert list(ts.a) == ['sampler=stratified k=2'] and list(ts.b) == ['sampler=topk k=2'] and (ts.p_holm >= ts.p).all()
    gs = pd.read_csv(out/'dl'/'group_stats.csv').set_index('sampler')
    assert gs.var_ratio['topk'] < gs.var_ratio['stratified']   # top-K keeps less of the teacher's variance than stratified
    sv = pd.read_csv(out/'dl'/'stats_vs_quality.csv')
    assert list(sv.diagnostic) == ['var_ratio', 'H_gap'] and (sv.cells == 2).all()
    assert (out/'dl'/'samplers.png').stat().st_size > 0 and (out/'dl'/'ndcg_vs_stats.png').stat().st_size > 0
    pm.execute_notebook(nb, str(tmp_path/'again.ipynb'), parameters={**params, 'samplers': 'topk'}, progress_bar=False, kernel_name='python3')
    assert (tmp_path/'again.ipynb').read_text().count(' 0 to run') == 1   # a slice of the grid, finished: nothing runs
    tb2, ts2 = pd.read_csv(out/'dl'/'table.csv'), pd.read_csv(out/'dl'/'tests.csv')   # and its report still covers the whole grid
    assert sorted(tb2.sampler) == ['stratified', 'topk'] and list(ts2.a) == ['sampler=stratified k=2'] and list(ts2.b) == ['sampler=topk k=2']
    pm.execute_notebook(nb, str(tmp_path/'est.ipynb'), parameters={**params, 'seeds': '43', 'estimate_only': True}, progress_bar=False, kernel_name='python3')
    est = (tmp_path/'est.ipynb').read_text()   # the cost of a second seed: estimated, neither recorded nor run
    assert 'h for the 2 runs of this call' in est and json.loads((out/'dl'/'grid.json').read_text())['seeds'] == [42]
    assert not list((out/'dl').glob('*/seed43'))

def test_teacher_free_smoke(tmp_path, data_root):
    "The teacher-free margins experiment on a tiny grid: two margins tuned on dev, both arms, one seed, two steps."
    out = tmp_path/'tf'
    params = dict(out_dir=str(out), margins='1,10', seeds='42', max_steps=2, batch_size=4, rounds=1, train='dl21-bm25', dev='dl21-bm25',
                  passage_max_len=48, eval_sets='cranfield-full')
    pm.execute_notebook(str(project_root()/'nbs/experiments/teacher_free.ipynb'), str(tmp_path/'run.ipynb'), parameters=params,
                        progress_bar=False, kernel_name='python3')
    import pandas as pd
    dev = pd.read_csv(out/'tune'/'dev.csv'); assert len(dev) == 2 and not list((out/'tune').glob('*/seed42/per_query.csv'))   # dev only
    tied = json.loads((out/'grid.json').read_text())['tied']['loss']
    assert tied['margin_mse'] == {'loss_kwargs': ''} and tied['constant_margin_mse']['loss_kwargs'] == dev.loss_kwargs[dev['dev nDCG@10'].idxmax()]
    tb = pd.read_csv(out/'table.csv'); assert sorted(tb.loss) == ['constant_margin_mse', 'margin_mse']
    ts = pd.read_csv(out/'tests.csv'); assert (ts.ci_low <= ts.delta).all() and (ts.delta <= ts.ci_high).all() and 'nearly_same' in ts
    assert (out/'teacher_free.png').stat().st_size > 0

def test_self_distill_smoke(tmp_path, data_root):
    "The self-distillation experiment on a tiny grid: two vector weights tuned on dev, the three arms, one seed, two steps; a second run trains nothing."
    out = tmp_path/'sd'
    params = dict(out_dir=str(out), weights='1,10', seeds='42', max_steps=2, batch_size=4, rounds=1, k=2, train='dl21-bm25', dev='dl21-bm25',
                  passage_max_len=48, eval_sets='cranfield-full')
    nb = str(project_root()/'nbs/experiments/self_distill.ipynb')
    pm.execute_notebook(nb, str(tmp_path/'run.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')
    import pandas as pd
    dev = pd.read_csv(out/'tune'/'dev.csv'); assert len(dev) == 2 and not list((out/'tune').glob('*/seed42/per_query.csv'))   # dev only
    tied = json.loads((out/'grid.json').read_text())['tied']['loss']
    assert tied['margin_mse'] == {'loss_kwargs': ''} and tied['vector_mse']['loss_kwargs'] == dev.loss_kwargs[dev['dev nDCG@10'].idxmax()]
    tb = pd.read_csv(out/'table.csv', keep_default_na=False)
    assert list(tb.arm) == ['CE scores', 'self: scores', 'self: scores + vectors'] and (tb.seeds == 1).all()
    info = json.loads(next((out/'teacher-all-MiniLM-L6-v2_loss-vector-mse').glob('seed42/run_info.json')).read_text())
    assert info['training_sets']['dl21-bm25']['teacher'].startswith('all-MiniLM-L6-v2 x20')   # the bi-encoder's scores, not the cross-encoder's
    assert json.loads((out/'teacher-none_loss-margin-mse'/'seed42'/'run_info.json').read_text())['training_sets']['dl21-bm25']['teacher'] != info['training_sets']['dl21-bm25']['teacher']
    refs = pd.read_csv(out/'references.csv', index_col=0)
    assert set(refs.index) == {'BM25', 'the 3-layer cut, untrained', 'teacher all-MiniLM-L6-v2'}
    ts = pd.read_csv(out/'tests.csv'); assert len(ts) == 3 and (ts.p_holm >= ts.p).all()
    assert (out/'self_distill.png').stat().st_size > 0
    pm.execute_notebook(nb, str(tmp_path/'again.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')
    assert (tmp_path/'again.ipynb').read_text().count(' 0 to run') == 2   # the tuning grid and the arms: nothing left

def test_multitask_smoke(tmp_path, data_root):
    "The multi-task experiment on a tiny grid: the four arms, one seed, two steps; MLM's loss logged where it is on, and nowhere else."
    out = tmp_path/'mt'
    params = dict(out_dir=str(out), seeds='42', max_steps=2, batch_size=4, rounds=1, k=2, train='dl21-bm25', dev='dl21-bm25', eval_sets='cranfield-full',
                  passage_max_len=48, mlm=0.5, contrastive=0.2)
    pm.execute_notebook(str(project_root()/'nbs/experiments/multitask.ipynb'), str(tmp_path/'run.ipynb'), parameters=params,
                        progress_bar=False, kernel_name='python3')
    import pandas as pd
    tb = pd.read_csv(out/'table.csv'); assert list(tb.arm) == ['distillation', '+ contrastive', '+ MLM', '+ both'] and (tb.seeds == 1).all()
    ts = pd.read_csv(out/'tests.csv'); assert list(ts.a) == ['+ contrastive', '+ MLM', '+ both'] and set(ts.b) == {'distillation'}
    for cell, has_mlm in (('loss-margin-mse_mlm-0.0', False), ('loss-margin-mse_mlm-0.5', True), ('loss-margin-mse-inbatch_mlm-0.5', True)):
        log = [json.loads(l) for l in (out/cell/'seed42'/'run'/'log.jsonl').read_text().splitlines()]
        assert any('aux' in r for r in log) == has_mlm
    info = json.loads((out/'loss-margin-mse-inbatch_mlm-0.0'/'seed42'/'run_info.json').read_text())
    assert info['config']['loss_kwargs'] == '{"weight": 0.2}'
    assert (out/'multitask.png').stat().st_size > 0

def test_online_smoke(tmp_path, data_root):
    "The online-distillation experiment on a tiny grid: both arms, two stages of two steps, one online round; the keys' budget recorded; a second run trains nothing."
    out = tmp_path/'on'
    params = dict(out_dir=str(out), seeds='42', base=10, fresh=1, stages=2, max_steps=2, batch_size=4, passage_max_len=64, train_queries=30,
                  dev='dl21-bm25', eval_sets='cranfield-full')   # a re-ranked dev set: SciFact-train's dev queries would encode the SciFact corpus at each evaluation
    nb = str(project_root()/'nbs/experiments/online.ipynb')
    pm.execute_notebook(nb, str(tmp_path/'run.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')
    import pandas as pd
    tb = pd.read_csv(out/'table.csv'); assert list(tb.arm) == ['static: BM25 top 11', "online: BM25 top 10 + 1 x 1 of the student's"] and (tb.seeds == 1).all()
    b = pd.read_csv(out/'budget.csv').set_index('arm')
    assert (b.steps == 4).all() and b.fresh_scored_here.iloc[0] == 0 and b.fresh_scored_here.iloc[1] > 0   # only the online arm asks the teacher for fresh pairs
    assert abs(b.pairs.iloc[0] - b.pairs.iloc[1]) < 0.1 * b.pairs.iloc[0]                                  # the same budget, up to positives at rank 11
    info = json.loads((out/'candidates-10_fresh-1'/'seed42'/'run_info.json').read_text())
    assert [r['round'] for r in info['key']['rounds']] == [0, 1] and len(info['stages']) == 2
    assert not (out/'candidates-10_fresh-1'/'seed42'/'run'/'stage0'/'last').exists()                     # checkpoints dropped, reports kept
    ts = pd.read_csv(out/'tests.csv'); assert len(ts) == 1 and ts.a[0].startswith('online')
    assert (out/'online.png').stat().st_size > 0
    pm.execute_notebook(nb, str(tmp_path/'again.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')
    assert (tmp_path/'again.ipynb').read_text().count(' 0 to run') == 1
