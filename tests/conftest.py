"""Test-wide settings: widget settings go to a fresh folder per test (never the user's); the
``one_torch_thread`` fixture for modules of small network passes."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECKTRACK_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: two threads spin-wait on a loaded 2-core machine, and
    small network passes ran 50× slower (use with ``pytestmark = pytest.mark.usefixtures``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
