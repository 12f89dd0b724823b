import os, pathlib, pytest
ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault('KDNB_DATA', str(ROOT.parent/'shared'/'data'))
os.environ.setdefault('MPLBACKEND', 'Agg')

@pytest.fixture
def data_root():
    from kdnb.core import data_dir
    p = data_dir()
    if not (p/'beir-scifact').is_dir(): pytest.fail(f"KDNB_DATA={p} does not hold the shared collections")
    return p

def write_beir(d, corpus:dict, queries:dict, relevant:dict):
    "Write a tiny BEIR-layout collection (corpus {id: text or record}, queries {qid: text}, relevant {qid: docid}) into `d`."
    import json
    (d/'qrels').mkdir(parents=True, exist_ok=True)
    (d/'corpus.jsonl').write_text(''.join(json.dumps(r if isinstance(r, dict) else {'_id': k, 'text': r}) + '\n' for k, r in corpus.items()))
    (d/'queries.jsonl').write_text(''.join(json.dumps({'_id': q, 'text': t}) + '\n' for q, t in queries.items()))
    (d/'qrels'/'test.tsv').write_text('query-id\tcorpus-id\tscore\n' + ''.join(f"{q}\t{p}\t1\n" for q, p in relevant.items()))
    return d

@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A fresh KDNB_CACHE for one test."
    monkeypatch.setenv('KDNB_CACHE', str(tmp_path/'cache')); return tmp_path/'cache'
