"Training: exact resume, the distributed (gloo) path, and bad input."
import json, os, subprocess, sys
import pytest, torch
from kdnb.core import InputError
from kdnb.students import BiEncoder
from conftest import TOY_ROWS, TOY_TEXTS
from kdnb.training import GroupData, TrainConfig, train, batch_plan

def student(tiny): return BiEncoder(str(tiny), pooling='mean', similarity='dot', device='cpu')

def test_exact_resume(tiny, tmp_path):
    cfg = TrainConfig(lr=1e-3, batch_size=4, grad_accum=2, max_steps=5, save_every=2, log_every=1, epochs=1)
    data = GroupData(TOY_ROWS, TOY_TEXTS)
    a = student(tiny); train(a, data, tmp_path/'a', cfg, progress=False)
    b = student(tiny); r = train(b, data, tmp_path/'b', cfg, stop_after=3, progress=False)
    assert r['stopped'] and r['step'] == 3
    c = student(tiny); r = train(c, data, tmp_path/'b', cfg, progress=False)
    assert r['step'] == 5
    for (n, x), y in zip(a.state_dict().items(), c.state_dict().values()): assert torch.equal(x, y), n
    steps = [json.loads(l)['step'] for l in (tmp_path/'b'/'log.jsonl').read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]

def test_batches_cover_everything_once():
    plan = batch_plan(list(range(100)), 7, seed=3, epoch=2, bucket=4)
    assert sorted(i for b in plan for i in b) == list(range(100)) and plan == batch_plan(list(range(100)), 7, seed=3, epoch=2, bucket=4)

def test_distributed_gloo(tiny, tmp_path):
    "2 CPU processes x batch 4 take the same steps as 1 process x batch 8."
    script = tmp_path/'ddp.py'; script.write_text("import sys\nfrom kdnb.training import _ddp_demo\n_ddp_demo(*sys.argv[1:])\n")
    env = dict(os.environ, OMP_NUM_THREADS='1')
    def run(*a):
        r = subprocess.run([sys.executable, *map(str, a)], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    run('-m', 'torch.distributed.run', '--nproc_per_node', 2, '--master_port', 29544, script, tiny, tmp_path/'ddp', 4, 3)
    run(script, tiny, tmp_path/'one', 8, 3)
    wd, ws = torch.load(tmp_path/'ddp'/'last'/'weights.pt'), torch.load(tmp_path/'one'/'last'/'weights.pt')
    assert max((wd[k] - ws[k]).abs().max().item() for k in wd) < 1e-5

def test_bad_input(tiny, tmp_path, monkeypatch):
    with pytest.raises(InputError, match='training set is empty'): GroupData([], TOY_TEXTS)
    with pytest.raises(InputError, match=r"group 1: 2 passages, but group 0 has 3"):
        GroupData([TOY_ROWS[0], dict(TOY_ROWS[1], docids=['p1', 'n1a'], scores=[1., 0.])], TOY_TEXTS)
    with pytest.raises(InputError, match="group 0: 3 passages but 2 teacher scores"): GroupData([dict(TOY_ROWS[0], scores=[1., 0.])], TOY_TEXTS)
    with pytest.raises(InputError, match="unknown passage id"): GroupData([dict(TOY_ROWS[0], docids=['p0', 'zz', 'n0b'])], TOY_TEXTS)
    with pytest.raises(InputError, match="carry no passage texts"): GroupData(TOY_ROWS)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(InputError, match='no-such-model'): BiEncoder('no-such-model', device='cpu')
    with pytest.raises(InputError, match='used other settings'):
        data = GroupData(TOY_ROWS, TOY_TEXTS)
        train(student(tiny), data, tmp_path/'x', TrainConfig(lr=1e-3, batch_size=4, max_steps=2, save_every=1), progress=False)
        train(student(tiny), data, tmp_path/'x', TrainConfig(lr=5e-4, batch_size=4, max_steps=2, save_every=1), progress=False)

def test_best_checkpoint_can_be_the_untrained_student(tiny, tmp_path):
    "The dev evaluation runs before the first step too; when training only lowers the metric, `best` is the student as it was."
    data = GroupData(TOY_ROWS, TOY_TEXTS)
    def margin(st):
        s = st.score_groups(data.queries, data.passages)
        return (s[:, :1] - s[:, 1:]).mean().item()
    s = student(tiny); w0 = {k: v.clone() for k, v in s.state_dict().items()}
    cfg = TrainConfig(lr=1e-3, batch_size=4, max_steps=3, eval_every=1, log_every=1)
    r = train(s, data, tmp_path/'r', cfg, eval_fn=lambda st: {'neg_margin': -margin(st)}, progress=False)
    best = json.loads((tmp_path/'r'/'best.json').read_text())
    assert best['step'] == 0 and r['best'] == best['value']
    evals = [json.loads(l) for l in (tmp_path/'r'/'log.jsonl').read_text().splitlines() if 'eval' in l]
    assert [e['step'] for e in evals] == [0, 1, 2, 3] and evals[-1]['eval']['neg_margin'] < evals[0]['eval']['neg_margin']
    b = BiEncoder.load(tmp_path/'r'/'best', device='cpu').state_dict()
    assert all(torch.equal(b[k], w0[k]) for k in w0)
    r = train(student(tiny), data, tmp_path/'no0', TrainConfig(lr=1e-3, batch_size=4, max_steps=2, eval_every=1, eval_first=False),
              eval_fn=lambda st: {'neg_margin': -margin(st)}, progress=False)
    assert json.loads((tmp_path/'no0'/'best.json').read_text())['step'] == 1
