"The cross-encoder student in the training loop: exact resume, every objective of the study, and the pipeline's re-ranking path."
import json
import pytest, torch
from kdnb.core import InputError
from kdnb.cross_encoder import CrossEncoderStudent
from kdnb.students import load_student
from conftest import TOY_ROWS, TOY_TEXTS
from kdnb.training import GroupData, TrainConfig, train

def student(tiny): return CrossEncoderStudent(str(tiny), query_max_len=8, passage_max_len=16, device='cpu', precision='fp32')

def test_exact_resume(tiny, tmp_path):
    cfg = TrainConfig(lr=1e-3, batch_size=4, max_steps=5, save_every=2, log_every=1, epochs=1, dropout=0.0)
    data = GroupData(TOY_ROWS, TOY_TEXTS)
    a = student(tiny); train(a, data, tmp_path/'a', cfg, progress=False)
    b = student(tiny); r = train(b, data, tmp_path/'b', cfg, stop_after=3, progress=False)
    assert r['stopped'] and r['step'] == 3
    c = student(tiny); train(c, data, tmp_path/'b', cfg, progress=False)
    for (n, x), y in zip(a.state_dict().items(), c.state_dict().values()): assert torch.equal(x, y), n

@pytest.mark.parametrize('loss', ['bce', 'infonce', 'margin_mse', 'kl', 'ranknet', 'adr_mse'])
def test_every_objective_of_the_study_trains(tiny, tmp_path, loss):
    "Each of the six objectives runs through the loop and moves the weights; the saved student loads back as a cross-encoder."
    st = student(tiny); w0 = st.encoder.classifier.weight.detach().clone()
    train(st, GroupData(TOY_ROWS, TOY_TEXTS), tmp_path/loss, TrainConfig(loss=loss, lr=1e-3, batch_size=4, max_steps=2, dropout=0.0), progress=False)
    assert not torch.equal(w0, st.encoder.classifier.weight.detach())
    back = load_student(st.save(tmp_path/f"{loss}-saved"), device='cpu', precision='fp32')
    assert isinstance(back, CrossEncoderStudent) and back.settings() == st.settings()

def test_inbatch_losses_are_refused(tiny, tmp_path):
    with pytest.raises(InputError, match="scores in-batch negatives, which a cross-encoder student"):
        train(student(tiny), GroupData(TOY_ROWS, TOY_TEXTS), tmp_path/'x', TrainConfig(loss='inbatch_infonce', max_steps=1), progress=False)

def test_distill_reranks_with_a_cross_encoder(tmp_path):
    "The pipeline end to end with a cross-encoder student: dev by re-ranking the held-out queries' BM25 top-100, a re-ranking test set."
    from kdnb.pipeline import distill
    info = distill(tmp_path/'ce', student='paraphrase-MiniLM-L3-v2', kind='cross-encoder', train='dl21-bm25', dev='dl21-bm25', guard='',
                   alphas='', rounds=1, k=2, max_steps=2, batch_size=4, lr=1e-4, query_max_len=16, passage_max_len=48,
                   eval_sets='dl19-rerank', progress=False)
    assert info['best_step'] in (0, 2) and set(info['metrics']['dl19-rerank']) >= {'BM25', 'student before', 'student after'}
    assert json.loads((tmp_path/'ce'/'student-best'/'kdnb_student.json').read_text())['kind'] == 'cross-encoder'
    assert (tmp_path/'ce'/'per_query.csv').is_file()
