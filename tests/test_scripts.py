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
