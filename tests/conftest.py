"""Test-wide settings: widget settings go to a fresh folder per test (never the user's)."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECKTRACK_CONFIG_DIR", str(tmp_path / "config"))
