"ColBERT students: a saved student loads in PyLate itself (its own environment) and gives kdnb's token vectors; training; bad input."
import json, subprocess
import numpy as np
import pytest
import torch
from kdnb.core import InputError
from kdnb.colbert import ColBERT, TokenIndex, maxsim, rerank_colbert
from kdnb.losses import get_loss
from kdnb.training import check_serves
from conftest import ROOT

Q = ['how long do fleas live', 'weather in paris in spring']
DOCS = ['An adult flea lives up to a year, depending on its access to a host.',
        'Fleas are small wingless insects; controlling them needs treating pets and bedding.',
        'Paris is mild in spring, with rain in April and sun in May.', 'Income tax is due in April.']
PYLATE_PY = ROOT/'.venv-pylate'/'bin'/'python'   # PyLate pins sentence-transformers 5: scripts/setup.sh gives it its own environment

@pytest.fixture(scope='module')
def cb():
    return ColBERT(device='cpu', precision='fp32', seed=3)

def test_pylate_loads_a_saved_student(cb, tmp_path):
    "pylate.models.ColBERT reads the saved folder and encodes queries and passages to kdnb's vectors."
    if not PYLATE_PY.is_file(): pytest.fail(f"{PYLATE_PY} is missing: run scripts/setup.sh, which builds PyLate's environment")
    cb.save(tmp_path/'cb')
    script = f"""
import json, numpy as np
from pylate import models
m = models.ColBERT({str(tmp_path/'cb')!r}, device='cpu')
q = m.encode({Q!r}, is_query=True, convert_to_numpy=True)
d = m.encode({DOCS!r}, is_query=False, convert_to_numpy=True)
np.savez({str(tmp_path/'pl.npz')!r}, q=np.stack(q), **{{f'd{{i}}': x for i, x in enumerate(d)}})
print(json.dumps(dict(qp=m.query_prefix, dp=m.document_prefix, ql=m.query_length, dl=m.document_length, dim=int(q[0].shape[-1]))))
"""
    r = subprocess.run([str(PYLATE_PY), '-c', script], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info == dict(qp='[unused0]', dp='[unused1]', ql=cb.query_max_len, dl=cb.passage_max_len, dim=96)
    pl = np.load(tmp_path/'pl.npz')
    np.testing.assert_allclose(pl['q'], cb.encode_queries(Q, progress=False), atol=1e-4)
    for i, v in enumerate(cb.encode_passages(DOCS, progress=False)):
        np.testing.assert_allclose(pl[f'd{i}'], v.astype(np.float32), atol=2e-3)   # kdnb stores passages in float16

def test_a_pylate_folder_loads_in_kdnb(cb, tmp_path):
    "A folder in PyLate's format without kdnb's record (as PyLate saves it) gives the same student."
    cb.save(tmp_path/'cb'); (tmp_path/'cb'/'kdnb_student.json').unlink()
    back = ColBERT(str(tmp_path/'cb'), device='cpu', precision='fp32')
    assert back.fingerprint() == cb.fingerprint() and back.settings() == cb.settings() | {'truncate_queries': False}
    from kdnb.pipeline import student_kind
    assert student_kind(str(tmp_path/'cb')) == 'colbert'

def test_training_steps_lower_the_loss(cb):
    "A few steps of MarginMSE on one batch move the MaxSim margins toward the teacher's."
    st = ColBERT(device='cpu', precision='fp32', seed=0); st.train()
    L, t = get_loss('margin_mse'), torch.tensor([[9., 0.], [9., 0.]])
    batch = st.collate(Q, [DOCS[2:4], DOCS[:2]])   # the positives first: the teacher disagrees with the text, on purpose
    opt = torch.optim.AdamW(st.parameters(), lr=1e-4)
    losses = []
    for _ in range(4):
        loss = L(st(batch)['scores'], t); loss.backward(); opt.step(); opt.zero_grad(); losses.append(loss.item())
    assert losses[-1] < losses[0]
    check_serves(st, get_loss('inbatch_infonce'))   # in-batch negatives are served
    with pytest.raises(InputError, match='needs q_reps'): check_serves(st, get_loss('splade'))

def test_bad_input(cb):
    with pytest.raises(InputError, match=r'queries\[0\] has \d+ tokens'): cb.encode_queries(['word ' * 40], progress=False)
    with pytest.raises(InputError, match=r'passages\[1\] is empty'): cb.encode_passages(['a flea', ''], progress=False)
    with pytest.raises(InputError, match='not a token of the vocabulary'): ColBERT(passage_prefix='[D]', device='cpu')
    ix = TokenIndex(['a', 'b'], cb.encode_passages(DOCS[:2], progress=False))
    with pytest.raises(InputError, match='dimensions'): ix.search(np.zeros((1, 4, 8), dtype=np.float32), k=1)
    with pytest.raises(InputError, match='k must be'): ix.search({'q': Q[0]}, k=0, encoder=cb)

def test_exact_index_agrees_with_maxsim(cb):
    P = cb.encode_passages(DOCS, progress=False); ix = TokenIndex([f'd{i}' for i in range(4)], P, block=3)
    run = ix.search(dict(zip(['q0', 'q1'], Q)), k=4, encoder=cb)
    Qv = torch.from_numpy(cb.encode_queries(Q, progress=False))
    D, M = ix.padded(range(4)); s = maxsim(Qv, D, M)
    for i, q in enumerate(['q0', 'q1']):
        assert list(run[q]) == [f'd{j}' for j in torch.argsort(s[i], descending=True).tolist()]
    assert list(run['q0'])[0] in ('d0', 'd1') and list(run['q1'])[0] == 'd2'
