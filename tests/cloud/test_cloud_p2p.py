"""Provider and buyer over real py-libp2p hosts on 127.0.0.1 (TCP + Noise + Yamux)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio
import trio.testing
from cloud_helpers import (
    CHAIN,
    LEASE_ID,
    OTHER,
    PROVIDER,
    buyer_lease,
    make_lease,
    trio_test,
)

from daoli.cloud.buyer import open_buyer
from daoli.cloud.host import dial, new_stream, open_cloud_host
from daoli.cloud.proto import STORAGE_PROTOCOL, Refused
from daoli.cloud.provider import ProviderConfig, open_provider
from daoli.cloud.service import LeaseView, MemoryLeaseSource, MeterPolicy, ProviderLimits
from daoli.core.market import verify_receipt
from daoli.core.tx import UsageReceipt

pytestmark = pytest.mark.slow
OTHER_LEASE = bytes([2]) * 32


def config(tmp: Path) -> ProviderConfig:
    return ProviderConfig(CHAIN, PROVIDER, bytes([3]) * 32, tmp,
                          limits=ProviderLimits(max_storage_bytes=1 << 20,
                                                max_file_bytes=1 << 20),
                          policy=MeterPolicy(receipt_every=4, max_unreceipted=16),
                          use_cgroups=False)


def source() -> MemoryLeaseSource:
    return MemoryLeaseSource({LEASE_ID: make_lease(),
                              OTHER_LEASE: make_lease(OTHER_LEASE, buyer=OTHER)}, height=5)


@trio_test
async def test_buyer_with_a_lease_puts_gets_runs_and_receipts_flow(tmp_path: Path) -> None:
    submitted: list[UsageReceipt] = []

    async def submit(lease: LeaseView, receipt: UsageReceipt) -> None:
        submitted.append(receipt)

    with trio.fail_after(30):
        async with open_provider(config(tmp_path), source(),
                                 submit_receipt=submit) as provider:
            addr = provider.addrs()[0]
            async with open_buyer(buyer_lease(), addr) as buyer:
                data = bytes(range(256)) * 2048  # 512 KiB: 8 units each way
                stored = await buyer.put("blob", data)
                assert await buyer.get("blob") == data
                assert [e.digest for e in await buyer.ls()] == [stored.digest]
                outcome = await buyer.run([sys.executable, "-c", "print(6 * 7)"], wall_s=10)
                assert outcome.code == 0 and outcome.stdout == b"42\n"
            signed = buyer.signer.signed
            assert signed and not buyer.signer.refusals
            while len(submitted) < len(signed):  # the submitter runs beside the sessions
                await trio.testing.wait_all_tasks_blocked()
    lease = make_lease()
    assert [r.seq for r in submitted] == [r.seq for r in signed] == sorted(r.seq for r in signed)
    assert all(verify_receipt(lease.buyer_pubkey, CHAIN, r) for r in submitted)
    assert sum(r.units for r in submitted) >= 16


@trio_test
async def test_callers_without_the_lease_are_refused_and_the_provider_carries_on(
        tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_provider(config(tmp_path), source()) as provider:
            addr = provider.addrs()[0]
            cases = [(buyer_lease(bytes([9]) * 32), "no_lease"),           # no such lease
                     (buyer_lease(OTHER_LEASE), "not_buyer"),             # another's lease
                     (buyer_lease(secret=OTHER), "not_buyer")]            # not the buyer key
            for lease, code in cases:
                async with open_buyer(lease, addr) as intruder:
                    with pytest.raises(Refused) as exc:
                        await intruder.ls()
                    assert exc.value.code == code
            async with open_buyer(buyer_lease(), addr) as buyer:
                await buyer.put("ok", b"fine")
                assert await buyer.get("ok") == b"fine"
            assert provider.engine.refusals["not_buyer"] == 2


@trio_test
async def test_expired_lease_is_refused(tmp_path: Path) -> None:
    src = MemoryLeaseSource({LEASE_ID: make_lease(end=5)}, height=5)
    with trio.fail_after(30):
        async with open_provider(config(tmp_path), src) as provider, \
                open_buyer(buyer_lease(), provider.addrs()[0]) as buyer:
            with pytest.raises(Refused) as exc:
                await buyer.put("x", b"x")
            assert exc.value.code == "expired"


@trio_test
async def test_buyer_that_stops_signing_is_cut_off(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_provider(config(tmp_path), source()) as provider, \
                open_buyer(buyer_lease(), provider.addrs()[0]) as buyer:
            await buyer.put("blob", b"z" * (256 * 1024))
            await buyer.ls()  # 4 units served: the provider asks before answering
            assert buyer.signer.signed
            buyer.signer.signing = False
            with pytest.raises(Refused) as exc:
                for _ in range(20):
                    await buyer.get("blob")  # 4 units each
            assert exc.value.code == "cut_off"
            assert provider.engine.unreceipted(LEASE_ID) <= 16 + 4 + 1


@trio_test
async def test_junk_and_oversized_frames_do_not_hurt_the_provider(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_provider(config(tmp_path), source()) as provider:
            addr = provider.addrs()[0]
            async with open_cloud_host(bytes([5]) * 32, None) as host:
                peer = await dial(host, addr)
                for junk in (b"\x8a\x80\x80\x80\x08", b"\x06\x00\x00\x00\x00\xff\xff",
                             b"garbage" * 100):
                    stream = await new_stream(host, peer, STORAGE_PROTOCOL)
                    await stream.write(junk)
                    with trio.fail_after(5):
                        try:
                            while await stream.read(65536):
                                pass
                        except Exception:  # noqa: BLE001 - a reset is a fine answer too
                            pass
            assert provider.engine.refusals.get("violation", 0) >= 3
            async with open_buyer(buyer_lease(), addr) as buyer:
                await buyer.put("still", b"alive")
                assert await buyer.get("still") == b"alive"
