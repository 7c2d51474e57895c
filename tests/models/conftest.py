"""A demo lake built once per session and copied for each test that writes (copying is cheap; building is not)."""
from __future__ import annotations

import shutil

import pytest

from app.demo import build_demo


_BUILT: dict[str, object] = {}


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory):
    """Built once per session (tests/optimizer imports this fixture too; the cache keeps it one build)."""
    if "root" not in _BUILT:
        root = tmp_path_factory.mktemp("demo-master") / "lake"
        build_demo(root, n_cells=40, seed=7)
        _BUILT["root"] = root
    return _BUILT["root"]


@pytest.fixture
def demo(demo_master, tmp_path):
    """A private copy of the 44-cell demo lake (the bulk views re-point to the new folder on first open)."""
    root = tmp_path / "demo"
    shutil.copytree(demo_master, root)
    return root
