"BM25 candidates: the right passage ranks first, indexes round-trip and cache, bad input is refused, SciFact matches."
import json, os, warnings, pytest
from kdnb.core import InputError
from conftest import write_beir
from kdnb.data import load_beir, ranked
from kdnb.evaluation import evaluate
from kdnb.candidates import BM25Index, bm25_index, bm25_pool, bm25_settings, bm25_cache_path

RECS = [{'_id': 'flea', 'title': 'Fleas', 'text': 'An adult flea lives for two or three months; fleas need a host.'},
        {'_id': 'paris', 'title': 'Paris', 'text': 'Paris is mild in spring, with rain in April and sun in May.'},
        {'_id': 'tax', 'title': 'Income tax', 'text': 'Income tax is due in April; late payment costs interest.'},
        {'_id': 'dog', 'title': 'Dogs', 'text': 'A dog with fleas scratches; treat the dog and the house.'},
        {'_id': 'kidney', 'title': '', 'text': 'Kidney stones form when urine holds too much calcium oxalate.'}]
QS = {'q1': 'how long do fleas live', 'q2': 'weather in Paris in spring', 'q3': 'when is income tax due',
      'q4': 'what causes kidney stones', 'q5': 'my dog keeps scratching'}
RIGHT = {'q1': 'flea', 'q2': 'paris', 'q3': 'tax', 'q4': 'kidney', 'q5': 'dog'}

@pytest.fixture
def coll(tmp_path):
    "A tiny BEIR-layout collection on disk."
    return write_beir(tmp_path/'tiny', {r['_id']: r for r in RECS}, QS, RIGHT)


def test_right_passage_first(coll):
    idx = BM25Index.build(load_beir(str(coll)).corpus, show_progress=False)
    run = idx.search(QS, k=3, show_progress=False)
    assert {q: ranked(run, q, 1)[0][0] for q in QS} == RIGHT
    assert all(s > 0 for r in run.values() for s in r.values())   # no zero-score filler
    assert list(run['q1']) == ['flea', 'dog']                       # only passages sharing a term

def test_save_load_roundtrip(coll, tmp_path):
    idx = BM25Index.build(load_beir(str(coll)).corpus, k1=1.2, b=0.75, show_progress=False)
    idx.save(tmp_path/'idx')
    for mmap in (False, True):
        idx2 = BM25Index.load(tmp_path/'idx', mmap=mmap)
        assert idx2.settings == idx.settings and idx2.docids == idx.docids
        assert idx2.search(QS, k=5, show_progress=False) == idx.search(QS, k=5, show_progress=False)

def test_cache_builds_once_atomically(coll, cache):
    c = load_beir(str(coll))
    idx = bm25_index(c, show_progress=False)
    dest = bm25_cache_path(c.name, bm25_settings())
    assert dest.parent == cache/'bm25' and [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp folders left
    stamp = (dest/'kdnb-bm25.json').stat().st_mtime_ns
    again = bm25_index(c, show_progress=False)
    assert (dest/'kdnb-bm25.json').stat().st_mtime_ns == stamp      # loaded, not rebuilt
    assert again.search(QS, show_progress=False) == idx.search(QS, show_progress=False)
    assert bm25_cache_path(c.name, bm25_settings(k1=1.2)) != dest
    (coll/'corpus.jsonl').write_text((coll/'corpus.jsonl').read_text() + json.dumps({'_id': 'x', 'text': 'new'}) + '\n')
    with pytest.warns(UserWarning, match='changed since its BM25 index was built'):
        assert len(bm25_index(load_beir(str(coll)), show_progress=False)) == len(RECS) + 1
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]

def test_copied_corpus_keeps_its_index(coll, cache):
    "A corpus with a new modification time but the same bytes keeps its BM25 index; it is not rebuilt."
    c = load_beir(str(coll)); bm25_index(c, show_progress=False)
    stamp = (bm25_cache_path(c.name, bm25_settings())/'kdnb-bm25.json').stat().st_mtime_ns
    f = coll/'corpus.jsonl'; st = f.stat(); os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with warnings.catch_warnings():
        warnings.simplefilter('error'); bm25_index(load_beir(str(coll)), show_progress=False)
    assert (bm25_cache_path(c.name, bm25_settings())/'kdnb-bm25.json').stat().st_mtime_ns == stamp

def test_pool(coll, cache):
    pool = bm25_pool(load_beir(str(coll)), k=2, show_progress=False)
    assert set(pool.queries) == set(QS) and all(len(r) <= 2 for r in pool.run.values())
    assert pool.passages['flea'] == 'Fleas An adult flea lives for two or three months; fleas need a host.'
    assert set(pool.passages) == {d for r in pool.run.values() for d in r}

def test_bad_input(coll, tmp_path, cache):
    (tmp_path/'empty.jsonl').write_text('')
    from kdnb.data import Corpus
    with pytest.raises(InputError, match='the corpus has no passages'): BM25Index.build(Corpus(tmp_path/'empty.jsonl'), show_progress=False)
    with pytest.raises(InputError, match='the corpus has no passages'): BM25Index.build([], show_progress=False)
    idx = BM25Index.build(RECS, show_progress=False)
    with pytest.raises(InputError, match=r"empty query text \(id 'q9'\)"): idx.search({'q1': 'fleas', 'q9': ''})
    with pytest.raises(InputError, match=r"empty query text \(id 'q8'\)"): idx.search({'q8': ' \t'})
    for k in (0, -3, 1.5):
        with pytest.raises(InputError, match='k must be a positive integer'): idx.search(QS, k=k)
    with pytest.raises(InputError, match='k must be a positive integer'): bm25_pool(load_beir(str(coll)), k=0)
    with pytest.raises(InputError, match='b must be between 0 and 1'): BM25Index.build(RECS, b=2)
    with pytest.raises(InputError, match="duplicate passage id \\(id 'flea'\\)"): BM25Index.build(RECS + RECS[:1], show_progress=False)
    with pytest.raises(InputError, match='no kdnb-bm25.json'): BM25Index.load(tmp_path)
    with pytest.warns(UserWarning, match="no indexed term.*'q7'"):
        assert idx.search({'q7': 'the and of', 'q1': 'fleas'}, show_progress=False)['q7'] == {}

def test_scifact(data_root, cache):
    sf = load_beir('scifact')
    run = bm25_index(sf, show_progress=False).search(sf.queries, k=100, show_progress=False)
    res = evaluate(run, sf.qrels, 'beir')
    assert res['nDCG@10'] == pytest.approx(0.676, abs=0.005)
    assert res['R@100'] == pytest.approx(0.913, abs=0.005)
    pool = bm25_pool('scifact', k=100, split='train', show_progress=False)
    sizes = [len(r) for r in pool.run.values()]
    assert len(pool.queries) == 809 and pool.n_pairs == 80827 and sum(n == 100 for n in sizes) == 808
