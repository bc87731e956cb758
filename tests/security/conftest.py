from __future__ import annotations

from pathlib import Path

import pytest
from _certs import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory: Path = tmp_path_factory.mktemp("pki")
    return make_pki(directory)
