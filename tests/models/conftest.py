"""The models' tests take a private copy of the session's demo lake (tests/conftest.py) before training."""
from __future__ import annotations

import pytest


@pytest.fixture
def demo(demo_data_copy):
    """A private copy of the 44-cell demo lake (no models yet)."""
    return demo_data_copy
