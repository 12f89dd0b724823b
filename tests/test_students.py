"Students: settings from the zoo, scores with gradients, order-preserving encoding, checkpoints that sentence-transformers loads."
import json, pickle
import numpy as np
import pytest
import torch
from kdnb.core import InputError
from kdnb.losses import inbatch_infonce, margin_mse
from kdnb.students import (BiEncoder, Student, check_texts, flatten_groups, pool, st_settings,
                           student_settings)
from kdnb.zoo import resolve_model

Q = ['how long do fleas live', 'weather in paris in spring']
DOCS = [['An adult flea lives up to a year, depending on its access to a host.',
         'Fleas are small wingless insects; controlling them needs treating pets and bedding.'],
        ['Paris is mild in spring, with rain in April and sun in May.', 'Income tax is due in April.']]
LONG = 'Berlin has a population of 3.5 million registered inhabitants and an area of 891 square kilometers. ' * 8

@pytest.fixture(scope='module')
def mini():
    return BiEncoder('all-MiniLM-L6-v2', device='cpu', precision='fp32')   # fp32: these tests compare to 1e-5

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny random BERT with the MiniLM tokenizer, as a local folder."
    from transformers import BertConfig, BertModel, AutoTokenizer
    d = tmp_path_factory.mktemp('tiny')
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=128)).save_pretrained(d)
    AutoTokenizer.from_pretrained(resolve_model('all-MiniLM-L6-v2')).save_pretrained(d)
    return d

def test_settings_from_the_zoo():
    assert student_settings('all-MiniLM-L6-v2') == dict(pooling='mean', similarity='cosine', query_prefix='', passage_prefix='',
                                                       query_max_len=64, passage_max_len=256, scale=1.0)
    b = student_settings('bge-small-en-v1.5')
    assert (b['pooling'], b['similarity'], b['query_prefix'], b['passage_prefix']) == \
        ('cls', 'cosine', 'Represent this sentence for searching relevant passages: ', '')
    e = student_settings('e5-small-v2')
    assert (e['pooling'], e['query_prefix'], e['passage_prefix'], e['passage_max_len']) == ('mean', 'query: ', 'passage: ', 512)
    assert student_settings('e5-small-v2', query_prefix='', similarity='cos')['query_prefix'] == ''
    assert student_settings('e5-small-v2', similarity='cos')['similarity'] == 'cosine'

def test_settings_of_a_plain_encoder(tiny):
    assert student_settings(str(tiny)) == dict(pooling='mean', similarity='dot', query_prefix='', passage_prefix='',
                                               query_max_len=64, passage_max_len=256, scale=1.0)
    assert st_settings(tiny) == {}

@pytest.mark.parametrize('kw,msg', [(dict(pooling='max'), "unknown pooling 'max'; use one of 'mean', 'cls'"),
                                    (dict(similarity='l2'), "unknown similarity 'l2'; use one of 'cosine', 'dot'"),
                                    (dict(query_max_len=0), 'query_max_len must be a positive integer')])
def test_bad_settings(tiny, kw, msg):
    with pytest.raises(InputError, match=msg.replace('(', r'\(')): BiEncoder(str(tiny), device='cpu', **kw)

def test_unsupported_st_pooling(tmp_path):
    (tmp_path/'1_Pooling').mkdir()
    (tmp_path/'1_Pooling'/'config.json').write_text(json.dumps({'pooling_mode_max_tokens': True, 'pooling_mode_mean_tokens': False}))
    with pytest.raises(InputError, match="pooling 'max' is not supported"): st_settings(tmp_path)

def test_missing_model_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path))
    with pytest.raises(InputError) as e: BiEncoder('no-such-student', device='cpu')
    assert "'no-such-student'" in str(e.value) and 'not available offline' in str(e.value)
    (tmp_path/'empty').mkdir()
    with pytest.raises(InputError, match="cannot load model .*empty.* from the folder"): BiEncoder(str(tmp_path/'empty'), device='cpu')

def test_bad_texts_and_groups(mini):
    with pytest.raises(InputError, match='queries: empty list'): mini.encode_queries([], progress=False)
    with pytest.raises(InputError, match='passages: empty list'): mini.tokenize_passages([])
    with pytest.raises(InputError, match=r'passages\[1\] is a int'): check_texts(['a', 3], 'passages')
    with pytest.raises(InputError, match=r'passages\[2\] has 1 passages but passages\[0\] has 2'):
        mini.score_groups(Q + ['q3'], DOCS + [['only one']])
    with pytest.raises(InputError, match='2 queries but 1 passage groups'): flatten_groups(Q, DOCS[:1])
    with pytest.raises(InputError, match='2 queries but 3 passages'): mini.score(Q, DOCS[0] + ['x'])
    with pytest.raises(InputError, match=r'3 passages for 2 queries'):
        mini.score_features(mini.tokenize_queries(Q), mini.tokenize_passages(DOCS[0] + ["x"]))

def test_pool():
    h = torch.tensor([[[1., 2.], [3., 4.], [100., 100.]]])
    m = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool(h, m), torch.tensor([[2., 3.]])) and torch.equal(pool(h, m, 'cls'), torch.tensor([[1., 2.]]))

def test_scores_have_gradients_and_agree(mini):
    s = mini.score_groups(Q, DOCS)
    assert s.shape == (2, 2) and s.requires_grad and (s[:, 0] > s[:, 1]).all()
    margin_mse(s, torch.tensor([[8., 1.], [6., -3.]])).backward()
    assert mini.encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    mini.zero_grad()
    with torch.no_grad():
        g, M = mini.score_groups(Q, DOCS), mini.score_inbatch(Q, DOCS)
        paired = mini.score([Q[0], Q[1]], [DOCS[0][1], DOCS[1][1]])
    assert M.shape == (2, 4)
    torch.testing.assert_close(M[[0, 1], [0, 1]], g[:, 0]); torch.testing.assert_close(M[[0, 1], [2, 3]], g[:, 1])
    torch.testing.assert_close(paired, g[:, 1])
    assert float(inbatch_infonce(M)) < float(inbatch_infonce(M.flip(1)))
    Qv, Pv = mini.encode_queries(Q, progress=False), mini.encode_passages(sum(DOCS, []), progress=False)
    np.testing.assert_allclose((Qv @ Pv.T)[[0, 0, 1, 1], [0, 1, 2, 3]], g.numpy().ravel(), atol=1e-5)

def test_scale_and_truncation(tiny):
    a = BiEncoder(str(tiny), device='cpu', query_max_len=8)
    b = BiEncoder(str(tiny), device='cpu', scale=20.)
    with torch.no_grad(): torch.testing.assert_close(b.score_groups(Q, DOCS), 20 * a.score_groups(Q, DOCS))
    assert a.tokenize_queries([LONG])['input_ids'].shape == (1, 8)
    assert a.tokenize_passages([LONG * 2])['input_ids'].shape == (1, 128)   # capped at the tiny encoder's 128 positions
    with pytest.raises(InputError, match='passage_max_len=256 exceeds the 128 positions'): BiEncoder(str(tiny), passage_max_len=256)

def test_encoding_order_and_mode(tiny):
    mini = BiEncoder(str(tiny), similarity='cosine', device='cpu', precision='fp32')
    assert not mini.training and not mini.encoder.training   # a fresh student is in eval mode, like `from_pretrained`
    texts = [LONG, 'short', DOCS[0][0], '', DOCS[1][1], 'fleas ' * 30]
    E = mini.encode_passages(texts, tokens_per_batch=64, batch_size=2, chunk=4, progress=False)
    assert E.dtype == np.float32 and E.shape == (6, 32)
    one = np.concatenate([mini.encode_passages([t], progress=False) for t in texts])
    np.testing.assert_allclose(E, one, atol=1e-5)
    perm = [3, 0, 5, 1, 4, 2]
    np.testing.assert_allclose(mini.encode_passages([texts[i] for i in perm], progress=False), E[perm], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    mini.train(); mini.encode_queries(Q, progress=False); assert mini.training; mini.eval()

def test_tokenized_batches_cross_processes(tiny):
    st = BiEncoder(str(tiny), device='cpu')
    dl = torch.utils.data.DataLoader([(Q, DOCS)], batch_size=None, num_workers=1, collate_fn=lambda x: st.collate(*x))
    b, = list(dl)
    assert all(isinstance(v, torch.Tensor) for x in (b['q'], *b['p']) for v in x.values()) and isinstance(b['order'], torch.Tensor)
    pickle.loads(pickle.dumps(b))
    with torch.no_grad(): torch.testing.assert_close(st(b)["scores"], st.score_groups(Q, DOCS))

def test_gradient_checkpointing(tiny):
    st = BiEncoder(str(tiny), device='cpu'); st.train()
    for m in st.modules():
        if isinstance(m, torch.nn.Dropout): m.p = 0.
    def grads():
        st.zero_grad(); margin_mse(st.score_groups(Q, DOCS), torch.tensor([[8., 1.], [6., -3.]])).backward()
        return torch.cat([p.grad.ravel() for p in st.parameters() if p.grad is not None])
    g0 = grads()
    assert st.gradient_checkpointing_enable() is st and st.gradient_checkpointing
    torch.testing.assert_close(grads(), g0, atol=1e-6, rtol=1e-5)
    st.gradient_checkpointing_disable(); assert not st.gradient_checkpointing

def test_save_load_roundtrip(tiny, tmp_path):
    st = BiEncoder(str(tiny), pooling='cls', similarity='cosine', query_prefix='q: ', passage_prefix='p: ', query_max_len=16,
                   passage_max_len=40, scale=5., device='cpu')
    with torch.no_grad(): st.encoder.embeddings.word_embeddings.weight[:50] += 1   # "trained": differs from the folder it came from
    out = st.save(tmp_path/'student')
    names = {p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()}
    assert {'config.json', 'model.safetensors', 'tokenizer.json', 'kdnb_student.json', 'modules.json', 'sentence_bert_config.json',
            '1_Pooling/config.json', 'config_sentence_transformers.json'} <= names
    back = BiEncoder.load(out, device='cpu')
    assert back.settings() == st.settings() == dict(pooling='cls', similarity='cosine', query_prefix='q: ', passage_prefix='p: ',
                                                    query_max_len=16, passage_max_len=40, scale=5.)
    np.testing.assert_allclose(back.encode_passages([LONG, 'x'], progress=False), st.encode_passages([LONG, 'x'], progress=False), atol=1e-6)
    st.save(out)                                                       # a student folder is replaced
    (tmp_path/'other').mkdir(); (tmp_path/'other'/'notes.txt').write_text('mine')
    with pytest.raises(InputError, match='is not a kdnb student folder'): st.save(tmp_path/'other')
    assert (tmp_path/'other'/'notes.txt').read_text() == 'mine'
    with pytest.raises(InputError, match='not a saved kdnb student'): BiEncoder.load(tiny)
    cfg = json.loads((out/'kdnb_student.json').read_text()); cfg['kind'] = 'colbert'
    (out/'kdnb_student.json').write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="holds a 'colbert' student"): BiEncoder.load(out)

def test_cross_encoder_checkpoint_as_student():
    st = BiEncoder('ms-marco-MiniLM-L-12-v2', device='cpu')
    assert (st.pooling, st.similarity) == ('mean', 'dot') and st.encode_queries(Q, progress=False).shape == (2, 384)

def test_student_base_class():
    class Overlap(Student):
        def score(self, queries, passages):
            return torch.tensor([float(len(set(q.split()) & set(p.split()))) for q, p in zip(queries, passages)])
    o = Overlap()
    assert torch.equal(o.score_groups(['red fox', 'sky'], [['a red fox', 'x'], ['y', 'sky']]), torch.tensor([[2., 0.], [0., 1.]]))
    for f in (lambda: o.encode_passages(['x']), lambda: o.tokenize_queries(['x']), lambda: o.score_inbatch(['x'], [['y']])):
        with pytest.raises(NotImplementedError, match='student'): f()
    with pytest.raises(NotImplementedError, match='must implement score'): Student().score(['q'], ['p'])

def test_student_in_retrieval(mini):
    "A student is an encoder for the retrieval chapter as it is (its 'cosine' is the index's 'cos')."
    from kdnb.retrieval import DenseIndex, rerank_dense
    from kdnb.data import Pool
    idx = DenseIndex.build(mini, dict(zip('abcd', sum(DOCS, []))), progress=False)
    run = idx.search(dict(zip(['q1', 'q2'], Q)), k=2, encoder=mini)
    assert {q: max(r, key=r.get) for q, r in run.items()} == {'q1': 'a', 'q2': 'c'} and all(len(r) == 2 for r in run.values())
    pl = Pool('tiny', dict(zip(['q1', 'q2'], Q)), {'q1': {'a': 0., 'b': 1.}, 'q2': {'c': 0., 'd': 5.}}, dict(zip('abcd', sum(DOCS, []))))
    r = rerank_dense(mini, pl, progress=False)
    assert {q: max(v, key=v.get) for q, v in r.items()} == {'q1': 'a', 'q2': 'c'}

# sentence-transformers is a test-only dependency: a saved student must load there and give the same vectors.
try: import sentence_transformers as st_mod
except ImportError: st_mod = None
needs_st = pytest.mark.skipif(st_mod is None, reason='sentence-transformers is not installed')

def _compare(student, folder, queries, passages):
    ref = st_mod.SentenceTransformer(str(student.save(folder)), device='cpu')
    dq = np.abs(ref.encode_query(queries) - student.encode_queries(queries, progress=False)).max()
    dp = np.abs(ref.encode_document(passages) - student.encode_passages(passages, progress=False)).max()
    return ref, dq, dp

@needs_st
@pytest.mark.parametrize('pooling', ['mean', 'cls'])
@pytest.mark.parametrize('similarity', ['cosine', 'dot'])
def test_sentence_transformers_same_embeddings(tmp_path, pooling, similarity):
    st = BiEncoder('paraphrase-MiniLM-L3-v2', pooling=pooling, similarity=similarity, query_prefix='query: ',
                   passage_prefix='passage: ', passage_max_len=48, device='cpu', precision='fp32')
    ref, dq, dp = _compare(st, tmp_path/'s', Q, [LONG] + sum(DOCS, []))   # LONG is cut at 48 tokens by both
    assert dq < 1e-5 and dp < 1e-5, (dq, dp)
    assert ref.similarity_fn_name == similarity and ref.max_seq_length == 48
    assert ref.prompts['query'] == 'query: ' and ref.prompts['document'] == 'passage: '
    with torch.no_grad(): s = st.score_groups(Q, DOCS)
    sim = ref.similarity(ref.encode_query(Q), ref.encode_document(sum(DOCS, [])))
    np.testing.assert_allclose(sim.numpy()[[0, 0, 1, 1], [0, 1, 2, 3]], s.numpy().ravel(), atol=1e-5)

@needs_st
def test_sentence_transformers_bge_instruction(tmp_path):
    st = BiEncoder('bge-small-en-v1.5', device='cpu', precision='fp32')
    ref, dq, dp = _compare(st, tmp_path/'bge', Q, sum(DOCS, []))
    assert dq < 1e-5 and dp < 1e-5, (dq, dp)
    assert ref.prompts['query'].startswith('Represent this sentence') and ref.prompts['document'] == ''

def test_bf16_encoding_close_to_fp32(mini):
    "On a CPU, precision='bf16' encodes with a bf16 copy of the weights; the vectors keep their direction, the student stays fp32."
    b = BiEncoder('all-MiniLM-L6-v2', device='cpu', precision='bf16')
    texts = sum(DOCS, []) + [LONG]
    e16, e32 = b.encode_passages(texts, progress=False), mini.encode_passages(texts, progress=False)
    cos = (e16 * e32).sum(1) / np.linalg.norm(e16, axis=1) / np.linalg.norm(e32, axis=1)
    assert e16.dtype == np.float32 and cos.min() > 0.999, cos
    np.testing.assert_allclose(np.linalg.norm(e16, axis=1), 1, atol=1e-5)   # normalized in fp32
    assert next(b.encoder.parameters()).dtype == torch.float32
