"""Fixtures of the model tests (helpers live in ``model_helpers``)."""
from __future__ import annotations

import pytest
from model_helpers import drawn_clip

import rvosbench.models  # noqa: F401  (registration)


@pytest.fixture(scope="session")
def clip() -> dict:
    return drawn_clip()
