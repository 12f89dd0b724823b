"Dense retrieval: exact and approximate search on vectors with known neighbours, save/load, caching, re-ranking, bad input."
import hashlib, json, os, re, warnings
import numpy as np
import pytest
from conftest import write_beir
from kdnb.core import InputError
from kdnb.data import Pool, load_beir, ranked, read_trec_run, write_trec_run
from kdnb.evaluation import evaluate
from kdnb.retrieval import DenseIndex, dense_index, dense_cache_path, index_settings, ivf_nlist, rerank_dense, retrieve


class HashingEncoder:
    """TEST DOUBLE, not a model: a bag of words hashed into `dim` buckets, L2-normalised.
    Deterministic and exact, so a query sharing words with a passage scores it highest."""
    similarity = 'cos'
    def __init__(self, dim=64, name='hashing-test-double'): self.dim, self.name, self.calls = dim, name, []
    def _vec(self, t):
        v = np.zeros(self.dim, np.float32)
        for w in re.findall(r'[a-z]+', t.lower()): v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1
        return v / max(np.linalg.norm(v), 1e-9)
    def encode_passages(self, texts, batch_size=8, progress=False):
        self.calls.append(('passages', len(texts)))
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
    def encode_queries(self, texts, batch_size=8, progress=False):
        self.calls.append(('queries', len(texts)))
        return np.stack([self._vec(t) for t in texts])


DOCS = {'flea': 'Fleas: an adult flea lives for two or three months',
        'paris': 'Paris weather is mild in spring with rain in April',
        'tax': 'Income tax is due in April and late payment costs interest',
        'dog': 'A dog with fleas scratches; treat the dog and the house',
        'kidney': 'Kidney stones form when urine holds too much calcium oxalate'}
QS = {'q1': 'how long do adult fleas live', 'q2': 'Paris weather spring', 'q3': 'when is income tax due',
      'q4': 'what causes kidney stones', 'q5': 'my dog scratches'}
RIGHT = {'q1': 'flea', 'q2': 'paris', 'q3': 'tax', 'q4': 'kidney', 'q5': 'dog'}


def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

@pytest.fixture(scope='module')
def vecs():
    "2,000 unit vectors in 32 dimensions and 50 queries: noisy copies of the first 50 passages."
    rng = np.random.default_rng(1)
    P = unit(rng.standard_normal((2000, 32)))
    Q = unit(P[:50] + 0.05 * rng.standard_normal((50, 32)))
    return [f"p{i}" for i in range(2000)], P, Q

@pytest.fixture(scope='module')
def easy():
    "An easy set for approximate search: 2,000 vectors around 40 cluster centres, queries near 50 of them."
    rng = np.random.default_rng(2)
    C = unit(rng.standard_normal((40, 32)))
    P = unit(C[rng.integers(0, 40, 2000)] + 0.15 * rng.standard_normal((2000, 32)))
    Q = unit(P[:50] + 0.02 * rng.standard_normal((50, 32)))
    return [f"p{i}" for i in range(2000)], P, Q

def brute(P, Q, k):
    S = Q @ P.T
    return [np.argsort(-S[i], kind='stable')[:k] for i in range(len(Q))], S

def recall(a, b, k):
    return np.mean([len(set(list(a[q])[:k]) & set(list(b[q])[:k])) / k for q in b])

@pytest.fixture
def coll(tmp_path):
    return write_beir(tmp_path/'tiny', DOCS, QS, RIGHT)



def test_flat_is_exact(vecs):
    ids, P, Q = vecs
    run = DenseIndex(32).add(ids[:700], P[:700]).add(ids[700:], P[700:]).search(Q, k=20)
    top, S = brute(P, Q, 20)
    for i in range(len(Q)):
        assert list(run[str(i)]) == [ids[j] for j in top[i]]
        np.testing.assert_allclose(list(run[str(i)].values()), S[i][top[i]], atol=1e-5)
        assert ranked(run, str(i), 1)[0][0] == ids[i]

def test_query_dict_of_vectors_and_qids(vecs):
    ids, P, Q = vecs
    idx = DenseIndex.from_embeddings(ids, P)
    a = idx.search({f"q{i}": Q[i] for i in range(5)}, k=3)
    b = idx.search(Q[:5], k=3, qids=[f"q{i}" for i in range(5)], chunk_size=2)
    assert a == b and list(a) == [f"q{i}" for i in range(5)]

@pytest.mark.parametrize('kind,params', [('hnsw', {}), ('hnsw', {'M': 8, 'ef_search': 16}),
                                         ('ivf', {}), ('ivf', {'nlist': 16, 'nprobe': 4}), ('ivf', {'nlist': 40, 'nprobe': 2})])
def test_approximate_recall(easy, kind, params, floor=0.95):
    ids, P, Q = easy
    exact = DenseIndex.from_embeddings(ids, P).search(Q, k=10)
    approx = DenseIndex.from_embeddings(ids, P, kind, **params).search(Q, k=10)
    assert recall(approx, exact, 10) >= floor
    assert all(ranked(approx, str(i), 1)[0][0] == ids[i] for i in range(len(Q)))  # the planted neighbour is easy

def test_ivf_all_lists_is_exact(vecs):
    ids, P, Q = vecs
    ivf = DenseIndex.from_embeddings(ids, P, 'ivf')
    assert ivf.settings['nlist'] == ivf_nlist(2000) == 51
    assert ivf.tune(nprobe=51).search(Q, k=10) == DenseIndex.from_embeddings(ids, P).search(Q, k=10)

def test_dot_keeps_lengths(vecs):
    ids, P, Q = vecs
    big = P.copy(); big[1999] *= 10
    assert ranked(DenseIndex.from_embeddings(ids, big, metric='dot').search(Q[:1], k=1), '0', 1)[0][0] == 'p1999'
    assert ranked(DenseIndex.from_embeddings(ids, big, metric='cos').search(Q[:1], k=1), '0', 1)[0][0] == 'p0'

@pytest.mark.parametrize('kind', ['flat', 'hnsw', 'ivf'])
def test_save_load_roundtrip(vecs, tmp_path, kind):
    ids, P, Q = vecs
    idx = DenseIndex.from_embeddings(ids, P, kind).tune(**({'nprobe': 4} if kind == 'ivf' else {'ef_search': 40} if kind == 'hnsw' else {}))
    idx.save(tmp_path/'idx')
    back = DenseIndex.load(tmp_path/'idx')
    assert back.search(Q, k=50) == idx.search(Q, k=50)
    assert back.settings == idx.settings and back.docids == idx.docids
    assert sorted(p.name for p in tmp_path.iterdir()) == ['idx']   # nothing temporary left behind
    with pytest.raises(InputError, match='duplicate passage id'): back.add(['p3'], P[:1])

def test_load_refuses_inconsistent_folder(vecs, tmp_path):
    ids, P, _ = vecs
    DenseIndex.from_embeddings(ids[:10], P[:10]).save(tmp_path/'idx')
    meta = json.loads((tmp_path/'idx'/'kdnb-dense.json').read_text()); meta['docids'] = meta['docids'][:9]
    (tmp_path/'idx'/'kdnb-dense.json').write_text(json.dumps(meta))
    with pytest.raises(InputError, match='holds 10 vectors'): DenseIndex.load(tmp_path/'idx')
    with pytest.raises(InputError, match='not a kdnb dense index'): DenseIndex.load(tmp_path/'nothing')

def test_build_with_encoder_right_passage_first():
    enc = HashingEncoder()
    idx = DenseIndex.build(enc, DOCS, progress=False)
    run = idx.search(QS, k=3, encoder=enc)
    assert {q: ranked(run, q, 1)[0][0] for q in QS} == RIGHT
    assert all(len(r) == 3 for r in run.values())

def test_build_in_chunks_is_the_same():
    enc = HashingEncoder()
    whole = DenseIndex.build(enc, DOCS, progress=False)
    enc.calls.clear()
    chunked = DenseIndex.build(enc, list(DOCS.items()), chunk_size=2, progress=False)
    assert enc.calls == [('passages', 2), ('passages', 2), ('passages', 1)]
    assert chunked.docids == whole.docids == list(DOCS)
    assert chunked.search(QS, encoder=enc) == whole.search(QS, encoder=enc)

def test_ivf_build_trains_on_a_sample():
    enc = HashingEncoder(dim=16)
    docs = {f"d{i}": f"word{i % 37} other{i % 11} thing{i % 5}" for i in range(400)}
    idx = DenseIndex.build(enc, docs, 'ivf', nlist=2, train_size=100, chunk_size=128, progress=False)
    assert enc.calls[0] == ('passages', 100)                       # the sample is encoded first
    assert sorted(idx.docids) == sorted(docs) and len(idx) == 400   # then the rest, each passage once
    assert idx.settings['train_size'] == 100
    exact = DenseIndex.build(enc, docs, progress=False).search({'q': 'word3 other3'}, encoder=enc, k=5)['q']
    got = idx.tune(nprobe=2).search({'q': 'word3 other3'}, encoder=enc, k=5)['q']  # all lists: exact scores (ties aside)
    np.testing.assert_allclose(list(got.values()), list(exact.values()), atol=1e-6)

def test_rerank_with_test_double():
    enc = HashingEncoder()
    run = {q: {d: float(i) for i, d in enumerate(reversed(list(DOCS)))} for q in QS}  # every passage, wrong order
    rr = rerank_dense(enc, Pool('tiny', QS, run, dict(DOCS)), progress=False)
    assert {q: ranked(rr, q, 1)[0][0] for q in QS} == RIGHT
    assert all(list(r.values()) == sorted(r.values(), reverse=True) for r in rr.values())
    assert {q: set(r) for q, r in rr.items()} == {q: set(r) for q, r in run.items()}
    assert sorted(enc.calls) == [('passages', 5), ('queries', 5)]   # each query and passage encoded once
    idx_run = DenseIndex.build(enc, DOCS, progress=False).search(QS, encoder=enc, k=5)
    for q in QS:
        for d, s in rr[q].items(): assert abs(idx_run[q][d] - s) < 1e-5

def test_rerank_bad_pool():
    enc = HashingEncoder()
    with pytest.raises(InputError, match="no text in the pool \\(id 'cat'\\)"):
        rerank_dense(enc, Pool('p', QS, {'q1': {'flea': 1.0, 'cat': 0.5}}, dict(DOCS)), progress=False)
    with pytest.raises(InputError, match="\\(id 'q1'\\)"):
        rerank_dense(enc, Pool('p', {}, {'q1': {'flea': 1.0}}, dict(DOCS)), progress=False)

def test_trec_run_roundtrip(tmp_path):
    enc = HashingEncoder()
    run = DenseIndex.build(enc, DOCS, progress=False).search(QS, encoder=enc, k=4)
    write_trec_run(run, tmp_path/'run.trec', tag='dense')
    back = read_trec_run(tmp_path/'run.trec')
    assert set(back) == set(run)
    for q in run:
        assert [d for d, _ in ranked(back, q)] == [d for d, _ in ranked(run, q)]
        assert all(abs(back[q][d] - s) < 1e-6 for d, s in run[q].items())

def test_retrieve_and_cache(coll, cache):
    enc = HashingEncoder()
    c = load_beir(str(coll))
    run = retrieve(enc, c, k=3, progress=False)
    assert evaluate(run, c.qrels, ['nDCG@10'])['nDCG@10'] == 1.0
    folders = list((cache/'dense').iterdir())
    assert [p.name for p in folders] == [dense_cache_path('tiny', enc.name).name]
    enc.calls.clear()
    assert retrieve(enc, c, k=3, progress=False) == run
    assert enc.calls == [('queries', 5)]                            # passages came from the cache
    dense_index(enc, c, 'hnsw', progress=False); dense_index(enc, c, key='another-encoder', progress=False)
    assert len(list((cache/'dense').iterdir())) == 3
    assert retrieve(enc, str(coll), k=3, progress=False) == run     # by folder name too

def test_changed_corpus_is_reindexed(coll, cache):
    enc = HashingEncoder()
    assert len(dense_index(enc, load_beir(str(coll)), progress=False)) == 5
    with open(coll/'corpus.jsonl', 'a') as f: f.write(json.dumps({'_id': 'cat', 'text': 'cats sleep'}) + '\n')
    with pytest.warns(UserWarning, match='changed since'):
        assert len(dense_index(enc, load_beir(str(coll)), progress=False)) == 6

def test_copied_corpus_keeps_its_index(coll, cache):
    "A corpus copied again (same bytes, a new modification time, as a re-mounted data folder has) is read from the cache."
    enc = HashingEncoder(); dense_index(enc, load_beir(str(coll)), progress=False); enc.calls.clear()
    f = coll/'corpus.jsonl'; st = f.stat(); os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with warnings.catch_warnings():
        warnings.simplefilter('error'); assert len(dense_index(enc, load_beir(str(coll)), progress=False)) == 5
    assert enc.calls == []                                           # nothing encoded again
    f.write_text(f.read_text().replace('Fleas', 'Flies'))            # same size, other content: rebuilt
    with pytest.warns(UserWarning, match='changed since'): dense_index(enc, load_beir(str(coll)), progress=False)
    assert ('passages', 5) in enc.calls

def test_unnamed_encoder_is_not_cached(coll, cache):
    enc = HashingEncoder(); del enc.name   # instance attribute gone, and the class has none
    dense_index(enc, load_beir(str(coll)), progress=False)
    assert not (cache/'dense').exists()

def test_bad_input(vecs):
    ids, P, Q = vecs
    enc = HashingEncoder()
    idx = DenseIndex.from_embeddings(ids[:10], P[:10])
    cases = [
        (lambda: idx.add(['x'], np.ones((1, 8))), 'dimension 8, the index has 32'),
        (lambda: idx.search(Q[:, :8]), 'dimension 8'),
        (lambda: idx.add(['p1'], P[:1]), "duplicate passage id (id 'p1')"),
        (lambda: DenseIndex(32).add(['a', 'a'], P[:2]), "duplicate passage id (id 'a')"),
        (lambda: DenseIndex.build(enc, [('a', 'x'), ('a', 'y')], progress=False), "duplicate passage id (id 'a')"),
        (lambda: DenseIndex(32).add(['a', 'b'], P[:3]), '3 rows for 2 ids'),
        (lambda: DenseIndex(32).add(['a'], np.full((1, 32), np.inf)), 'infinite'),
        (lambda: DenseIndex(32).add(['a'], P[0]), 'should be a matrix'),
        (lambda: DenseIndex.build(enc, {}, progress=False), 'the corpus has no passages'),
        (lambda: DenseIndex.from_embeddings([], np.zeros((0, 32))), 'no passage embeddings'),
        (lambda: DenseIndex.build(enc, {'a': None}, progress=False), 'should be a string'),
        (lambda: DenseIndex(32).search(Q), 'index is empty'),
        (lambda: DenseIndex(32, 'ivf', nlist=4).add(['a'], P[:1]), 'not trained'),
        (lambda: DenseIndex(32, 'ivf', nlist=40).train(P[:10]), 'at least nlist=40'),
        (lambda: DenseIndex(0), 'dimension must be a positive integer'),
        (lambda: index_settings('annoy'), "unknown index kind 'annoy'"),
        (lambda: index_settings('flat', 'euclid'), "unknown similarity 'euclid'"),
        (lambda: index_settings('ivf', n=100, ef_search=3), 'unknown parameter'),
        (lambda: index_settings('ivf', nlist=0), 'nlist must be a positive integer'),
        (lambda: idx.search(Q, k=0), 'k must be a positive integer'),
        (lambda: idx.search(Q, qids=['x'] * len(Q)), "duplicate query id (id 'x')"),
        (lambda: idx.search({}), 'no queries'),
        (lambda: idx.search({'q': 'text'}), 'needs an `encoder`'),
        (lambda: DenseIndex.build(enc, DOCS, progress=False).search({'q': '  '}, encoder=enc), "empty query text (id 'q')"),
        (lambda: DenseIndex.build(object(), DOCS), 'has no `encode_queries`'),
        (lambda: retrieve(enc, 'scifact', k=-1), 'k must be a positive integer'),
    ]
    for f, msg in cases:
        with pytest.raises(InputError) as e: f()
        assert msg in str(e.value), (msg, str(e.value))

def test_encoder_contract_is_checked():
    class NoSim(HashingEncoder): similarity = 'l2'
    class WrongRows(HashingEncoder):
        def encode_passages(self, texts, batch_size=8, progress=False): return np.zeros((len(texts) + 1, 8), np.float32)
    with pytest.raises(InputError, match="similarity` should be 'cos' or 'dot'"): DenseIndex.build(NoSim(), DOCS, progress=False)
    with pytest.raises(InputError, match='6 rows for 5 ids'): DenseIndex.build(WrongRows(), DOCS, progress=False)
    with pytest.raises(InputError, match='6 rows for 5 ids'):
        rerank_dense(WrongRows(), Pool('p', QS, {'q1': dict.fromkeys(DOCS, 1.0)}, dict(DOCS)), progress=False)
