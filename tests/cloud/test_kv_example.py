"""The kv-service example: a third service on the service API, in memory and over libp2p."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cloud_helpers import (
    CHAIN,
    LEASE_ID,
    OTHER,
    PROVIDER,
    buyer_lease,
    make_lease,
    memory_buyer,
    trio_test,
)

from daoli.cloud.buyer import open_buyer
from daoli.cloud.proto import Refused
from daoli.cloud.provider import ProviderConfig, open_provider
from daoli.cloud.service import MemoryLeaseSource, MeterPolicy, ProviderLimits, ServiceHost

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kv-service" / "kv.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kv_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kv_example"] = module
    spec.loader.exec_module(module)
    return module


kv = load()


def test_the_example_is_one_page() -> None:
    assert len(EXAMPLE.read_text().splitlines()) <= 110


@trio_test
async def test_kv_round_trip_billed_in_operations() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    policy = MeterPolicy(kv.TARIFF, receipt_every=1, max_unreceipted=4)
    eng = ServiceHost(CHAIN, PROVIDER, source, ProviderLimits(max_storage_bytes=1000), policy)
    service = kv.KVService()
    async with memory_buyer(eng, {kv.PROTOCOL: service},
                            buyer_lease(tariff=kv.TARIFF)) as buyer:
        client = kv.KVClient(buyer)
        await client.set(b"a", b"1")
        await client.set(b"b", b"2")
        assert await client.get(b"a") == b"1"
        assert await client.get(b"zz") is None
        await client.delete(b"a")
        assert await client.keys() == [b"b"]
        with pytest.raises(Refused) as exc:
            await client.set(b"big", b"x" * 2000)
        assert exc.value.code == "quota"
        for i in range(14):
            await client.set(b"k", bytes([i]))
    assert sum(r.units for r in eng.receipts.pending(LEASE_ID)) == 2  # 21 ops, 10 per unit
    assert service.data[LEASE_ID] == {b"b": b"2", b"k": bytes([13])}


@trio_test
async def test_kv_over_libp2p_refuses_another_buyer(tmp_path: Path) -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    config = ProviderConfig(CHAIN, PROVIDER, bytes([4]) * 32, tmp_path, policy=kv.POLICY)
    async with open_provider(config, source, [kv.KVService()]) as provider:
        addr = provider.addrs()[0]
        async with open_buyer(buyer_lease(tariff=kv.TARIFF), addr) as buyer:
            client = kv.KVClient(buyer)
            await client.set(b"greeting", b"hello")
            assert await client.get(b"greeting") == b"hello"
        async with open_buyer(buyer_lease(secret=OTHER, tariff=kv.TARIFF), addr) as intruder:
            with pytest.raises(Refused) as exc:
                await kv.KVClient(intruder).get(b"greeting")
            assert exc.value.code == "not_buyer"
