"""The service API without a network: authentication, lease checks, metering, receipts,
cut-off, escrow, and hostile input, over in-memory streams to a ServiceHost."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing
from cloud_helpers import (
    BUYER,
    CHAIN,
    LEASE_ID,
    OTHER,
    PROVIDER,
    Pipe,
    buyer_lease,
    make_lease,
    memory_buyer,
    trio_test,
)
from hypothesis import given
from hypothesis import strategies as st

from daoli.cloud import service as svc
from daoli.cloud.buyer import BuyerSession, ReceiptSigner
from daoli.cloud.proto import Channel, CloudError, Refused
from daoli.cloud.service import (
    TAG_AUTH_BUYER,
    TAG_AUTH_PROVIDER,
    AuthContext,
    MemoryLeaseSource,
    Meter,
    MeterPolicy,
    ServiceHost,
    Session,
    Tariff,
    lease_refusal,
)
from daoli.core.crypto import pubkey_from_secret
from daoli.core.market import verify_receipt
from daoli.core.tx import UsageReceipt

PROTO = "/daoli/cloud/echo/1"


class Echo:
    """A minimal service: ``["echo", data]`` -> ``["echo", data]``, metering bytes out."""

    protocol = PROTO

    async def handle(self, session: Session, request: list[Any]) -> None:
        if request[0] != "echo" or len(request) != 2 or type(request[1]) is not bytes:
            raise Refused("bad_request", "echo takes bytes")
        await session.send(["echo", request[1]])
        session.charge(svc.BYTES_OUT, len(request[1]))


async def echo(buyer: Any, data: bytes) -> bytes:
    s = await buyer.session(PROTO)
    async with s.lock:
        await s.send(["echo", data])
        reply = await s.recv()
        if reply[0] == "err":
            raise Refused(reply[1], reply[2])
        s.observe(svc.BYTES_OUT, len(reply[1]))
        out: bytes = reply[1]
        return out


TARIFF = Tariff(((svc.BYTES_OUT, 10),))
POLICY = MeterPolicy(TARIFF, receipt_every=2, max_unreceipted=4)


def engine(source: MemoryLeaseSource, policy: MeterPolicy = POLICY) -> ServiceHost:
    return ServiceHost(CHAIN, PROVIDER, source, policy=policy)


def ctx(**kw: Any) -> AuthContext:
    base = dict(chain_id=CHAIN, provider_peer="P", buyer_peer="B", lease_id=LEASE_ID,
                protocol=PROTO, buyer_nonce=b"\x01" * 32, provider_nonce=b"\x02" * 32)
    base.update(kw)
    return AuthContext(**base)  # type: ignore[arg-type]


# --- authentication -------------------------------------------------------------------------


@given(st.sampled_from(["chain_id", "provider_peer", "buyer_peer", "lease_id", "protocol",
                        "buyer_nonce", "provider_nonce"]))
def test_auth_signature_is_bound_to_every_field(name: str) -> None:
    sig = ctx().sign(TAG_AUTH_BUYER, BUYER)
    pub = pubkey_from_secret(BUYER)
    assert ctx().verify(TAG_AUTH_BUYER, pub, sig)
    changed = {"chain_id": "other", "provider_peer": "X", "buyer_peer": "Y",
               "lease_id": b"\x05" * 32, "protocol": "/x/1", "buyer_nonce": b"\x07" * 32,
               "provider_nonce": b"\x08" * 32}[name]
    assert not ctx(**{name: changed}).verify(TAG_AUTH_BUYER, pub, sig)


def test_role_tags_keep_one_sides_signature_from_serving_as_the_others() -> None:
    sig = ctx().sign(TAG_AUTH_PROVIDER, BUYER)
    assert not ctx().verify(TAG_AUTH_BUYER, pubkey_from_secret(BUYER), sig)
    assert ctx().message(TAG_AUTH_BUYER).startswith(b"daoli/cloud-auth/buyer/v1")
    with pytest.raises(ValueError):
        svc.auth_bytes(b"daoli/tx/v1", CHAIN, "P", "B", LEASE_ID, PROTO, b"", b"")


def test_lease_refusals() -> None:
    me = pubkey_from_secret(PROVIDER)
    assert lease_refusal(make_lease(), 5, me) is None
    cases = {"no_lease": (None, 5), "wrong_provider": (make_lease(provider=OTHER), 5),
             "expired": (make_lease(end=10), 10)}
    for code, (lease, h) in cases.items():
        why = lease_refusal(lease, h, me)
        assert why is not None and why.code == code
    assert lease_refusal(make_lease(start=20), 5, me).code == "expired"  # type: ignore[union-attr]
    assert lease_refusal(make_lease(active=False), 5, me).code == "expired"  # type: ignore[union-attr]


# --- metering -------------------------------------------------------------------------------


@given(st.lists(st.integers(0, 1000), max_size=40), st.integers(1, 97))
def test_tariff_units_never_lose_or_double_count(amounts: list[int], per: int) -> None:
    tariff = Tariff((("x", per),))
    meter = Meter()
    billed = 0
    last: dict[str, int] = {}
    for a in amounts:
        meter.add("x", a)
        billed += tariff.units(meter.totals) - tariff.units(last)
        last = dict(meter.totals)
    assert billed == sum(amounts) // per


def test_meter_and_policy_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        Meter().add("x", -1)
    with pytest.raises(ValueError):
        MeterPolicy(receipt_every=5, max_unreceipted=4)
    with pytest.raises(ValueError):
        Tariff((("x", 0),))


def test_quotas_map_offer_resources_capped_by_the_provider() -> None:
    lease = make_lease(resources=svc.Resources(1500, 512, 2))
    q = svc.quotas_for(lease, svc.ProviderLimits(max_storage_bytes=3 * svc.GIB))
    assert (q.storage_bytes, q.cpu_millicores, q.mem_bytes) == (2 * svc.GIB, 1500, 512 << 20)
    q = svc.quotas_for(lease, svc.ProviderLimits(max_storage_bytes=1000))
    assert q.storage_bytes == 1000


# --- sessions -------------------------------------------------------------------------------


@trio_test
async def test_buyer_served_receipts_flow_with_increasing_seq() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease(last_seq=3)}, height=5)
    eng = engine(source)
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        for i in range(10):
            assert await echo(buyer, bytes([i]) * 15) == bytes([i]) * 15
    signed = buyer.signer.signed
    pending = eng.receipts.pending(LEASE_ID)
    assert [r.seq for r in pending] == [r.seq for r in signed]
    assert pending[0].seq == 4 and all(b.seq > a.seq for a, b in itertools.pairwise(pending))
    lease = make_lease()
    assert all(verify_receipt(lease.buyer_pubkey, CHAIN, r) for r in pending)
    assert sum(r.units for r in pending) == 150 // 10  # everything, once (bye settles)
    assert eng.unreceipted(LEASE_ID) == 0


@trio_test
async def test_buyer_that_stops_signing_is_cut_off_and_back_when_it_signs() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    eng = engine(source)
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        buyer.signer.signing = False
        served = 0
        with pytest.raises(Refused) as exc:
            for _ in range(20):
                await echo(buyer, b"x" * 10)
                served += 1
        assert exc.value.code == "cut_off"
        assert served <= POLICY.max_unreceipted + 1
        assert eng.unreceipted(LEASE_ID) > POLICY.max_unreceipted
        assert buyer.signer.refusals and not buyer.signer.signed
        with pytest.raises(Refused):
            await echo(buyer, b"y")
        buyer.signer.signing = True
        assert await echo(buyer, b"z" * 10) == b"z" * 10
        assert buyer.signer.signed


@trio_test
async def test_unsigned_units_of_a_closed_session_still_count() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    eng = engine(source)
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        buyer.signer.signing = False
        for _ in range(4):
            await echo(buyer, b"x" * 10)
    assert eng.unreceipted(LEASE_ID) == 4  # bye was refused: the debt stays
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        await echo(buyer, b"x" * 10)
        with pytest.raises(Refused) as exc:
            await echo(buyer, b"x" * 10)
        assert exc.value.code == "cut_off"


@trio_test
async def test_escrow_that_cannot_pay_stops_service() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease(unit_price=10, escrow=35)}, height=5)
    eng = engine(source)
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        with pytest.raises(Refused) as exc:
            for _ in range(10):
                await echo(buyer, b"x" * 10)
        assert exc.value.code == "escrow"


@pytest.mark.parametrize(("lease_kw", "secret", "code"), [
    ({"lease_id": b"\x02" * 32}, BUYER, "no_lease"),
    ({}, OTHER, "not_buyer"),
    ({"provider": OTHER}, BUYER, "wrong_provider"),
    ({"end": 5}, BUYER, "expired"),
])
@trio_test
async def test_callers_without_the_lease_are_refused(lease_kw: dict[str, Any], secret: bytes,
                                                     code: str) -> None:
    lease = make_lease(**{k: v for k, v in lease_kw.items() if k != "lease_id"})
    source = MemoryLeaseSource({LEASE_ID: lease}, height=5)
    eng = engine(source)
    provider = OTHER if "provider" in lease_kw else PROVIDER
    blease = buyer_lease(lease_kw.get("lease_id", LEASE_ID), secret, tariff=TARIFF,
                         provider=provider)
    async with memory_buyer(eng, {PROTO: Echo()}, blease) as buyer:
        with pytest.raises(Refused) as exc:
            await echo(buyer, b"hi")
        assert exc.value.code == code
    assert eng.refusals.get(code) == 1
    assert not eng.accounts or eng.accounts[LEASE_ID].sessions == set()


@trio_test
async def test_buyer_refuses_a_peer_that_is_not_the_leases_provider() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease(provider=OTHER)}, height=5)
    eng = ServiceHost(CHAIN, OTHER, source, policy=POLICY)
    async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
        with pytest.raises(CloudError, match="not this lease's provider"):
            await echo(buyer, b"hi")


@trio_test
async def test_buyer_refuses_another_tariff() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    async with memory_buyer(engine(source), {PROTO: Echo()}, buyer_lease()) as buyer:
        with pytest.raises(CloudError, match="tariff"):
            await echo(buyer, b"hi")


@trio_test
async def test_lease_ending_mid_session_ends_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svc, "LEASE_RECHECK_S", 0.0)
    source = MemoryLeaseSource({LEASE_ID: make_lease(end=10)}, height=5)
    async with memory_buyer(engine(source), {PROTO: Echo()},
                            buyer_lease(tariff=TARIFF)) as buyer:
        assert await echo(buyer, b"a") == b"a"
        source.tip = 10
        with pytest.raises(Refused) as exc:
            await echo(buyer, b"b")
        assert exc.value.code == "expired"


@trio_test
async def test_submitter_gets_receipts_in_order_and_clears_them() -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease()}, height=5)
    eng = engine(source)
    got: list[UsageReceipt] = []

    async def submit(lease: svc.LeaseView, receipt: UsageReceipt) -> None:
        got.append(receipt)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(eng.run_submitter, submit)
        async with memory_buyer(eng, {PROTO: Echo()}, buyer_lease(tariff=TARIFF)) as buyer:
            for _ in range(6):
                await echo(buyer, b"x" * 20)
        with trio.fail_after(5):
            while len(got) < len(buyer.signer.signed):
                await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [r.seq for r in got] == sorted(r.seq for r in got) and got
    assert eng.receipts.pending(LEASE_ID) == []
    assert eng.accounts[LEASE_ID].pending_units == 0


# --- hostile input --------------------------------------------------------------------------


async def _raw(eng: ServiceHost, payload: bytes) -> bytes:
    a, b = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(eng.serve, Pipe(b), Echo(), "prov-peer", "buyer-peer")
        await a.send_all(payload)
        await a.send_eof() if hasattr(a, "send_eof") else None
        out = b""
        with trio.fail_after(5):
            while chunk := await a.receive_some(65536):
                out += chunk
    return out


@pytest.mark.parametrize("payload", [
    b"\xff" * 20,                          # a length prefix that never ends
    b"\x8a\x80\x80\x80\x08",               # a frame claiming ~2 GiB
    b"\x06\x00\x00\x00\x00\xff\xff",       # a frame whose message is not CBOR
    b"\x09\x00\x00\x00\x00\x84\x01\x02\x03\x04",  # CBOR, but not a verb array
    b"",                                    # nothing at all
])
@trio_test
async def test_junk_gets_a_closed_stream_never_a_crash(payload: bytes) -> None:
    eng = engine(MemoryLeaseSource({LEASE_ID: make_lease()}, height=5))
    await _raw(eng, payload)
    assert eng.refusals.get("violation") == 1
    assert eng.sessions == 0


@trio_test
async def test_hello_with_bad_fields_is_refused() -> None:
    eng = engine(MemoryLeaseSource({LEASE_ID: make_lease()}, height=5))
    from daoli.core import encoding as enc
    from daoli.core import wire
    out = await _raw(eng, wire.encode_frame(0, enc.encode(["hello", b"short", b"n"])))
    assert b"bad_request" in out


@trio_test
async def test_unsolicited_receipt_closes_the_session() -> None:
    a, b = trio.testing.memory_stream_pair()
    signer = ReceiptSigner(buyer_lease(tariff=TARIFF))
    eng = engine(MemoryLeaseSource({LEASE_ID: make_lease()}, height=5))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(eng.serve, Pipe(b), Echo(), "prov-peer", "buyer-peer")
        s = BuyerSession(Pipe(a), signer, PROTO, "buyer-peer", "prov-peer")
        await s.handshake()
        await s.send(["receipt", b"\x00" * 64])
        with pytest.raises(CloudError):
            await s.recv(timeout=5)
    assert eng.refusals.get("violation") == 1


def test_buyer_checks_claims_against_what_it_saw() -> None:
    signer = ReceiptSigner(buyer_lease(tariff=TARIFF))
    s = BuyerSession(Pipe(None), signer, PROTO, "b", "p")
    s.observe(svc.BYTES_OUT, 100)
    assert s.check_receipt(1, 10, {svc.BYTES_OUT: 100}) is None
    assert "claimed" in (s.check_receipt(1, 11, {svc.BYTES_OUT: 110}) or "")
    assert "due" in (s.check_receipt(1, 9, {svc.BYTES_OUT: 100}) or "")
    assert s.check_receipt(0, 10, {svc.BYTES_OUT: 100}) is not None  # seq must increase
    s.receipted = {svc.BYTES_OUT: 50}
    assert s.check_receipt(1, 5, {svc.BYTES_OUT: 100}) is None
    assert "backwards" in (s.check_receipt(1, 1, {svc.BYTES_OUT: 40}) or "")


def test_channel_refuses_to_send_an_oversized_frame() -> None:
    async def main() -> None:
        a, _ = trio.testing.memory_stream_pair()
        with pytest.raises(CloudError):
            await Channel(Pipe(a), max_frame=100).send(["x", b"y" * 200])
    trio.run(main)
