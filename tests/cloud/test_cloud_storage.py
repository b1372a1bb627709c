"""Storage: content addressing, quota before writing, traversal impossible, metering."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cloud_helpers import (
    CHAIN,
    LEASE_ID,
    PROVIDER,
    buyer_lease,
    make_lease,
    memory_buyer,
    trio_test,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.cloud.proto import STORAGE_PROTOCOL, Refused
from daoli.cloud.service import (
    BYTES_IN,
    BYTES_OUT,
    MemoryLeaseSource,
    MeterPolicy,
    ProviderLimits,
    ServiceHost,
)
from daoli.cloud.storage import WINDOW_BYTES, LeaseStore, StorageService


def setup(tmp_path: Path, quota: int = 10 << 20,
          policy: MeterPolicy | None = None) -> tuple[ServiceHost, StorageService]:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    eng = ServiceHost(CHAIN, PROVIDER, source, ProviderLimits(max_storage_bytes=quota),
                      policy or MeterPolicy())
    return eng, StorageService(tmp_path)


@trio_test
async def test_round_trip_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    eng, storage = setup(tmp_path)
    data = bytes(range(256)) * 1000
    async with memory_buyer(eng, {STORAGE_PROTOCOL: storage}, buyer_lease()) as buyer:
        stored = await buyer.put("a.bin", data)
        assert stored.digest == hashlib.sha256(data).digest() and stored.size == len(data)
        await buyer.put("copy.bin", data)
        assert await buyer.get("a.bin") == data
        assert await buyer.get("sha256:" + stored.digest.hex()) == data
        assert [(e.name, e.size) for e in await buyer.ls()] == [("a.bin", len(data)),
                                                                ("copy.bin", len(data))]
        objects = list((tmp_path / "storage" / LEASE_ID.hex() / "objects").iterdir())
        assert [p.name for p in objects] == [stored.digest.hex()]  # stored once
        await buyer.rm("a.bin")
        assert await buyer.get("copy.bin") == data
        await buyer.rm("copy.bin")
        assert not list((tmp_path / "storage" / LEASE_ID.hex() / "objects").iterdir())
        with pytest.raises(Refused) as exc:
            await buyer.get("copy.bin")
        assert exc.value.code == "not_found"
        session = next(iter(eng.accounts[LEASE_ID].sessions))
        assert session.meter.totals[BYTES_IN] == 2 * len(data)
        assert session.meter.totals[BYTES_OUT] == 3 * len(data)  # three gets


@trio_test
async def test_quota_refused_before_anything_is_written(tmp_path: Path) -> None:
    eng, storage = setup(tmp_path, quota=100_000)
    async with memory_buyer(eng, {STORAGE_PROTOCOL: storage}, buyer_lease()) as buyer:
        await buyer.put("small", b"x" * 60_000)
        with pytest.raises(Refused) as exc:
            await buyer.put("big", b"y" * 50_000)
        assert exc.value.code == "quota"
        store = storage.store(LEASE_ID)
        assert store.used() == 60_000 and store.reserved == 0
        assert not list(store.tmp.iterdir())
        assert [e.name for e in await buyer.ls()] == ["small"]  # the session goes on
        await buyer.put("fits", b"z" * 40_000)


@trio_test
async def test_large_put_pauses_for_receipts_between_windows(tmp_path: Path) -> None:
    eng, storage = setup(tmp_path, policy=MeterPolicy(receipt_every=4, max_unreceipted=20))
    data = b"q" * (3 * WINDOW_BYTES + 123)
    async with memory_buyer(eng, {STORAGE_PROTOCOL: storage}, buyer_lease()) as buyer:
        await buyer.put("big", data)
        assert len(buyer.signer.signed) >= 3  # asked between windows, not only at the end
        assert eng.unreceipted(LEASE_ID) <= 20
        assert await buyer.get("big") == data


@given(st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_names_never_reach_the_filesystem(tmp_path: Path, name: str) -> None:
    root = tmp_path / "lease"
    store = LeaseStore(root)
    tmp = store.tmp / "t"
    tmp.write_bytes(b"data")
    digest = hashlib.sha256(b"data").digest()
    store.commit(name, tmp, digest, 4)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert files == {"index.cbor", f"objects/{digest.hex()}"}
    assert LeaseStore(root).index[name] == (digest, 4)  # and the index survives a restart


@trio_test
async def test_traversal_names_are_just_names(tmp_path: Path) -> None:
    eng, storage = setup(tmp_path / "data")
    async with memory_buyer(eng, {STORAGE_PROTOCOL: storage}, buyer_lease()) as buyer:
        for name in ("../../escape", "/etc/passwd", "..", "a/../../b"):
            await buyer.put(name, b"evil")
            assert await buyer.get(name) == b"evil"
    assert not (tmp_path / "escape").exists()
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "data")]
    assert outside == []
    with pytest.raises(Refused):
        storage.store(LEASE_ID).resolve("sha256:../x")


@trio_test
async def test_bad_requests_are_refused_and_the_session_survives(tmp_path: Path) -> None:
    eng, storage = setup(tmp_path)
    async with memory_buyer(eng, {STORAGE_PROTOCOL: storage}, buyer_lease()) as buyer:
        s = await buyer.session(STORAGE_PROTOCOL)
        for bad in (["put", "n", -1], ["put", "", 1], ["get", 5], ["frobnicate"],
                    ["put", "n\x00", 1]):
            await s.send(bad)
            msg = await s.recv()
            assert msg[0] == "err" and msg[1] == "bad_request"
        assert await buyer.ls() == []
