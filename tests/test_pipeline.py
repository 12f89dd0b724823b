"The pipeline: bad input stops before any work; smoke runs of the main job and the seeds experiment on tiny settings."
import json, pytest, papermill as pm
from kdnb.core import InputError, project_root
from kdnb.pipeline import DistillConfig, distill, distill_seeds, prepare

TINY = dict(train='dl21-bm25', dev='dl21-bm25', guard='', alphas='0.5', eval_sets='cranfield-full', max_steps=2, batch_size=4, k=2, rounds=1, passage_max_len=64)

@pytest.mark.parametrize('bad, msg', [
    (dict(train='msmarco'), "unknown training set 'msmarco'"),
    (dict(train='dl19-bm25'), 'is a test set'),
    (dict(dev='dl19-bm25', eval_sets='cranfield-full,dl19-rerank'), "dev set dl19-bm25 overlaps the test set 'dl19-rerank'"),
    (dict(train='dl21-bm25,dl22-bm25', weights='1,2,3'), '3 mixing weights [1.0, 2.0, 3.0] for 2 training sets'),
    (dict(eval_sets='scifact'), "unknown evaluation set 'scifact'"),
    (dict(positives='human'), 'positives must be one of'),
    (dict(guard='dl21-bm25'), 'guard set dl21-bm25 is a training set'),
    (dict(alphas='0.5,1.5'), 'alphas must lie in [0, 1]'),
    (dict(train_queries=-5), 'training queries must be 0 (all) or more'),
])
def test_bad_input_stops_before_work(tmp_path, data_root, bad, msg):
    with pytest.raises(InputError) as e: distill(tmp_path/'run', **{**TINY, **bad})
    assert msg in str(e.value) and not (tmp_path/'run').exists()

def test_not_a_student(tmp_path, data_root):
    (tmp_path/'model').mkdir(); (tmp_path/'model'/'notes.txt').write_text('not a model')
    with pytest.raises(InputError) as e: distill(tmp_path/'run', **TINY, student=str(tmp_path/'model'))
    assert 'is not a student' in str(e.value) and str(tmp_path/'model') in str(e.value) and not (tmp_path/'run').exists()

def _run(nb, out, **params):
    pm.execute_notebook(str(project_root()/'nbs'/'experiments'/nb), str(out/'run.ipynb'), parameters=params, progress_bar=False, kernel_name='python3')

def test_main_job_smoke(tmp_path, data_root):
    out = tmp_path/'main'; out.mkdir()
    _run('distill.ipynb', out, out_dir=str(out), **TINY)
    info = json.loads((out/'run_info.json').read_text())
    assert info['train']['step'] == 2 and info['config']['train'] == 'dl21-bm25' and set(info['metrics']) == {'cranfield-full'}
    assert {'BM25', 'student before', 'student after'} <= set(info['metrics']['cranfield-full'])
    assert [r['alpha'] for r in info['interpolation']['table']] == [0.0, 0.5, 1.0]
    assert 'Protocol' in (out/'report.md').read_text()
    from sentence_transformers import SentenceTransformer
    from kdnb.students import BiEncoder
    for s in ('student-best', 'student-last', 'student-after'):
        a = SentenceTransformer(str(out/s), device='cpu').encode(['a query about retrieval'])
        b = BiEncoder.load(out/s, precision='fp32').encode_queries(['a query about retrieval'])
        assert abs(a - b).max() < 1e-4

def test_distill_seeds_smoke(tmp_path, data_root):
    out = tmp_path/'gain'; out.mkdir()
    _run('distill_seeds.ipynb', out, out_dir=str(out), seeds='1,2', **TINY)
    g = json.loads((out/'gain.json').read_text())
    assert g['seeds'] == [1, 2] and set(g['paired_ttest']) == {'cranfield-full'}
    t = g['paired_ttest']['cranfield-full']
    assert t['queries'] == 225 and 0 <= t['p'] <= t['p_holm'] <= 1
    assert (out/'seed1'/'report.md').is_file() and (out/'gain.md').read_text().startswith('# Distillation')

def test_splade_distill_smoke(tmp_path, data_root):
    "A SPLADE student through the same pipeline: its loss gets the vectors, the log has its sparsity, the saved student loads in SparseEncoder."
    out = tmp_path/'splade'
    info = distill(out, **{**TINY, 'eval_sets': '', 'alphas': ''}, student='splade-tiny', loss='splade',
                   loss_kwargs='{"lambda_q": 1e-4, "lambda_d": 1e-4, "warmup_steps": 2}', progress=False)
    assert info['train']['step'] == 2
    log = [json.loads(l) for l in (out/'run'/'log.jsonl').read_text().splitlines()]
    assert any(r.get('nnz_d', 0) > 0 and 'flops' in r for r in log)
    from sentence_transformers import SparseEncoder
    from kdnb.students import load_student
    st = load_student(out/'student-best', device='cpu', precision='fp32')
    a = SparseEncoder(str(out/'student-best'), device='cpu').encode_document(['a passage about retrieval'], convert_to_tensor=True).to_dense().numpy()
    assert abs(a - st.encode_passages(['a passage about retrieval'], progress=False).toarray()).max() < 1e-4

def test_loss_the_student_cannot_serve(tmp_path, data_root):
    with pytest.raises(InputError) as e: distill(tmp_path/'run', **{**TINY, 'loss': 'splade'})
    assert "needs q_reps, d_reps, which a bi-encoder student" in str(e.value) and not (tmp_path/'run').exists()

@pytest.mark.parametrize('nb', ['distill.ipynb', 'distill_seeds.ipynb'])
def test_experiment_parameters_cover_every_setting(nb):
    "The experiments that pass every `DistillConfig` field from their parameters cell name each one (a field missing there is a KeyError at run time)."
    import re
    from dataclasses import fields
    from kdnb.pipeline import DistillConfig
    cells = json.loads((project_root()/'nbs'/'experiments'/nb).read_text())['cells']
    src = ''.join(next(c for c in cells if 'parameters' in c['metadata'].get('tags', []))['source'])
    named = set(re.findall(r'^(\w+)\s*=', src, flags=re.M))
    assert {f.name for f in fields(DistillConfig)} <= named, sorted({f.name for f in fields(DistillConfig)} - named)
