"Samplers pick the right items deterministically, the filter drops the right ones, diagnostics and the simulation favour stratification, and groups have their schema."
import warnings
import numpy as np
import pandas as pd
import pytest
from kdnb.core import InputError
from kdnb.sampling import (top_k, random_k, stratified, strata, range_k, get_sampler, sample_negatives, false_negative_mask,
                           pick_positives, sample_stats, hist_entropy, sampling_variances, simulate_partition, compare_strategies,
                           summarize, make_groups, group_features, GROUP_FEATURES, save_groups, load_groups, groups_info,
                           read_flag_kd, query_rng, TooFewCandidates, plot_strategies, plot_query)


def toy_key(n_q=6, n=40, seed=0):
    "A synthetic key: per query a positive 'pos' scored 10 and n negatives with skewed scores."
    rng = np.random.default_rng(seed); rows = []
    for q in range(n_q):
        rows.append((f"q{q}", 'pos', 10.))
        for i, s in enumerate(np.r_[rng.normal(0, 1, n - 5), rng.normal(6, 1, 5)]): rows.append((f"q{q}", f"d{q}_{i}", float(s)))
    return pd.DataFrame(rows, columns=['qid', 'docid', 'score'])

@pytest.fixture
def key(): return toy_key()

@pytest.fixture
def queries(key): return {q: f"query {q}" for q in key.qid.unique()}

@pytest.fixture
def qrels(key): return {q: {'pos': 1} for q in key.qid.unique()}


def one(key, q='q0'):
    g = key[key.qid == q]; return g.docid.to_numpy(), g.score.to_numpy()

def negatives_desc(key, q='q0'):
    g = key[(key.qid == q) & (key.docid != 'pos')]
    return g.sort_values(['score', 'docid'], ascending=[False, True])

@pytest.mark.parametrize('sampler', ['topk', 'random', 'stratified', 'stratified-mid', 'range'])
def test_deterministic_under_seed_and_input_order(key, sampler):
    d, s = one(key)
    a = sample_negatives(d, s, 8, sampler, qid='q0', seed=7, exclude=['pos'])
    perm = np.random.default_rng(3).permutation(len(d))
    b = sample_negatives(d[perm], s[perm], 8, sampler, qid='q0', seed=7, exclude=['pos'])
    assert a.docids == b.docids and np.array_equal(a.scores, b.scores)

def test_random_changes_with_seed_and_query(key):
    d, s = one(key)
    a = sample_negatives(d, s, 8, 'random', qid='q0', seed=1, exclude=['pos']).docids
    assert a != sample_negatives(d, s, 8, 'random', qid='q0', seed=2, exclude=['pos']).docids
    assert a != sample_negatives(d, s, 8, 'random', qid='q0x', seed=1, exclude=['pos']).docids

def test_query_rng_is_stable():
    # the same value in any process: a fixed hash, not Python's salted hash()
    assert query_rng(42, 'q1').integers(1 << 30) == query_rng(42, 'q1').integers(1 << 30)
    assert query_rng(42, 'q1').integers(1 << 62) != query_rng(42, 'q2').integers(1 << 62)

def test_topk_takes_k_highest_non_positive(key):
    d, s = one(key); neg = negatives_desc(key)
    smp = sample_negatives(d, s, 5, 'topk', exclude=['pos'])
    assert smp.docids == neg.docid.iloc[:5].tolist()
    assert 'pos' not in smp.docids

def test_stratified_one_per_stratum():
    s = np.arange(103.)[::-1]
    b = strata(103, 8)
    assert b[0] == 0 and b[-1] == 103 and (np.diff(b) >= 12).all() and (np.diff(b) <= 13).all()
    for seed in range(50):
        p = stratified(s, 8, query_rng(seed, 'q'))
        assert np.array_equal(np.searchsorted(b, p, side='right') - 1, np.arange(8))
    p = stratified(s, 8, within='mid')
    assert np.array_equal(np.searchsorted(b, p, side='right') - 1, np.arange(8))
    assert np.array_equal(p, b[:-1] + (np.diff(b) - 1) // 2)

def test_stratified_covers_every_band(key):
    d, s = one(key); neg = negatives_desc(key)
    smp = sample_negatives(d, s, 8, 'stratified', qid='q0', exclude=['pos'])
    ranks = [neg.docid.tolist().index(x) for x in smp.docids]
    assert np.array_equal(np.searchsorted(strata(len(neg), 8), ranks, side='right') - 1, np.arange(8))

def test_range_skips_r(key):
    d, s = one(key); neg = negatives_desc(key)
    assert sample_negatives(d, s, 4, 'range', exclude=['pos'], skip=7).docids == neg.docid.iloc[7:11].tolist()
    assert np.array_equal(range_k(np.arange(30.)[::-1], 3, skip=10), [10, 11, 12])
    p = range_k(np.arange(30.)[::-1], 5, query_rng(0, 'q'), skip=10, stop=20, random=True)
    assert ((p >= 10) & (p < 20)).all() and len(set(p.tolist())) == 5
    with pytest.raises(TooFewCandidates, match='fewer than k=8'): range_k(np.arange(30.), 8, skip=25)

def test_false_negative_filter(key):
    assert np.array_equal(false_negative_mask([3., 2., 1.9, 1.], 2.), [True, False, False, False])
    assert np.array_equal(false_negative_mask([3., 2., 1.9, 1.], 2., 0.5), [True, True, True, False])
    d, s = one(key); neg = negatives_desc(key); ps = float(neg.score.iloc[3]) + 1e-9   # three negatives above the positive
    for sampler in ('topk', 'random', 'stratified'):
        smp = sample_negatives(d, s, 5, sampler, qid='q0', exclude=['pos'], pos_score=ps, margin=0.)
        assert smp.n_filtered == 3 and not set(smp.docids) & set(neg.docid.iloc[:3])
        assert len(smp.full) == len(neg)   # diagnostics compare against the unfiltered list
    smp = sample_negatives(d, s, 5, 'topk', exclude=['pos'], pos_score=ps, margin=0.)
    assert smp.docids == neg.docid.iloc[3:8].tolist()

def test_positives():
    d, s = ['a', 'b', 'c'], [1., 5., 3.]
    assert pick_positives(d, s).docids == ['b']
    assert pick_positives(d, s, n_pos=2).exclude == {'b', 'c'}
    P = pick_positives(d, s, {'a': 1, 'x': 2, 'c': 0})
    assert P.docids == ['a'] and P.unscored == ['x'] and P.exclude == {'a', 'x'}

def test_errors(key):
    d, s = one(key)
    with pytest.raises(InputError, match='k must be a positive integer'): sample_negatives(d, s, 0, qid='q0')
    with pytest.raises(TooFewCandidates, match=r"40 candidates, fewer than k=41 .*\(id 'q0'\)"): sample_negatives(d, s, 41, qid='q0', exclude=['pos'])
    s2 = s.copy(); s2[4] = np.nan
    with pytest.raises(InputError, match=r"NaN teacher score for passage .*\(id 'q0'\)"): sample_negatives(d, s2, 3, qid='q0')
    with pytest.raises(InputError, match='unknown sampler'): get_sampler('best')
    with pytest.raises(InputError, match="needs the positive's teacher score"): sample_negatives(d, s, 3, margin=0.)
    bad = key.copy(); bad.loc[5, 'score'] = np.nan
    with pytest.raises(InputError, match=r"NaN teacher scores.*\(id 'q0'\)"): compare_strategies(bad)

def test_entropy_and_stats():
    assert hist_entropy([0, 1, 2, 3], 0, 3, 4) == pytest.approx(np.log(4))
    assert hist_entropy([5, 5], 0, 10, 4) == 0
    full = np.linspace(10, 0, 101)
    st = sample_stats(full, full[:8])
    assert st['H_sample'] == 0 and st['ks'] == pytest.approx(1 - 8 / 101, abs=1e-9)

def test_stratified_keeps_variance_better_than_topk():
    rng = np.random.default_rng(0)
    full = np.sort(np.r_[rng.normal(0, 1, 90), rng.normal(5, 1, 10)])[::-1]
    vt = sample_stats(full, full[top_k(full, 8)])
    vs = [sample_stats(full, full[stratified(full, 8, query_rng(i, 'q'))]) for i in range(30)]
    var_s = np.mean([v['var_ratio'] for v in vs])
    assert abs(var_s - 1) < abs(vt['var_ratio'] - 1)
    assert abs(var_s - 1) < 0.2
    assert all(v['ks'] <= 1 / 8 + 1 / 100 for v in vs) and vt['ks'] > 0.9
    assert np.mean([v['w1'] for v in vs]) < vt['w1']

def test_simulation_stratified_beats_random():
    rng = np.random.default_rng(1)
    scores = np.r_[rng.normal(0, 1, 90), rng.normal(3, 0.5, 10)]
    for T in (2., 1.):
        sim = simulate_partition(scores, k=8, n_rep=3000, seed=0, temperature=T)
        assert sim.rel_var['stratified'] < sim.rel_var['random']
        assert sim.var_logz['stratified'] < sim.var_logz['random']
        assert sim.rel_var['stratified'] == pytest.approx(sim.rel_var_exact['stratified'], rel=0.15)
        assert sim.rel_var['random'] == pytest.approx(sim.rel_var_exact['random'], rel=0.15)
    v = sampling_variances(np.exp(np.sort(scores)[::-1]), 8)
    assert v['var_strat'] < v['var_srs']
    assert v['within'] + v['between'] == pytest.approx(np.exp(scores).var())

def test_compare_strategies(key, qrels):
    cmp = compare_strategies(key, qrels, k=8)
    assert set(cmp.strategy) == {'top-k', 'range-10', 'random', 'stratified', 'stratified-mid'}
    assert len(cmp) == 6 * 5 and (cmp.n_full == 40).all()
    s = summarize(cmp)
    assert list(s.index[:1]) == ['top-k'] and (s.queries == 6).all()
    assert s.ks['stratified'] < s.ks['top-k'] and s.w1['stratified'] < s.w1['top-k']
    cf = compare_strategies(key, qrels, k=8, margin=-1e9)   # a huge negative margin filters nothing
    assert (cf.filtered_share == 0).all()
    fig = plot_strategies(cmp); assert len(fig.axes) == 4
    fig = plot_query(key, 'q1', qrels); assert len(fig.axes) == 3

def test_make_groups_schema(key, queries, qrels, tmp_path):
    ds = make_groups(key, queries, qrels, 'stratified', k=8, seed=42)
    assert len(ds) == 6
    assert set(GROUP_FEATURES) == {'qid', 'query', 'docids', 'scores'}
    assert ds.features == group_features(8)
    assert ds.features['docids'].length == 9 and ds.features['scores'].length == 9
    assert ds.features['scores'].feature.dtype == 'float32' and ds.features['qid'].dtype == 'string'
    r = ds[0]
    assert r['qid'] == 'q0' and r['query'] == 'query q0' and r['docids'][0] == 'pos' and r['scores'][0] == 10.
    assert len(r['docids']) == 9 and len(set(r['docids'])) == 9
    sc = ds.with_format('numpy')[:]['scores']
    assert sc.shape == (6, 9)
    info = groups_info(ds); assert info['k'] == 8 and info['sampler'] == 'stratified' and info['skipped'] == {}
    # the same groups from shuffled rows
    ds2 = make_groups(key.sample(frac=1, random_state=1), queries, qrels, 'stratified', k=8, seed=42)
    assert ds2[:] == ds[:]
    save_groups(ds, tmp_path/'g'); back = load_groups(tmp_path/'g')
    assert back.features == ds.features and back[:] == ds[:]
    # passages, and the teacher's top as positive
    texts = {d: f"text of {d}" for d in key.docid}
    dp = make_groups(key, queries, None, 'topk', k=3, n_pos=2, passages=texts)
    assert len(dp) == 12 and dp.features == group_features(3, passages=True)
    assert dp[0]['passages'][0] == 'text of pos' and dp[1]['docids'][0] not in dp[0]['docids'][1:]

def test_make_groups_skips_and_errors(key, queries, qrels):
    qr = {**qrels, 'q2': {'missing': 1}, 'q3': {'pos': 0}}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); ds = make_groups(key, queries, qr, k=8)
    assert len(ds) == 4 and groups_info(ds)['skipped'] == {'judged positive not in the key': 1, 'no judged-relevant passage': 1}
    assert 'skipped 2 queries' in str(w[0].message)
    with pytest.raises(InputError, match="judged positive not in the key \\(id 'q2'\\)"): make_groups(key, queries, qr, k=8, strict=True)
    with pytest.raises(InputError, match='no training groups'): make_groups(key.iloc[:0], queries)
    with pytest.raises(InputError, match='no training groups'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore'); make_groups(key, queries, qrels, k=50)
    with pytest.raises(InputError, match='fewer than k=50'): make_groups(key, queries, qrels, k=50, strict=True)
    with pytest.raises(InputError, match='no text'): make_groups(key, {}, qrels)
    with pytest.raises(InputError, match='no text for passage'): make_groups(key, queries, qrels, passages={})
    with pytest.raises(InputError, match='scored twice'): make_groups(pd.concat([key, key.iloc[:1]]), queries)

def test_flag_fixture(data_root):
    ex = read_flag_kd(data_root/'flagembedding-kd-examples'/'msmarco.jsonl')
    assert len(ex.queries) == 10 and all(len(v) == 1 for v in ex.qrels.values())
    assert ex.scores.groupby('qid').size().tolist() == [26] * 10
    ds = make_groups(ex.scores, ex.queries, ex.qrels, k=8, passages=ex.passages)
    assert len(ds) == 10 and ds[0]['passages'][0] == ex.passages[ds[0]['docids'][0]]
