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
