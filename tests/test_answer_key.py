"Published answer keys and the shared formats, through the library and the command line."
import json, shutil, pytest
import pandas as pd
from kdnb.core import InputError
import kdnb.answer_key as ak

PUBLISHED = ('dl19-bm25', 'dl21-bm25', 'dl22-bm25', 'scifact-train-bm25', 'scifact-test-bm25')

@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A fresh KDNB_CACHE (no answer keys) that keeps the model zoo where it is."
    from kdnb.core import models_dir
    monkeypatch.setenv('KDNB_MODELS', str(models_dir()))
    monkeypatch.setenv('KDNB_CACHE', str(tmp_path/'cache')); return tmp_path/'cache'

@pytest.mark.parametrize('name', PUBLISHED)
def test_published_keys_are_complete_and_small(name):
    prov, df = ak.read_published(ak.published_dir()/name)
    pool = ak.key_pool(name)
    assert prov['name'] == name and len(df) == prov['n_pairs'] == pool.n_pairs
    # the pool built here is the published one, pair for pair, or a fresh machine cannot import the key (BM25's ties at the cut-off once broke this)
    assert ak.sha256_lines(f"{q}\t{d}" for q, d in pool.pairs()) == prov['candidates']['pairs_sha256']
    assert prov['bytes'] < 5 * 2**20
    t = prov['teachers'][0]
    assert t['model'] == ak.DEFAULT_TEACHER and t['max_length'] == 256 and t['precision'] in ('fp32', 'bf16')
    assert len(t['weights_sha256']) == 64 and prov['kdnb_version'] and prov['scored'] and prov['exported']

def test_fresh_cache_imports_instead_of_scoring(cache):
    p = ak.build_named_key('dl21-bm25', progress=False)
    m = json.loads((p/'manifest.json').read_text())
    assert m['imported']['check'][0]['pairs'] == 32
    assert m['imported']['check'][0]['max_abs_diff'] <= m['imported']['check'][0]['tolerance']
    key = ak.load_key(p, quiet=True)
    assert key.complete and len(key.table) == 5300
    prov, df = ak.read_published(ak.published_dir()/'dl21-bm25')
    assert m['pairs_sha256'] == prov['candidates']['pairs_sha256'] and m['teachers'][0]['precision'] == prov['teachers'][0]['precision']
    # a rerun finds the key in the cache: nothing is imported or scored again, nothing overwritten
    mtime = (p/'manifest.json').stat().st_mtime_ns
    assert ak.build_named_key('dl21-bm25', progress=False) == p and (p/'manifest.json').stat().st_mtime_ns == mtime

def test_published_mismatch_and_damage_are_named(cache, tmp_path, monkeypatch):
    with pytest.raises(InputError, match='teacher max_length: published 256, local 128'):
        ak.build_named_key('dl19-bm25', ak.TeacherSpec(ak.DEFAULT_TEACHER, 128))
    pub = tmp_path/'pub'; shutil.copytree(ak.published_dir()/'dl19-bm25', pub/'dl19-bm25')
    monkeypatch.setattr(ak, 'published_dir', lambda: pub)
    f = pub/'dl19-bm25'/'dl19-bm25.parquet'; f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(InputError, match=f"{f}: truncated or corrupt"): ak.build_named_key('dl19-bm25')
    assert not (cache/'keys'/'dl19-bm25').exists()

def test_cli_formats_round_trip(cache, tmp_path, capsys):
    ak.build_named_key('dl19-bm25', progress=False)
    assert ak.main(['export', 'dl19-bm25', '--format', 'trec', '--out', str(tmp_path/'t.run')]) == 0
    assert ak.main(['import', str(tmp_path/'t.run'), '--format', 'trec', '--dest', str(tmp_path/'k-run')]) == 1
    assert 'give --teacher' in capsys.readouterr().err
    assert ak.main(['import', str(tmp_path/'t.run'), '--format', 'trec', '--dest', str(tmp_path/'k-run'), '--teacher', 'minilm']) == 0
    assert ak.main(['export', 'dl19-bm25', '--format', 'flagembedding', '--out', str(tmp_path/'kd.jsonl')]) == 0
    assert ak.main(['import', str(tmp_path/'kd.jsonl'), '--format', 'flagembedding', '--dest', str(tmp_path/'k-flag')]) == 0
    ref = ak.load_key('dl19-bm25', quiet=True).table
    for folder, col in (('k-run', 'minilm'), ('k-flag', 'flagembedding-teacher')):
        k = ak.load_key(tmp_path/folder, quiet=True)
        m = k.table.merge(ref, on=['qid', 'docid'])
        assert len(m) == len(ref) == 4300
        assert (m[col] - m[ref.columns[2]]).abs().max() < 1e-5
    lines = (tmp_path/'kd.jsonl').read_text().splitlines()
    rec = json.loads(lines[0])
    assert len(lines) == 43 and len(rec['pos']) == 1 and len(rec['neg']) == 99 and rec['pos_scores'][0] >= max(rec['neg_scores'])
