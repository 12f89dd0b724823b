"Bad input names the file, the line and the id; real collections load with their official counts."
import json, warnings, pytest
from pathlib import Path
from kdnb.core import InputError
from kdnb.data import Corpus, load_queries, load_qrels, read_trec_run, load_beir, load_pool, write_trec_run

def w(tmp_path, name, text):
    p = tmp_path/name; p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text); return p

@pytest.mark.parametrize('body,msg', [
    ('{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n', 'corpus.jsonl:2: malformed JSON'),
    ('{"_id": "a", "text": "x"}\n\n{"title": "t", "text": "y"}\n', "corpus.jsonl:3: passage has no '_id'"),
    ('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', "corpus.jsonl:2: duplicate passage id (first on line 1) (id 'a')"),
    ('{"_id": "a", "text": 5}\n', "corpus.jsonl:1: passage 'text' is not a string"),
])
def test_corpus_errors(tmp_path, body, msg):
    c = Corpus(w(tmp_path, 'corpus.jsonl', body))
    with pytest.raises(InputError) as e: len(c)
    assert msg in str(e.value)

@pytest.mark.parametrize('body,msg', [
    ('query-id\tcorpus-id\tscore\nq1\td1\t1.5\n', "qrels.tsv:2: relevance grade '1.5' is not an integer (id 'q1')"),
    ('q1\td1\t1\nq1\td1\t0\n', "qrels.tsv:2: duplicate judgment for passage 'd1'"),
    ('q1\td1\n', 'qrels.tsv:1: expected 3 (BEIR) or 4 (TREC) columns, got 2'),
])
def test_qrels_errors(tmp_path, body, msg):
    with pytest.raises(InputError) as e: load_qrels(w(tmp_path, 'qrels.tsv', body))
    assert msg in str(e.value)

def test_queries_errors(tmp_path):
    with pytest.raises(InputError, match=r"queries.jsonl:2: query has no '_id'"): load_queries(w(tmp_path, 'queries.jsonl', '{"_id":"1","text":"a"}\n{"text":"b"}\n'))
    with pytest.raises(InputError, match=r"queries.jsonl:1: malformed JSON"): load_queries(w(tmp_path, 'queries.jsonl', '{"_id": 1\n'))
    with pytest.raises(InputError, match=r"queries.jsonl:2: duplicate query id \(id '1'\)"): load_queries(w(tmp_path, 'queries.jsonl', '{"_id":"1","text":"a"}\n{"_id":"1","text":"b"}\n'))

def test_run_roundtrip_and_errors(tmp_path):
    run = {'1': {'a': 2.0, 'b': 1.0}}
    write_trec_run(run, tmp_path/'r.txt'); assert read_trec_run(tmp_path/'r.txt') == run
    with pytest.raises(InputError, match=r"r2.txt:1: expected 6 columns"): read_trec_run(w(tmp_path, 'r2.txt', '1 Q0 a 1 2.0\n'))
    with pytest.raises(InputError, match=r"r3.txt:2: passage 'a' appears twice"): read_trec_run(w(tmp_path, 'r3.txt', '1 Q0 a 1 2 t\n1 Q0 a 2 1 t\n'))

def test_collection_checks(tmp_path):
    w(tmp_path, 'c/corpus.jsonl', '{"_id": "d1", "text": "a"}\n')
    w(tmp_path, 'c/queries.jsonl', '{"_id": "1", "text": "q"}\n')
    w(tmp_path, 'c/qrels/test.tsv', 'query-id\tcorpus-id\tscore\n1\td1\t1\n2\td1\t1\n')
    with pytest.raises(InputError, match=r"1 judged queries have no text in queries.jsonl \(id '2'\)"): load_beir(str(tmp_path/'c'))

def test_missing_collection_offline(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('KDNB_DATA', str(tmp_path))
    with pytest.raises(InputError) as e: load_beir('scifact')
    assert 'KDNB_DATA' in str(e.value) and 'corpus.jsonl, queries.jsonl and qrels/<split>.tsv' in str(e.value)

def test_pool_errors(tmp_path):
    p = w(tmp_path, 'p.json', json.dumps([{'query': 'q', 'hits': [{'qid': 1, 'docid': 'a', 'score': 1.0, 'content': 'x'},
                                                                  {'qid': 1, 'docid': 'a', 'score': 0.5, 'content': 'x'}]}]))
    with pytest.raises(InputError, match=r"entry 0, hit 1: passage 'a' listed twice"): load_pool(str(p))
    with pytest.raises(InputError, match=r'p2.json:1: malformed JSON'): load_pool(str(w(tmp_path, 'p2.json', '[{"query": ')))

def test_real_collections(data_root):
    sf = load_beir('scifact')
    assert (len(sf.queries), sum(map(len, sf.qrels.values())), len(sf.corpus)) == (300, 339, 5183)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always'); dl = load_beir('dl19')
    assert len(ws) == 1 and '3562 judged passages (0 of them relevant)' in str(ws[0].message)
    assert len(dl.corpus) == 16840
    pool = load_pool('BM25', 'dl19')
    assert len(pool.queries) == 43 and pool.n_pairs == 4300
    assert set(load_pool('BM25', 'dl21').queries) and set(load_pool('BM25', 'dl22').queries)
