"""Genesis values that could be stored but never decoded again are refused up front."""

from __future__ import annotations

import pytest

from daoli.core.genesis import Genesis
from daoli.core.params import ChainParams
from daoli.errors import ConfigError


@pytest.mark.parametrize("time_ms", [-1, 1 << 64])
def test_genesis_time_must_fit_u64(time_ms: int) -> None:
    with pytest.raises(ConfigError):
        Genesis("daoli-test", time_ms, ChainParams())


def test_largest_genesis_time_round_trips() -> None:
    g = Genesis("daoli-test", (1 << 64) - 1, ChainParams())
    assert Genesis.decode(g.encode()) == g


def test_trustee_key_must_be_a_curve_point() -> None:
    from daoli.core.genesis import GenesisTrustee

    bad = GenesisTrustee(b"\x02" + b"\xff" * 32, ChainParams().min_bond, "/ip4/127.0.0.1/tcp/1")
    with pytest.raises(ConfigError, match="trustee"):
        Genesis("daoli-test", 0, ChainParams(), trustees=(bad,))
