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
