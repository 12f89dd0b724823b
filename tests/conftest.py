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

# Toy training groups shared by the training tests: 12 queries, each with a positive and two negatives and teacher scores.
TOY_ROWS = [dict(qid=f"q{i}", query=f"query {i}", docids=[f"p{i}", f"n{i}a", f"n{i}b"], scores=[3.0, 1.0 - i/10, -2.0]) for i in range(12)]
TOY_TEXTS = {d: f"passage {d} " + 'word ' * (int(d[1:].rstrip('ab')) % 5) for r in TOY_ROWS for d in r['docids']}

@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    "A 2-layer, 32-d randomly initialised BERT with the MiniLM tokenizer: a test double for the mechanics of training."
    import torch
    from transformers import BertConfig, BertModel
    from kdnb.zoo import load_tokenizer
    p = tmp_path_factory.mktemp('tiny')
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(p); load_tokenizer('all-MiniLM-L6-v2').save_pretrained(p)
    return p
