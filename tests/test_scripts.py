"The README's shell commands: KDNB_DATA may be relative to the folder the command is typed in."
import os, subprocess
from pathlib import Path
from kdnb.core import project_root

ENV = project_root()/'scripts'/'env.sh'

def _env_sh(cwd, data):
    env = {k: v for k, v in os.environ.items() if k != 'KDNB_DATA'}
    if data is not None: env['KDNB_DATA'] = str(data)
    return subprocess.run(['bash', '-c', f'set -e; . {ENV}; echo "$KDNB_DATA"'], cwd=cwd, env=env, capture_output=True, text=True)

def test_relative_kdnb_data_made_absolute(tmp_path):
    (tmp_path/'work'/'data').mkdir(parents=True); (tmp_path/'elsewhere').mkdir()
    for cwd, rel in ((tmp_path/'work', 'data'), (tmp_path/'elsewhere', '../work/data'), (tmp_path, 'work/data')):
        r = _env_sh(cwd, rel)
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()).resolve() == (tmp_path/'work'/'data').resolve()

def test_absolute_and_default_kdnb_data(tmp_path, data_root):
    r = _env_sh(tmp_path, data_root)
    assert r.returncode == 0 and Path(r.stdout.strip()).resolve() == Path(data_root).resolve()   # env.sh keeps symbolic links
    r = _env_sh(tmp_path, None)   # default: shared/data beside the checkout
    assert r.returncode == 0 and Path(r.stdout.strip()).resolve() == (project_root().parent/'shared'/'data').resolve()

def test_missing_kdnb_data_is_named(tmp_path):
    r = _env_sh(tmp_path, 'no/such/folder')
    assert r.returncode != 0
    assert 'KDNB_DATA=no/such/folder: no such folder' in r.stderr

def _store_outputs():
    import importlib.util
    spec = importlib.util.spec_from_file_location('store_outputs', project_root()/'scripts'/'store_outputs.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

def test_store_outputs_keeps_results_drops_noise():
    keep = _store_outputs().keep_outputs
    out = [dict(output_type='stream', name='stdout', text=['nDCG@10 0.61\n']),
           dict(output_type='stream', name='stderr', text=['UserWarning: ...\n']),
           dict(output_type='stream', name='stdout', text=['10%|#  | 1/10\r 20%|## | 2/10\r']),
           dict(output_type='execute_result', execution_count=7, metadata={}, data={'text/plain': ['   a\n0  1'], 'text/html': ['<table/>'],
                'application/vnd.jupyter.widget-view+json': {'model_id': 'x'}}),
           dict(output_type='display_data', metadata={}, data={'image/png': 'A' * 200_000, 'text/plain': ['<Figure>']}),
           dict(output_type='error', ename='ValueError', evalue='', traceback=[])]
    k = keep('x = 1\nx', out)
    assert [o['output_type'] for o in k] == ['stream', 'execute_result']   # the printed line and the table only
    assert k[0]['text'] == ['nDCG@10 0.61\n'] and set(k[1]['data']) == {'text/plain', 'text/html'} and k[1]['execution_count'] is None
    assert keep('#| hide\nx', out) == [] and keep('#| export\ndef f(): pass', out) == []
    small = dict(output_type='display_data', metadata={}, data={'image/png': 'A' * 1000})
    assert keep('fig', [small]) == [small]
