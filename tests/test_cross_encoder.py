"The cross-encoder student in the training loop: exact resume, every objective of the study, and the pipeline's re-ranking path."
import json
import pytest, torch
from transformers import BertConfig, BertModel
from kdnb.core import InputError
from kdnb.zoo import load_tokenizer
from kdnb.cross_encoder import CrossEncoderStudent
from kdnb.students import load_student
from kdnb.training import GroupData, TrainConfig, train

ROWS = [dict(qid=f"q{i}", query=f"query {i}", docids=[f"p{i}", f"n{i}a", f"n{i}b"], scores=[3.0, 1.0 - i/10, -2.0]) for i in range(12)]
TEXTS = {d: f"passage {d} " + 'word ' * (int(d[1:].rstrip('ab')) % 5) for r in ROWS for d in r['docids']}

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A 2-layer, 32-d randomly initialised BERT encoder: the student puts a new one-logit head on it."
    p = tmp_path_factory.mktemp('tiny')
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(p); load_tokenizer('all-MiniLM-L6-v2').save_pretrained(p)
    return p

def student(tiny): return CrossEncoderStudent(str(tiny), query_max_len=8, passage_max_len=16, device='cpu', precision='fp32')

def test_exact_resume(tiny, tmp_path):
    cfg = TrainConfig(lr=1e-3, batch_size=4, max_steps=5, save_every=2, log_every=1, epochs=1, dropout=0.0)
    data = GroupData(ROWS, TEXTS)
    a = student(tiny); train(a, data, tmp_path/'a', cfg, progress=False)
    b = student(tiny); r = train(b, data, tmp_path/'b', cfg, stop_after=3, progress=False)
    assert r['stopped'] and r['step'] == 3
    c = student(tiny); train(c, data, tmp_path/'b', cfg, progress=False)
    for (n, x), y in zip(a.state_dict().items(), c.state_dict().values()): assert torch.equal(x, y), n

@pytest.mark.parametrize('loss', ['bce', 'infonce', 'margin_mse', 'kl', 'ranknet', 'adr_mse'])
def test_every_objective_of_the_study_trains(tiny, tmp_path, loss):
    "Each of the six objectives runs through the loop and moves the weights; the saved student loads back as a cross-encoder."
    st = student(tiny); w0 = st.encoder.classifier.weight.detach().clone()
    train(st, GroupData(ROWS, TEXTS), tmp_path/loss, TrainConfig(loss=loss, lr=1e-3, batch_size=4, max_steps=2, dropout=0.0), progress=False)
    assert not torch.equal(w0, st.encoder.classifier.weight.detach())
    back = load_student(st.save(tmp_path/f"{loss}-saved"), device='cpu', precision='fp32')
    assert isinstance(back, CrossEncoderStudent) and back.settings() == st.settings()

def test_inbatch_losses_are_refused(tiny, tmp_path):
    with pytest.raises(InputError, match="scores in-batch negatives, which a cross-encoder student"):
        train(student(tiny), GroupData(ROWS, TEXTS), tmp_path/'x', TrainConfig(loss='inbatch_infonce', max_steps=1), progress=False)

def test_distill_reranks_with_a_cross_encoder(tmp_path):
    "The pipeline end to end with a cross-encoder student: dev by re-ranking the held-out queries' BM25 top-100, a re-ranking test set."
    from kdnb.pipeline import distill
    info = distill(tmp_path/'ce', student='paraphrase-MiniLM-L3-v2', kind='cross-encoder', train='dl21-bm25', dev='dl21-bm25', guard='',
                   alphas='', rounds=1, k=2, max_steps=2, batch_size=4, lr=1e-4, query_max_len=16, passage_max_len=48,
                   eval_sets='dl19-rerank', progress=False)
    assert info['best_step'] in (0, 2) and set(info['metrics']['dl19-rerank']) >= {'BM25', 'student before', 'student after'}
    assert json.loads((tmp_path/'ce'/'student-best'/'kdnb_student.json').read_text())['kind'] == 'cross-encoder'
    assert (tmp_path/'ce'/'per_query.csv').is_file()
