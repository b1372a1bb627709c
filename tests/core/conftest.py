"""Fixtures for core tests; the factories themselves live in ledger_factories.py so that
test modules import them by a name no other test directory uses."""

from __future__ import annotations

import pytest

from tests.core.ledger_factories import Chain


@pytest.fixture
def chain() -> Chain:
    return Chain()
