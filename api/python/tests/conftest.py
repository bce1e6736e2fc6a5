import pytest

import ckptdb


@pytest.fixture
def store(tmp_path):
    s = ckptdb.open(tmp_path / "store")
    yield s
    if not s.closed:
        s.close()
