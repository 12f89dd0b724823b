"Tests of kdnb.evaluation: measures against hand computation, missing queries, paired tests, tables, plots."
import math, os, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from kdnb.core import InputError, data_dir
from kdnb import evaluation as ev

QRELS = {'q1': {'d1': 3, 'd2': 0, 'd3': 2, 'd4': 1, 'd5': 2}}
RUN = {'q1': {'d4': 4.0, 'd2': 3.0, 'd3': 2.0, 'd9': 1.0}}


def test_hand_computed_example():
    idcg = 3 + 2/math.log2(3) + 2/math.log2(4) + 1/math.log2(5)
    dcg = 1/math.log2(2) + 2/math.log2(4)  # ranks 1 (grade 1) and 3 (grade 2); d2 and d9 add 0
    res = ev.evaluate(RUN, QRELS, 'trec-dl')
    assert list(res) == ['nDCG@10', 'RR(rel=2)@10', 'R(rel=2)@100']
    assert res['nDCG@10'] == pytest.approx(dcg/idcg, abs=1e-9) == pytest.approx(0.35134, abs=1e-5)
    assert res['RR(rel=2)@10'] == pytest.approx(1/3)
    assert res['R(rel=2)@100'] == pytest.approx(1/3)
    res1 = ev.evaluate(RUN, QRELS, 'beir')
    assert list(res1) == ['nDCG@10', 'R@100'] and res1['R@100'] == pytest.approx(0.5)
    assert ev.evaluate(RUN, QRELS, ['RR@10'])['RR@10'] == pytest.approx(1.0)


def test_judged_query_missing_from_run_counts_as_zero():
    qrels = {**QRELS, 'q2': {'d7': 2, 'd8': 1}}
    with pytest.warns(UserWarning, match='1 of 2 judged queries are not in the run'):
        pq = ev.per_query(RUN, qrels)
    assert list(pq.index) == ['q1', 'q2'] and pq.index.name == 'qid'
    assert (pq.loc['q2'] == 0).all()
    with pytest.warns(UserWarning):
        res = ev.evaluate(RUN, qrels)
    alone = ev.evaluate(RUN, QRELS)
    for k in res: assert res[k] == pytest.approx(alone[k]/2)
    # a query in the run that nobody judged is ignored
    assert ev.evaluate({**RUN, 'qx': {'d1': 1.0}}, QRELS) == alone


def test_inputs_in_other_forms_and_int_ids():
    import ir_measures as irm
    tuples = [irm.ScoredDoc(q, d, s) for q, docs in RUN.items() for d, s in docs.items()]
    qrel_df = pd.DataFrame([(q, d, g) for q, docs in QRELS.items() for d, g in docs.items()],
                           columns=['query_id', 'doc_id', 'relevance'])
    assert ev.evaluate(tuples, qrel_df) == ev.evaluate(RUN, QRELS)
    assert ev.evaluate({1: {7: 1.0}}, {'1': {'7': 2}}, ['nDCG@10'])['nDCG@10'] == pytest.approx(1.0)


def test_ties_broken_like_trec_eval_for_every_measure():
    run, qrels = {'q': {'d1': 1.0, 'd2': 1.0}}, {'q': {'d1': 2, 'd2': 0}}
    res = ev.evaluate(run, qrels, ['P@1', 'RR(rel=2)@10'])
    assert res == {'P@1': 0.0, 'RR(rel=2)@10': 0.5}  # d2 (larger id) first, as trec_eval does


def test_bad_input_errors():
    with pytest.raises(InputError, match="unknown measure 'nDGC@10'.*nDCG"): ev.evaluate(RUN, QRELS, ['nDGC@10'])
    with pytest.raises(InputError, match='run is empty'): ev.evaluate({}, QRELS)
    with pytest.raises(InputError, match='qrels are empty'): ev.evaluate(RUN, {})
    with pytest.raises(InputError, match='share no query id'): ev.evaluate({'zz': {'d1': 1.0}}, QRELS)
    with pytest.raises(InputError, match='not a finite'): ev.evaluate({'q1': {'d1': float('nan')}}, QRELS)
    with pytest.raises(InputError, match='pass measures explicitly'): ev.measures_for('cranfield')
    assert ev.measures_for('dl19') == ev.MEASURES['trec-dl']
    assert ev.measures_for('beir/scifact') == ev.MEASURES['beir']


def _scores(seed=0, n=50):
    rng = np.random.default_rng(seed)
    base = pd.Series(rng.uniform(0, 1, n), index=[f'q{i}' for i in range(n)])
    return base, base + 0.1 + rng.normal(0, 0.02, n)


def test_paired_tests_identical_and_clearly_better():
    base, better = _scores()
    for test in (ev.paired_ttest, ev.randomization_test):
        r = test(base, base.copy())
        assert r.pvalue == 1.0 and r.diff == 0.0 and r.n == 50
    r = ev.randomization_test(better, base, n_permutations=10_000, seed=0)
    assert r.pvalue == pytest.approx(1/10_001) and r.diff > 0.05
    assert ev.paired_ttest(better, base).pvalue < 1e-10
    # exact enumeration for tiny samples: 3 queries all better -> 2 of 8 sign vectors as extreme
    assert ev.randomization_test([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]).pvalue == pytest.approx(0.25)
    # reproducible with a seed
    noisy = base + np.random.default_rng(5).normal(0.02, 0.2, 50)
    assert ev.randomization_test(noisy, base, seed=3) == ev.randomization_test(noisy, base, seed=3)


def test_paired_tests_reject_misaligned_or_nan():
    base, better = _scores()
    with pytest.raises(InputError, match='different queries'): ev.paired_ttest(better, base.iloc[:-1])
    with pytest.raises(InputError, match='NaN'): ev.randomization_test(better.where(better.index != 'q5'), base)
    assert ev.paired_ttest(better.iloc[::-1], base).pvalue == ev.paired_ttest(better, base).pvalue


def test_adjust_pvalues():
    np.testing.assert_allclose(ev.adjust_pvalues([0.01, 0.04, 0.03], 'holm'), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(ev.adjust_pvalues([0.01, 0.04, 0.03], 'bonferroni'), [0.03, 0.12, 0.09])


def test_results_table_files(tmp_path):
    qrels = {f'q{i}': {'a': 2, 'b': 1, 'c': 0} for i in range(20)}
    good = {q: {'a': 3.0, 'b': 2.0, 'c': 1.0} for q in qrels}
    bad = {q: {'c': 3.0, 'b': 2.0, 'a': 1.0} for q in qrels}
    mixed = {q: (good if i % 2 else bad)[q] for i, q in enumerate(qrels)}
    tab = ev.results_table({'bad': bad, 'good': good, 'mixed': mixed}, qrels, 'trec-dl',
                           test='randomization', correction='holm')
    cols = ['nDCG@10', 'nDCG@10 p', 'RR(rel=2)@10', 'RR(rel=2)@10 p', 'R(rel=2)@100', 'R(rel=2)@100 p']
    assert list(tab.columns) == cols and list(tab.index) == ['bad', 'good', 'mixed']
    assert tab.loc['good', 'nDCG@10'] == pytest.approx(1.0) and tab.loc['good', 'RR(rel=2)@10'] == 1.0
    assert np.isnan(tab.loc['bad', 'nDCG@10 p'])
    assert tab.loc['good', 'nDCG@10 p'] < 0.01          # exact over 2^20 flips would be tiny; sampled: 2/10001 after Holm
    assert tab.loc['good', 'R(rel=2)@100 p'] == 1.0     # every run finds every document: identical recall
    md, csv = ev.save_table(tab, tmp_path/'out'/'dl')
    assert md == tmp_path/'out'/'dl.md' and csv.exists()
    back = pd.read_csv(csv, index_col='system')
    assert list(back.columns) == cols
    assert back.loc['good', 'nDCG@10'] == pytest.approx(tab.loc['good', 'nDCG@10'])
    assert '| good | 1.0000† |' in ev.to_markdown(back)  # a table read back from CSV renders too
    text = md.read_text()
    assert text.splitlines()[0] == '| system | nDCG@10 | MRR@10 | R@100 |'
    assert '| good | 1.0000† | 1.0000† | 1.0000 |' in text
    assert 'MRR@10 = RR(rel=2)@10' in text and 'Holm' in text
    with pytest.raises(InputError, match='baseline'): ev.results_table({'a': good}, qrels, baseline='b')


def test_confidence_interval_and_plots(tmp_path):
    base, better = _scores()
    lo, hi = ev.confidence_interval(base)
    assert lo < base.mean() < hi
    blo, bhi = ev.confidence_interval(base, method='bootstrap', n_boot=5000)
    assert abs(blo - lo) < 0.02 and abs(bhi - hi) < 0.02
    fig = ev.plot_per_query_diff(better, base, names=('better', 'base'), path=tmp_path/'d.png')
    assert (tmp_path/'d.png').stat().st_size > 1000 and len(fig.axes[0].patches) == 50
    fig = ev.plot_ci({'base': base, 'better': better}, path=tmp_path/'ci.png')
    assert (tmp_path/'ci.png').exists() and len(fig.axes[0].patches) == 2


DL19 = data_dir()/'msmarco-dl-candidates'


@pytest.mark.skipif(not (DL19/'BM25'/'trec_results_dl19.txt').exists(), reason='DL19 data not under KDNB_DATA')
def test_dl19_bm25_official():
    import ir_measures as irm
    qrels = irm.read_trec_qrels(str(data_dir()/'topics-qrels'/'qrels'/'qrels.dl19-passage.txt'))
    res = ev.evaluate(irm.read_trec_run(str(DL19/'BM25'/'trec_results_dl19.txt')), qrels, ev.measures_for('dl19'))
    assert res['nDCG@10'] == pytest.approx(0.5058, abs=1e-3)
