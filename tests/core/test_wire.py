"""Wire messages (daoli.core.wire) and drop reasons (daoli.core.reasons).

- Every message round-trips byte for byte, through its entry point and through frames; the
  layouts of docs/wire.md are pinned by known answers.
- Hostile input: random bytes, valid encodings mutated at the byte level (bit flips,
  truncation, extension, insertion, deletion, splicing) and at the structure level (fields
  replaced, deleted, duplicated, huge declared lengths), deep nesting. Each either decodes to a
  message whose re-encoding is the input, or raises WireError with a DropReason: any other
  exception fails the test.
- Every size limit at its exact boundary (limit and limit + 1), for decoding and encoding.
- The frame decoder fed byte by byte and in random chunks, and refusing a declared length of
  2^32 bytes without allocating it.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from daoli.core import encoding as enc
from daoli.core import lottery
from daoli.core import wire as w
from daoli.core.block import Block, Header, payload_root
from daoli.core.hashing import sha256
from daoli.core.reasons import DropReason
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction, Transfer
from daoli.core.vote import PRECOMMIT, CommitCertificate, CommitSig, Vote
from daoli.errors import DecodeError
from tests.core.strategies import (
    KEYS,
    blocks,
    hashes,
    headers,
    tickets,
    transactions,
    u64s,
    votes,
)

pytestmark = pytest.mark.timeout(300)

CID = "daoli-devnet"
OTHER = "daoli-testnet"
SIG = bytes(range(64))
H = bytes(range(32))
ROUND_TRIP = settings(max_examples=30, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- builders -------------------------------------------------------------------------------


def transfer(nonce: int = 0, memo: bytes = b"", chain_id: str = CID, key: int = 0) -> Transaction:
    return Transaction(chain_id, KEYS[key].pubkey, nonce, 1_000,
                       Transfer(bytes(20), 5, memo), SIG)


def vote(height: int = 1, round_: int = 0, chain_id: str = CID, key: int = 0) -> Vote:
    return Vote(chain_id, PRECOMMIT, height, round_, H, KEYS[key].pubkey, 7, SIG)


def ticket(nonce: int = 0, chain_id: str = CID) -> Ticket:
    return Ticket(chain_id, 1, 3, H, KEYS[0].pubkey, KEYS[1].pubkey, nonce, 1_000, SIG)


def header(height: int = 1, chain_id: str = CID) -> Header:
    return Header(chain_id, height, 3, 1_000, H, ticket(chain_id=chain_id), H, H, H, H,
                  KEYS[1].pubkey, SIG)


def block(height: int = 1, payload: tuple[Transaction, ...] = (),
          chain_id: str = CID) -> Block:
    return Block(header(height, chain_id), payload, (), None)


def certify(b: Block | Header, sigs: int = 1) -> CommitCertificate:
    h = b.header if isinstance(b, Block) else b
    return CommitCertificate(h.height, 0, h.id, tuple(
        CommitSig(KEYS[i].pubkey, 1, SIG) for i in sorted(range(sigs),
                                                           key=lambda i: KEYS[i].pubkey)))


_MEMO_SIZES: dict[int, int] = {}


def _adjustable_sizes() -> dict[int, int]:
    """Encoded size of transfer(memo=m) -> m, for m in 0..256."""
    if not _MEMO_SIZES:
        for m in range(257):
            _MEMO_SIZES.setdefault(len(transfer(1, b"m" * m).encoded), m)
    return _MEMO_SIZES


def block_of_size(size: int, height: int = 1) -> Block:
    """A block whose encoding is exactly ``size`` bytes: one filler transaction repeated
    (the wire does not care that a payload repeats a transaction) and two adjusted ones."""
    filler = transfer(0, b"f" * 256)
    sizes = _adjustable_sizes()
    base = len(block(height).encoded) - 1  # without the empty payload's head
    k_max = max(0, (size - base) // len(filler.encoded))
    for k in range(k_max, max(-1, k_max - 4), -1):
        for m1 in range(257):
            a1 = transfer(1, b"m" * m1)
            rest = (size - base - len(enc.array_header(k + 2)) - k * len(filler.encoded)
                    - len(a1.encoded))
            m2 = sizes.get(rest)
            if m2 is not None:
                b = block(height, (filler,) * k + (a1, transfer(1, b"m" * m2)))
                assert len(b.encoded) == size
                return b
    raise AssertionError(f"no block of {size} bytes")


# --- strategies -----------------------------------------------------------------------------

same_chain = st.just(CID)


def _batch(cls: type[w._Batch[Any]], item: SearchStrategy[Any],
           max_size: int = 5) -> SearchStrategy[Any]:
    return st.lists(item, min_size=1, max_size=max_size, unique_by=lambda x: x.id).map(
        lambda xs: cls(tuple(xs)))


@st.composite
def certified_blocks(draw: st.DrawFn, height: int | None = None) -> tuple[Block, Any]:
    b = draw(blocks(same_chain, max_txs=3, max_payroll=2))
    if height is not None:
        b = Block(replace(b.header, height=height), b.payload, b.payroll, b.last_commit)
    cert = draw(st.builds(
        CommitCertificate, st.just(b.height), u64s(), st.just(b.id),
        st.lists(st.sampled_from(KEYS), min_size=0, max_size=4, unique_by=lambda k: k.pubkey)
        .map(lambda ks: tuple(CommitSig(k.pubkey, 1, SIG)
                              for k in sorted(ks, key=lambda k: k.pubkey)))))
    return b, cert


@st.composite
def sync_replies(draw: st.DrawFn) -> w.SyncReply:
    n = draw(st.integers(0, 3))
    start = draw(st.integers(1, 1 << 40))
    return w.SyncReply(tuple(draw(certified_blocks(start + i)) for i in range(n)))


MESSAGE_STRATEGIES: dict[type[w.Message], SearchStrategy[Any]] = {
    w.TxBatch: _batch(w.TxBatch, transactions(chain_id=same_chain)),
    w.TicketBatch: _batch(w.TicketBatch, tickets(same_chain)),
    w.VoteBatch: _batch(w.VoteBatch, votes(same_chain)),
    w.Proposal: blocks(same_chain, max_txs=3, max_payroll=2).map(w.Proposal),
    w.ProposalHeader: headers(same_chain).map(w.ProposalHeader),
    w.CompactProposal: blocks(same_chain, max_txs=3, max_payroll=2).filter(
        lambda b: len({t.id for t in b.payload}) == len(b.payload)).map(w.CompactProposal.of),
    w.Announce: certified_blocks().map(lambda bc: w.Announce(*bc)),
    w.AnnounceHeader: certified_blocks().map(lambda bc: w.AnnounceHeader(bc[0].header, bc[1])),
    w.StatusRequest: st.just(w.StatusRequest()),
    w.StatusReply: st.builds(w.StatusReply, same_chain, hashes(), u64s(), hashes()),
    w.SyncRequest: st.builds(w.SyncRequest, st.integers(1, enc.MAX_U64),
                             st.integers(1, w.MAX_SYNC_BLOCKS)),
    w.SyncReply: sync_replies(),
    w.BlockRequest: hashes().map(w.BlockRequest),
    w.BlockReply: st.one_of(st.just(w.BlockReply(None)),
                            blocks(same_chain, max_txs=3, max_payroll=2).map(w.BlockReply)),
}
MESSAGE_CLASSES = list(MESSAGE_STRATEGIES)
IDS = [c.__name__ for c in MESSAGE_CLASSES]


def messages() -> SearchStrategy[Any]:
    return st.one_of(list(MESSAGE_STRATEGIES.values()))


def entry_point(cls: type[w.Message]) -> Callable[[bytes], w.Message]:
    """The decoder a node uses for messages of ``cls``."""
    if issubclass(cls, w.GossipMessage):
        return lambda data: w.decode_gossip(cls.KIND, data, chain_id=CID)
    if issubclass(cls, w.Request):
        return lambda data: w.decode_request(cls.PROTOCOL, data)
    assert issubclass(cls, w.Reply)
    return lambda data: w.decode_reply(cls.PROTOCOL, data, chain_id=CID)


def _gossip(kind: str) -> Callable[[bytes], w.Message]:
    return lambda data: w.decode_gossip(kind, data, chain_id=CID)


def _request(protocol: str) -> Callable[[bytes], w.Message]:
    return lambda data: w.decode_request(protocol, data)


def _reply(protocol: str) -> Callable[[bytes], w.Message]:
    return lambda data: w.decode_reply(protocol, data, chain_id=CID)


PROTOCOLS = (w.SYNC_PROTOCOL, w.STATUS_PROTOCOL)
DECODERS: dict[str, Callable[[bytes], w.Message]] = {
    **{f"gossip:{k}": _gossip(k) for k in w.TOPIC_KINDS},
    **{f"request:{p}": _request(p) for p in PROTOCOLS},
    **{f"reply:{p}": _reply(p) for p in PROTOCOLS},
    "reply:sync-answering": lambda d: w.decode_reply(
        w.SYNC_PROTOCOL, d, chain_id=CID, request=w.SyncRequest(1, 4)),
    "reply:block-answering": lambda d: w.decode_reply(
        w.SYNC_PROTOCOL, d, chain_id=CID, request=w.BlockRequest(H)),
}
"""Every entry point for untrusted bytes, as a node calls them."""


def reason_of(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> DropReason:
    """The reason of the WireError that ``fn(*args, **kwargs)`` raises."""
    with pytest.raises(w.WireError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value.reason, DropReason)
    return info.value.reason


def decodes_or_drops(data: bytes) -> int:
    """Feed ``data`` to every entry point: each returns a message that re-encodes to exactly
    ``data``, or raises WireError with a DropReason. Returns how many accepted it."""
    accepted = 0
    for decode in DECODERS.values():
        try:
            msg = decode(data)
        except w.WireError as exc:
            assert isinstance(exc.reason, DropReason)
            assert 0 < len(str(exc)) < 1_000, "error messages stay short on hostile input"
            continue
        assert isinstance(msg, w.Message)
        assert msg.encode() == data, "accepted bytes that are not the message's encoding"
        accepted += 1
    return accepted


# --- round trips ----------------------------------------------------------------------------


def test_every_message_type_has_a_strategy() -> None:
    assert set(MESSAGE_STRATEGIES) == set(w.MESSAGE_TYPES.values())


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=IDS)
@given(st.data())
@ROUND_TRIP
def test_round_trip(cls: type[w.Message], data: st.DataObject) -> None:
    msg = data.draw(MESSAGE_STRATEGIES[cls])
    raw = msg.encode()
    assert raw == enc.encode(msg.to_fields())  # the assembled encoding is the canonical one
    fields = cbor2.loads(raw)
    assert type(fields) is list and fields[0] == cls.TYPE
    back = entry_point(cls)(raw)
    assert type(back) is cls and back == msg
    assert back.encode() == raw
    assert cls.decode(raw) == msg
    assert msg.id == sha256(raw)
    assert decodes_or_drops(raw) >= 1


@given(st.lists(st.tuples(st.integers(0, w.MAX_REQUEST_ID), messages()), min_size=1,
                max_size=4), st.data())
@ROUND_TRIP
def test_messages_round_trip_through_frames(items: list[tuple[int, w.Message]],
                                            data: st.DataObject) -> None:
    stream = b"".join(w.encode_frame(rid, msg) for rid, msg in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    dec = w.FrameDecoder(w.MAX_REPLY_BYTES)
    frames: list[w.Frame] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        frames += dec.feed(stream[prev:cut])
        prev = cut
    dec.eof()
    assert [(f.request_id, f.message) for f in frames] == [(r, m.encode()) for r, m in items]
    for f, (_, msg) in zip(frames, items, strict=True):
        assert entry_point(type(msg))(f.message) == msg


# --- known answers: the layouts of docs/wire.md ---------------------------------------------


def test_type_tags_are_pinned_and_clear_of_protocol_objects() -> None:
    assert {t: c.__name__ for t, c in w.MESSAGE_TYPES.items()} == {
        32: "TxBatch", 33: "TicketBatch", 34: "VoteBatch", 35: "Proposal",
        36: "ProposalHeader", 37: "Announce", 38: "AnnounceHeader", 39: "CompactProposal",
        40: "StatusRequest",
        41: "StatusReply", 42: "SyncRequest", 43: "SyncReply", 44: "BlockRequest",
        45: "BlockReply"}
    assert all(24 <= t < 256 for t in w.MESSAGE_TYPES)  # a two-byte head, as _TAG_LEN says
    object_types = {Transaction.TYPE, Ticket.TYPE, Vote.TYPE, CommitCertificate.TYPE,
                    Header.TYPE, Block.TYPE, 7}
    assert not object_types & set(w.MESSAGE_TYPES)
    assert min(w.MESSAGE_TYPES) > 31  # ledger records use 16-31


def test_known_layouts() -> None:
    tx, t, v = transfer(), ticket(), vote()
    b = block()
    cert = certify(b)
    assert w.TxBatch((tx,)).encode() == b"\x82\x18\x20\x81" + tx.encoded
    assert w.TicketBatch((t,)).encode() == b"\x82\x18\x21\x81" + t.encoded
    assert w.VoteBatch((v,)).encode() == b"\x82\x18\x22\x81" + v.encoded
    assert w.Proposal(b).encode() == b"\x82\x18\x23" + b.encoded
    assert w.ProposalHeader(b.header).encode() == b"\x82\x18\x24" + b.header.encoded
    assert w.Announce(b, cert).encode() == b"\x83\x18\x25" + b.encoded + cert.encoded
    assert (w.AnnounceHeader(b.header, cert).encode()
            == b"\x83\x18\x26" + b.header.encoded + cert.encoded)
    assert w.StatusRequest().encode() == bytes.fromhex("811828")
    assert (w.StatusReply("x", H, 5, H).encode()
            == bytes.fromhex("85182961785820") + H + b"\x05\x58\x20" + H)
    assert w.SyncRequest(1, 128).encode() == bytes.fromhex("83182a01 1880".replace(" ", ""))
    assert w.SyncReply(()).encode() == bytes.fromhex("82182b80")
    assert (w.SyncReply(((b, cert),)).encode()
            == b"\x82\x18\x2b\x81\x82" + b.encoded + cert.encoded)
    assert w.BlockRequest(H).encode() == b"\x82\x18\x2c\x58\x20" + H
    assert w.BlockReply(None).encode() == bytes.fromhex("82182df6")
    assert w.BlockReply(b).encode() == b"\x82\x18\x2d" + b.encoded
    many = tuple(transfer(i) for i in range(24))
    assert w.TxBatch(many).encode() == b"\x82\x18\x20\x98\x18" + b"".join(
        x.encoded for x in many)


def test_frame_layout() -> None:
    msg = w.StatusRequest().encode()
    assert w.encode_frame(7, msg) == b"\x07" + b"\x00\x00\x00\x07" + msg
    assert w.encode_frame(w.MAX_REQUEST_ID, w.StatusRequest()) == (
        b"\x07\xff\xff\xff\xff" + msg)
    big = b"\x00" * 200
    assert w.encode_frame(1, big)[:2] == bytes([(204 & 0x7F) | 0x80, 204 >> 7])
    for bad in (-1, w.MAX_REQUEST_ID + 1):
        with pytest.raises(ValueError):
            w.encode_frame(bad, msg)
    with pytest.raises(ValueError):
        w.encode_frame(1, b"")


def test_topics_and_protocols() -> None:
    assert w.SYNC_PROTOCOL == "/daoli/sync/1"
    assert w.STATUS_PROTOCOL == "/daoli/status/1"
    for kind in ("tx", "ticket", "vote", "block"):
        name = w.topic(CID, kind)
        assert name == f"/daoli/{CID}/{kind}"
        assert w.topic_kind(CID, name) == kind
        assert w.topic_kind(OTHER, name) is None
    assert w.topic_kind(CID, f"/daoli/{CID}/txs") is None
    assert w.topic_kind(CID, "/daoli/sync/1") is None
    for bad_kind in ("", "blocks", "TX"):
        with pytest.raises(ValueError):
            w.topic(CID, bad_kind)
    for bad_chain in ("", "A", "a/b", "-x", "a" * 64, "a\n"):
        with pytest.raises(ValueError):
            w.topic(bad_chain, "tx")
    with pytest.raises(ValueError):
        w.decode_gossip("blocks", b"", chain_id=CID)
    with pytest.raises(ValueError):
        w.decode_request("/daoli/sync/2", b"")
    with pytest.raises(ValueError):
        w.decode_reply("/daoli/other/1", b"", chain_id=CID)


def test_each_topic_and_protocol_takes_its_own_messages_only() -> None:
    b = block()
    samples: list[w.Message] = [
        w.TxBatch((transfer(),)), w.TicketBatch((ticket(),)), w.VoteBatch((vote(),)),
        w.Proposal(b), w.ProposalHeader(b.header), w.Announce(b, certify(b)),
        w.AnnounceHeader(b.header, certify(b)), w.CompactProposal.of(b), w.StatusRequest(),
        w.StatusReply(CID, H, 0, H),
        w.SyncRequest(1, 1), w.SyncReply(()), w.BlockRequest(H), w.BlockReply(None)]
    assert {type(m) for m in samples} == set(w.MESSAGE_TYPES.values())
    for msg in samples:
        for name, decode in DECODERS.items():
            if name.endswith("-answering"):
                continue
            kind, where = name.split(":", 1)
            home = (f"gossip:{msg.KIND}" if isinstance(msg, w.GossipMessage)
                    else f"request:{msg.PROTOCOL}" if isinstance(msg, w.Request)
                    else f"reply:{msg.PROTOCOL}" if isinstance(msg, w.Reply) else "")
            belongs = home == f"{kind}:{where}"
            if belongs:
                assert decode(msg.encode()) == msg
            else:
                assert reason_of(decode, msg.encode()) is DropReason.WRONG_TOPIC


# --- reasons for specific drops -------------------------------------------------------------


def test_unknown_type_tags() -> None:
    for tag in (0, 1, 6, 31, 46, 99, 1 << 40):
        data = enc.encode([tag, []])
        for decode in DECODERS.values():
            assert reason_of(decode, data) is DropReason.UNKNOWN_TYPE
    # a bare protocol object is not a message
    assert reason_of(lambda: w.decode_gossip("tx", transfer().encoded, chain_id=CID)) is (
        DropReason.UNKNOWN_TYPE)
    assert reason_of(lambda: w.decode_gossip("block", block().encoded, chain_id=CID)) is (
        DropReason.UNKNOWN_TYPE)


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x80", b"\xa0", b"\x81\x40", b"\x81\x61\x61", b"\x81\xf5", b"\x82\x18\x20",
    b"\xc2\x41\x01", b"\x9f\xff", b"\x82\x18\x20\x80\x00", b"\x82\x18\x20\xf6",
    b"\x82\x18\x23\x81\x06", b"\x82\x18\x28\x00", b"\x83\x18\x2a\x00\x01",
    b"\x83\x18\x2a\x01\x1b" + b"\xff" * 8, b"\x82\x18\x2c\x41\x00",
])
def test_malformed(data: bytes) -> None:
    for decode in DECODERS.values():
        reason = reason_of(decode, data)
        assert reason in (DropReason.MALFORMED, DropReason.WRONG_TOPIC, DropReason.EMPTY_BATCH,
                          DropReason.BATCH_TOO_LONG)


def test_specific_shape_reasons() -> None:
    gossip = w.decode_gossip
    assert reason_of(lambda: gossip("tx", b"\x82\x18\x20\x80", chain_id=CID)) is (
        DropReason.EMPTY_BATCH)
    assert reason_of(lambda: gossip("tx", b"\x82\x18\x20\xf6", chain_id=CID)) is (
        DropReason.MALFORMED)
    assert reason_of(lambda: gossip("tx", b"\x83\x18\x20\x81\x00\x00", chain_id=CID)) is (
        DropReason.MALFORMED)
    assert reason_of(lambda: w.decode_request(w.SYNC_PROTOCOL, enc.encode([42, 0, 1]))) is (
        DropReason.MALFORMED)
    assert reason_of(lambda: w.decode_request(w.SYNC_PROTOCOL, enc.encode([42, 1, 0]))) is (
        DropReason.EMPTY_BATCH)
    for cls in (w.TxBatch, w.TicketBatch, w.VoteBatch):
        assert reason_of(cls, ()) is DropReason.EMPTY_BATCH
    assert reason_of(lambda: w.SyncRequest(0, 1)) is DropReason.MALFORMED
    assert reason_of(lambda: w.SyncRequest(1, 0)) is DropReason.EMPTY_BATCH
    assert reason_of(lambda: w.decode_gossip("tx", bytearray(), chain_id=CID)) is (
        DropReason.MALFORMED)
    assert reason_of(lambda: w.decode_gossip("tx", "text", chain_id=CID)) is (  # type: ignore[arg-type]
        DropReason.MALFORMED)
    batch = w.TxBatch((transfer(),))
    assert w.decode_gossip("tx", bytearray(batch.encode()), chain_id=CID) == batch
    assert w.decode_gossip("tx", memoryview(batch.encode()), chain_id=CID) == batch


def test_duplicates_in_a_batch() -> None:
    for item, cls in ((transfer(), w.TxBatch), (ticket(), w.TicketBatch), (vote(), w.VoteBatch)):
        assert reason_of(cls, (item, item)) is DropReason.DUPLICATE_IN_BATCH
        data = enc.encode([cls.TYPE, [item.to_fields(), item.to_fields()]])
        assert reason_of(w.decode_gossip, cls.KIND, data, chain_id=CID) is (
            DropReason.DUPLICATE_IN_BATCH)
    assert w.TxBatch.pack([transfer(), transfer(), transfer(1)]) == [
        w.TxBatch((transfer(), transfer(1)))]


def test_wrong_chain() -> None:
    b = block(chain_id=OTHER)
    wrong: list[w.Message] = [
        w.TxBatch((transfer(), transfer(1, chain_id=OTHER))),
        w.TicketBatch((ticket(1), ticket(2, chain_id=OTHER))),
        w.VoteBatch((vote(key=1), vote(chain_id=OTHER))),
        w.Proposal(b), w.ProposalHeader(b.header), w.Announce(b, certify(b)),
        w.AnnounceHeader(b.header, certify(b)), w.CompactProposal.of(b)]
    for msg in wrong:
        kind = type(msg).KIND  # type: ignore[attr-defined]
        assert reason_of(w.decode_gossip, kind, msg.encode(), chain_id=CID) is (
            DropReason.WRONG_CHAIN)
        if not isinstance(msg, w._Batch):  # the batches mix both chains
            assert w.decode_gossip(kind, msg.encode(), chain_id=OTHER) == msg
    for reply in (w.StatusReply(OTHER, H, 1, H), w.BlockReply(b),
                  w.SyncReply(((b, certify(b)),))):
        proto = type(reply).PROTOCOL
        assert reason_of(w.decode_reply, proto, reply.encode(), chain_id=CID) is (
            DropReason.WRONG_CHAIN)
    status = w.StatusReply(CID, H, 1, H)
    assert w.decode_reply(w.STATUS_PROTOCOL, status.encode(), chain_id=CID, genesis_id=H) == status
    assert reason_of(lambda: w.decode_reply(w.STATUS_PROTOCOL, status.encode(), chain_id=CID,
                                            genesis_id=bytes(32))) is DropReason.WRONG_GENESIS


def test_certificates_must_certify_their_block() -> None:
    b, other = block(1), block(2)
    wrong_id = replace(certify(b), block_id=bytes(32))
    wrong_height = replace(certify(b), height=2)
    for cert in (certify(other), wrong_id, wrong_height):
        assert reason_of(w.Announce, b, cert) is DropReason.INVALID_CERTIFICATE
        assert reason_of(w.AnnounceHeader, b.header, cert) is DropReason.INVALID_CERTIFICATE
        assert reason_of(w.SyncReply, ((b, cert),)) is DropReason.INVALID_CERTIFICATE
        data = enc.encode([37, b.to_fields(), cert.to_fields()])
        assert reason_of(w.decode_gossip, "block", data, chain_id=CID) is (
            DropReason.INVALID_CERTIFICATE)
        data = enc.encode([43, [[b.to_fields(), cert.to_fields()]]])
        assert reason_of(w.decode_reply, w.SYNC_PROTOCOL, data, chain_id=CID) is (
            DropReason.INVALID_CERTIFICATE)
    assert w.AnnounceHeader(b.header, certify(b)).block_id == b.id
    assert w.ProposalHeader(b.header).block_id == b.id


def test_sync_replies_are_consecutive_and_answer_their_request() -> None:
    b1, b2, b3 = block(5), block(6), block(8)
    e1, e2, e3 = (b1, certify(b1)), (b2, certify(b2)), (b3, certify(b3))
    assert reason_of(lambda: w.SyncReply((e1, e3))) is DropReason.MALFORMED
    assert reason_of(lambda: w.SyncReply((e2, e1))) is DropReason.MALFORMED
    data = enc.encode([43, [[b1.to_fields(), e1[1].to_fields()],
                            [b3.to_fields(), e3[1].to_fields()]]])
    assert reason_of(lambda: w.decode_reply(w.SYNC_PROTOCOL, data, chain_id=CID)) is (
        DropReason.MALFORMED)
    reply = w.SyncReply((e1, e2)).encode()

    def answer(req: w.Request, raw: bytes = reply) -> w.Reply:
        return w.decode_reply(w.SYNC_PROTOCOL, raw, chain_id=CID, request=req)

    assert answer(w.SyncRequest(5, 2)) == w.SyncReply((e1, e2))
    assert answer(w.SyncRequest(5, 128)) == w.SyncReply((e1, e2))  # fewer is fine
    assert answer(w.SyncRequest(9, 3), w.SyncReply(()).encode()) == w.SyncReply(())
    for req in (w.SyncRequest(5, 1), w.SyncRequest(4, 3), w.SyncRequest(6, 2),
                w.BlockRequest(b1.id), w.StatusRequest()):
        assert reason_of(answer, req) is DropReason.UNSOLICITED
    got = w.BlockReply(b1).encode()
    assert answer(w.BlockRequest(b1.id), got) == w.BlockReply(b1)
    assert answer(w.BlockRequest(b2.id), w.BlockReply(None).encode()) == w.BlockReply(None)
    assert reason_of(lambda: answer(w.BlockRequest(b2.id), got)) is DropReason.UNSOLICITED
    assert reason_of(lambda: answer(w.SyncRequest(5, 1), got)) is DropReason.UNSOLICITED
    status = w.StatusReply(CID, H, 1, H).encode()
    assert w.decode_reply(w.STATUS_PROTOCOL, status, chain_id=CID, request=w.StatusRequest())
    assert reason_of(lambda: w.decode_reply(w.STATUS_PROTOCOL, status, chain_id=CID,
                                            request=w.BlockRequest(H))) is DropReason.UNSOLICITED


def test_non_canonical_input_is_caught_by_re_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-scan already refuses non-shortest heads; without it (as if it had a gap) the
    re-encode-and-compare step still refuses a second encoding of a message."""
    honest = w.SyncRequest(5, 3).encode()
    wide = bytes.fromhex("83182a") + b"\x18\x05" + b"\x03"  # 5 in a two-byte head
    assert reason_of(lambda: w.decode_request(w.SYNC_PROTOCOL, wide)) is DropReason.MALFORMED
    monkeypatch.setattr(enc, "decode_raw", lambda data, max_bytes: cbor2.loads(data))
    assert w.decode_request(w.SYNC_PROTOCOL, honest) == w.SyncRequest(5, 3)
    assert reason_of(lambda: w.decode_request(w.SYNC_PROTOCOL, wide)) is DropReason.NOT_CANONICAL


# --- size limits at their boundaries --------------------------------------------------------


def test_gossip_limit_at_the_boundary() -> None:
    limit = w.MAX_GOSSIP_BYTES
    exact = w.Proposal(block_of_size(limit - 3))  # 0x82, the two-byte tag, then the block
    assert len(exact.encode()) == limit
    assert w.decode_gossip("block", exact.encode(), chain_id=CID,
                           max_block_bytes=limit) == exact
    assert w.block_message(exact.block) == exact
    over = w.Proposal(block_of_size(limit - 2))
    assert reason_of(over.encode) is DropReason.TOO_LARGE  # nothing oversized is published
    assert isinstance(w.block_message(over.block), w.ProposalHeader)
    # refused on its size alone, before decoding: a valid message with a byte appended
    # would otherwise be malformed
    assert reason_of(lambda: w.decode_gossip("block", exact.encode() + b"\x00",
                                             chain_id=CID)) is DropReason.TOO_LARGE
    for kind in w.TOPIC_KINDS:
        assert reason_of(w.decode_gossip, kind, b"\xff" * (limit + 1),
                         chain_id=CID) is DropReason.TOO_LARGE
    # announcements: the certificate counts too
    cert = certify(exact.block)
    b = block_of_size(limit - 3 - len(cert.encoded))
    cert = certify(b)
    assert len(w.Announce(b, cert).encode()) == limit
    assert w.block_message(b, cert) == w.Announce(b, cert)
    b2 = block_of_size(limit - 2 - len(cert.encoded))
    cert2 = certify(b2)
    assert reason_of(w.Announce(b2, cert2).encode) is DropReason.TOO_LARGE
    announce = w.block_message(b2, cert2)
    assert announce == w.AnnounceHeader(b2.header, cert2)
    assert w.decode_gossip("block", announce.encode(), chain_id=CID) == announce


def test_max_block_bytes_at_the_boundary() -> None:
    b = block_of_size(3_000)
    cert = certify(b)
    for msg, decode in (
            (w.Proposal(b), lambda d, m: w.decode_gossip("block", d, chain_id=CID,
                                                         max_block_bytes=m)),
            (w.Announce(b, cert), lambda d, m: w.decode_gossip("block", d, chain_id=CID,
                                                               max_block_bytes=m)),
            (w.BlockReply(b), lambda d, m: w.decode_reply(w.SYNC_PROTOCOL, d, chain_id=CID,
                                                          max_block_bytes=m)),
            (w.SyncReply(((b, cert),)), lambda d, m: w.decode_reply(
                w.SYNC_PROTOCOL, d, chain_id=CID, max_block_bytes=m))):
        data = msg.encode()
        assert decode(data, 3_000) == msg
        assert reason_of(decode, data, 2_999) is DropReason.TOO_LARGE
        assert type(msg).decode(data, chain_id=CID, max_block_bytes=3_000) == msg
        assert reason_of(type(msg).decode, data, max_block_bytes=2_999) is (
            DropReason.TOO_LARGE)
    assert w.DEFAULT_MAX_BLOCK_BYTES == 4 * 1024 * 1024


@pytest.mark.parametrize(("cls", "item", "limit"), [
    (w.TxBatch, lambda i: transfer(i), w.MAX_TX_BATCH),
    (w.TicketBatch, lambda i: ticket(i), w.MAX_TICKET_BATCH),
    (w.VoteBatch, lambda i: vote(round_=i), w.MAX_VOTE_BATCH),
], ids=["tx", "ticket", "vote"])
def test_batch_length_at_the_boundary(cls: type[w._Batch[Any]], item: Callable[[int], Any],
                                      limit: int) -> None:
    items = [item(i) for i in range(limit + 1)]
    full = cls(tuple(items[:limit]))
    data = full.encode()
    assert len(data) <= w.MAX_GOSSIP_BYTES
    assert w.decode_gossip(cls.KIND, data, chain_id=CID) == full
    assert reason_of(lambda: cls(tuple(items))) is DropReason.BATCH_TOO_LONG
    over = enc.encode([cls.TYPE, [x.to_fields() for x in items]])
    assert len(over) <= w.MAX_GOSSIP_BYTES
    assert reason_of(lambda: w.decode_gossip(cls.KIND, over, chain_id=CID)) is (
        DropReason.BATCH_TOO_LONG)
    packed = cls.pack(items)
    assert [len(b.items) for b in packed] == [limit, 1]


def test_pack_splits_by_bytes_and_keeps_order() -> None:
    """Evidence transactions are large enough that MAX_TX_BATCH of them exceed the gossip
    limit, so packing must split on bytes."""
    long_chain = "x" * 63  # the wire does not look inside the evidence's votes
    evidence = [Transaction(CID, KEYS[i % 32].pubkey, i, 1_000,
                            Evidence(vote(i, chain_id=long_chain, key=1),
                                     vote(i, chain_id=long_chain, key=2)), SIG)
                for i in range(3_000)]
    per_tx = len(evidence[0].encoded)
    assert w.MAX_TX_BATCH * per_tx > w.MAX_GOSSIP_BYTES
    packed = w.TxBatch.pack(evidence)
    assert [tx for b in packed for tx in b.txs] == evidence
    for i, b in enumerate(packed):
        size = len(b.encode())
        assert size <= w.MAX_GOSSIP_BYTES
        if i < len(packed) - 1:  # full: the next transaction would not have fitted
            assert size + per_tx + 2 > w.MAX_GOSSIP_BYTES or len(b.txs) == w.MAX_TX_BATCH
    small = [transfer(i) for i in range(2_500)]
    assert [len(b.txs) for b in w.TxBatch.pack(small)] == [1_024, 1_024, 452]
    assert w.TxBatch.pack([]) == []


def test_request_and_reply_limits_at_the_boundary() -> None:
    request_junk = b"\x00" * (w.MAX_REQUEST_BYTES + 1)
    reply_junk = b"\x00" * (w.MAX_REPLY_BYTES + 1)
    for proto in PROTOCOLS:
        assert reason_of(w.decode_request, proto, request_junk) is (
            DropReason.TOO_LARGE)
        assert reason_of(w.decode_reply, proto, reply_junk, chain_id=CID) is (
            DropReason.TOO_LARGE)
    for count, ok in ((w.MAX_SYNC_BLOCKS, True), (w.MAX_SYNC_BLOCKS + 1, False)):
        data = enc.encode([42, 1, count])
        if ok:
            assert w.decode_request(w.SYNC_PROTOCOL, data) == w.SyncRequest(1, count)
        else:
            assert reason_of(w.decode_request, w.SYNC_PROTOCOL, data) is (
                DropReason.BATCH_TOO_LONG)
            assert reason_of(w.SyncRequest, 1, count) is DropReason.BATCH_TOO_LONG


def test_sync_reply_entries_at_the_boundary() -> None:
    entries = [(block(h), certify(block(h))) for h in range(1, w.MAX_SYNC_BLOCKS + 2)]
    full = w.SyncReply(tuple(entries[:-1]))
    assert w.decode_reply(w.SYNC_PROTOCOL, full.encode(), chain_id=CID) == full
    assert reason_of(lambda: w.SyncReply(tuple(entries))) is DropReason.BATCH_TOO_LONG
    over = enc.encode([43, [[b.to_fields(), c.to_fields()] for b, c in entries]])
    assert reason_of(lambda: w.decode_reply(w.SYNC_PROTOCOL, over, chain_id=CID)) is (
        DropReason.BATCH_TOO_LONG)
    assert w.SyncReply.pack(entries) == full  # pack stops at MAX_SYNC_BLOCKS
    # pack stops at the byte limit: exactly two entries fit, then one byte less
    two = len(w.SyncReply(tuple(entries[:2])).encode())
    assert w.SyncReply.pack(entries, two) == w.SyncReply(tuple(entries[:2]))
    assert w.SyncReply.pack(entries, two - 1) == w.SyncReply(tuple(entries[:1]))
    data = w.SyncReply(tuple(entries[:2])).encode()
    assert w.decode_reply(w.SYNC_PROTOCOL, data, chain_id=CID, max_bytes=two) is not None
    assert reason_of(lambda: w.decode_reply(w.SYNC_PROTOCOL, data, chain_id=CID,
                                            max_bytes=two - 1)) is DropReason.TOO_LARGE


@pytest.mark.slow
def test_reply_limit_at_the_boundary() -> None:
    """A sync reply of exactly MAX_REPLY_BYTES decodes; one byte more is refused, and an
    encoder refuses to build it."""
    cert = certify(block(1))
    size = w.MAX_REPLY_BYTES - 5 - len(cert.encoded)  # 0x82, tag, 0x81, 0x82
    b = block_of_size(size)
    cert = certify(b)
    exact = w.SyncReply(((b, cert),))
    assert len(exact.encode()) == w.MAX_REPLY_BYTES
    assert w.decode_reply(w.SYNC_PROTOCOL, exact.encode(), chain_id=CID,
                          max_block_bytes=size) == exact
    assert w.SyncReply.pack([(b, cert)]) == exact
    b2 = block_of_size(size + 1)
    over = w.SyncReply(((b2, certify(b2)),))
    assert reason_of(over.encode) is DropReason.TOO_LARGE
    assert w.SyncReply.pack([(b2, certify(b2))]) == w.SyncReply(())
    assert reason_of(lambda: w.decode_reply(w.SYNC_PROTOCOL, exact.encode() + b"\x00",
                                            chain_id=CID)) is DropReason.TOO_LARGE


# --- frames ---------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(0, w.MAX_REQUEST_ID), st.binary(min_size=1,
                                                                        max_size=300)),
                max_size=6), st.data())
@settings(max_examples=150, deadline=None)
def test_frame_decoder_in_random_chunks(frames: list[tuple[int, bytes]],
                                        data: st.DataObject) -> None:
    stream = b"".join(w.encode_frame(r, m, 300) for r, m in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    dec = w.FrameDecoder(300)
    got: list[w.Frame] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += dec.feed(stream[prev:cut])
        prev = cut
        assert dec.buffered <= 2 + w.REQUEST_ID_BYTES + 300
    assert [(f.request_id, f.message) for f in got] == frames
    assert not dec.in_frame
    dec.eof()


def test_frame_decoder_byte_by_byte() -> None:
    msgs = [w.StatusRequest().encode(), b"x" * 127, b"y" * 128, b"z" * 20_000]
    stream = b"".join(w.encode_frame(i, m) for i, m in enumerate(msgs))
    dec = w.FrameDecoder(20_000)
    got: list[w.Frame] = []
    for i in range(len(stream)):
        got += dec.feed(stream[i:i + 1])
        assert dec.buffered <= 3 + w.REQUEST_ID_BYTES + 20_000
    assert got == [w.Frame(i, m) for i, m in enumerate(msgs)]
    dec.eof()
    assert dec.feed(memoryview(w.encode_frame(9, b"\x80"))) == [w.Frame(9, b"\x80")]


def test_frame_cap_at_the_boundary() -> None:
    cap = 1_000
    exact = w.encode_frame(3, b"a" * cap, cap)
    assert w.FrameDecoder(cap).feed(exact) == [w.Frame(3, b"a" * cap)]
    assert reason_of(lambda: w.encode_frame(3, b"a" * (cap + 1), cap)) is DropReason.TOO_LARGE
    over = w.encode_frame(3, b"a" * (cap + 1), cap + 1)
    dec = w.FrameDecoder(cap)
    prefix_len = len(over) - cap - 1 - w.REQUEST_ID_BYTES
    # refused as soon as the length prefix is complete: nothing of the body is waited for
    assert reason_of(lambda: dec.feed(over[:prefix_len])) is DropReason.TOO_LARGE
    assert reason_of(lambda: dec.feed(b"")) is DropReason.TOO_LARGE  # the decoder is spent
    assert reason_of(dec.eof) is DropReason.TOO_LARGE
    assert reason_of(lambda: w.encode_frame(1, w.SyncRequest(1, 1), 4)) is DropReason.TOO_LARGE


@pytest.mark.parametrize("declared", [1 << 32, (1 << 35) - 1, (1 << 63) - 1])
def test_huge_declared_frame_is_refused_without_allocating(declared: int) -> None:
    prefix = w._uvarint(declared)
    dec = w.FrameDecoder(w.MAX_REPLY_BYTES)
    tracemalloc.start()
    try:
        with pytest.raises(w.WireError) as info:
            dec.feed(prefix + b"\x00" * 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason is DropReason.TOO_LARGE
    assert peak < 64 * 1024
    assert dec.buffered == 0
    # and one byte at a time: refused within the prefix, as soon as the size is certain
    dec = w.FrameDecoder(w.MAX_REPLY_BYTES)
    fed = 0
    with pytest.raises(w.WireError):
        for byte in prefix:
            dec.feed(bytes([byte]))
            fed += 1
    assert fed < len(prefix)


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x85\x00", DropReason.MALFORMED),  # 5 in a non-minimal two-byte varint
    (b"\x80\x80\x00", DropReason.MALFORMED),
    (b"\x00", DropReason.MALFORMED),  # too short for a request id and a message
    (b"\x04\x00\x00\x00\x01", DropReason.MALFORMED),
    (b"\xff" * 10, DropReason.TOO_LARGE),
    (b"\x80" * 12, DropReason.TOO_LARGE),
])
def test_bad_frame_prefixes(data: bytes, reason: DropReason) -> None:
    assert reason_of(lambda: w.FrameDecoder(w.MAX_REPLY_BYTES).feed(data)) is reason


def test_frame_decoder_prefix_length_cap_with_a_huge_cap() -> None:
    dec = w.FrameDecoder(1 << 80)  # a cap no varint of 9 bytes reaches: the length rule acts
    assert reason_of(lambda: dec.feed(b"\x80" * 9 + b"\x01")) is DropReason.MALFORMED
    with pytest.raises(ValueError):
        w.FrameDecoder(0)


def test_stream_ending_inside_a_frame() -> None:
    frame = w.encode_frame(1, b"hello")
    for cut in range(1, len(frame)):
        dec = w.FrameDecoder(100)
        assert dec.feed(frame[:cut]) == []
        assert dec.in_frame
        assert reason_of(dec.eof) is DropReason.MALFORMED
    dec = w.FrameDecoder(100)
    assert not dec.in_frame
    dec.eof()


@given(st.binary(max_size=400), st.integers(1, 64))
@settings(max_examples=200, deadline=None)
def test_frame_decoder_on_random_bytes(data: bytes, chunk: int) -> None:
    dec = w.FrameDecoder(256)
    try:
        for i in range(0, len(data), chunk):
            for frame in dec.feed(data[i:i + chunk]):
                assert 0 <= frame.request_id <= w.MAX_REQUEST_ID
                assert 1 <= len(frame.message) <= 256
                decodes_or_drops(frame.message)
        dec.eof()
    except w.WireError as exc:
        assert isinstance(exc.reason, DropReason)


# --- hostile input to every entry point -----------------------------------------------------


@given(st.binary(max_size=1_000))
@settings(max_examples=300, deadline=None)
def test_random_bytes(data: bytes) -> None:
    decodes_or_drops(data)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 64), enc.MAX_U64) | st.binary(max_size=40)
    | st.text(max_size=10) | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.integers(0, 9) | st.text(max_size=3), children, max_size=3),
    max_leaves=20,
)


@given(st.sampled_from(sorted(w.MESSAGE_TYPES)), st.lists(cbor_values, max_size=6))
@settings(FUZZ)
def test_arrays_with_a_known_tag(tag: int, items: list[Any]) -> None:
    """Past the tag check, so every field checker sees values of every type."""
    decodes_or_drops(enc.encode([tag, *items]))
    decodes_or_drops(enc.encode([tag, items]))


@given(messages(), st.data())
@settings(FUZZ)
def test_byte_level_mutations(msg: w.Message, data: st.DataObject) -> None:
    raw = bytearray(msg.encode())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete",
                                        "overwrite", "splice"]), label="op")
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)), label="pos")
        if op == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "truncate":
            del raw[pos:]
        elif op == "extend":
            raw += data.draw(st.binary(min_size=1, max_size=16))
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del raw[pos:pos + data.draw(st.integers(1, 8))]
        elif op == "overwrite" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "splice":
            other = data.draw(messages()).encode()
            raw = raw[:pos] + other[data.draw(st.integers(0, len(other))):]
    decodes_or_drops(bytes(raw))


TreePath = tuple[int, ...]


def _paths(node: Any, path: TreePath = ()) -> list[TreePath]:
    out = [path]
    if type(node) is list:
        for i, child in enumerate(node):
            out += _paths(child, (*path, i))
    return out


def _render(node: Any, special: Callable[[Any], bytes], target: TreePath,
            path: TreePath = ()) -> bytes:
    if path == target:
        return special(node)
    if type(node) is list:
        return enc.array_header(len(node)) + b"".join(
            _render(c, special, target, (*path, i)) for i, c in enumerate(node))
    return enc.encode(node)


def _head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes([major << 5 | arg])
    width = 1 if arg < 1 << 8 else 2 if arg < 1 << 16 else 4 if arg < 1 << 32 else 8
    info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes([major << 5 | info]) + arg.to_bytes(width, "big")


@given(messages(), st.data())
@settings(FUZZ)
def test_structural_mutations(msg: w.Message, data: st.DataObject) -> None:
    """Re-encoded canonically after the change, so the bytes get past the pre-scan and every
    shape and field check sees them."""
    tree = cbor2.loads(msg.encode())
    target = data.draw(st.sampled_from(_paths(tree)), label="path")
    op = data.draw(st.sampled_from(["replace", "delete", "duplicate", "empty", "huge"]),
                   label="op")
    if op == "replace":
        value = data.draw(cbor_values | st.sampled_from([0, 1, (1 << 64) - 1, b"", "", [],
                                                         b"\x00" * 32, b"\x02" * 33]))
        raw = _render(tree, lambda _: enc.encode(value), target)
    elif op == "huge":
        n = data.draw(st.sampled_from([1 << 16, 1 << 32, (1 << 64) - 1]))

        def huge(node: Any) -> bytes:
            major = 2 if type(node) is bytes else 3 if type(node) is str else 4
            return _head(major, n) + enc.encode(node)[1:]

        raw = _render(tree, huge, target)
    else:
        parent, idx = target[:-1], target[-1] if target else None
        if idx is None:
            return

        def edit(node: list[Any]) -> bytes:
            items = list(node)
            if op == "delete":
                del items[idx]
            elif op == "duplicate":
                items.insert(idx, items[idx])
            else:
                items[idx] = [] if type(items[idx]) is list else b""
            return enc.encode(items)

        raw = _render(tree, edit, parent)
    decodes_or_drops(raw)


@pytest.mark.parametrize("depth", [1, 31, 32, 33, 100, 1_000, 100_000])
def test_deep_nesting(depth: int) -> None:
    plain = b"\x81" * depth + b"\x00"
    assert decodes_or_drops(plain) == 0
    for tag in (32, 35, 43):
        nested = bytes([0x82, 0x18, tag]) + b"\x81" * depth + b"\x00"
        assert decodes_or_drops(nested) == 0
    deep = bytes([0x82, 0x18, 0x2b]) + b"\x81" * depth + b"\x80"
    assert reason_of(lambda: w.decode_reply(w.SYNC_PROTOCOL, deep, chain_id=CID)) is (
        DropReason.MALFORMED)


@pytest.mark.parametrize("n", [1 << 16, 1 << 32, (1 << 64) - 1])
def test_huge_claimed_lengths(n: int) -> None:
    for tag in sorted(w.MESSAGE_TYPES):
        for major in (2, 3, 4, 5):
            data = bytes([0x82, 0x18, tag]) + _head(major, n) + b"\x00" * 8
            assert decodes_or_drops(data) == 0


def test_one_type_never_decodes_as_another() -> None:
    b = block()
    status = w.StatusReply(CID, H, 1, H).encode()
    assert reason_of(lambda: w.decode_request(w.STATUS_PROTOCOL, status)) is (
        DropReason.WRONG_TOPIC)
    assert reason_of(lambda: w.Proposal.decode(w.ProposalHeader(b.header).encode())) is (
        DropReason.WRONG_TOPIC)


# --- decoding speed -------------------------------------------------------------------------


def test_a_thousand_transfers_decode_in_one_batch() -> None:
    """Correctness of the fast path (no wall-clock assertion; see the closing note for
    timings): a batch is assembled from its items' cached encodings, and a decoded batch
    leaves every transaction's id one hash away."""
    txs = tuple(transfer(i, key=i % 32) for i in range(1_000))
    data = w.TxBatch(txs).encode()
    back = w.decode_gossip("tx", data, chain_id=CID)
    assert isinstance(back, w.TxBatch) and back.txs == txs
    assert [t.id for t in back.txs] == [t.id for t in txs]
    assert all("encoded" in vars(t) for t in back.txs)


# --- drop reasons ---------------------------------------------------------------------------

LOTTERY_REASONS = {
    lottery.R_WRONG_CHAIN: DropReason.WRONG_CHAIN,
    lottery.R_WRONG_HEIGHT: DropReason.WRONG_HEIGHT,
    lottery.R_WRONG_PARENT: DropReason.WRONG_PARENT,
    lottery.R_WRONG_DRAW: DropReason.WRONG_DRAW,
    lottery.R_NOT_COMPUTATION_LUCKY: DropReason.NOT_COMPUTATION_LUCKY,
    lottery.R_LATE: DropReason.LATE,
    lottery.R_DUPLICATE: DropReason.DUPLICATE,
    lottery.R_NO_WORK: DropReason.NO_WORK,
    lottery.R_BAD_SIG: DropReason.BAD_SIGNATURE,
    lottery.R_NOT_OPEN: DropReason.NOT_OPEN,
    lottery.R_FUTURE: DropReason.FUTURE,
    lottery.R_NO_TIP: DropReason.NO_TIP,
    lottery.R_MALFORMED: DropReason.MALFORMED,
    lottery.R_OUTRANKED: DropReason.OUTRANKED,
}
"""Each R_* string of daoli.core.lottery and the member that replaces it."""


def test_every_lottery_reason_has_a_member() -> None:
    names = {n for n in vars(lottery) if re.fullmatch(r"R_[A-Z_]+", n)}
    assert {getattr(lottery, n) for n in names} == set(LOTTERY_REASONS)


def test_reason_values_are_stable_labels() -> None:
    """Values are metric labels: renaming one breaks dashboards, so they are pinned here."""
    assert [r.value for r in DropReason] == [
        "too_large", "malformed", "not_canonical", "unknown_type", "wrong_topic",
        "empty_batch", "batch_too_long", "duplicate_in_batch", "wrong_chain", "wrong_genesis",
        "unsolicited", "stalled", "rate_limited", "wrong_height", "wrong_parent", "wrong_draw",
        "not_computation_lucky", "late", "duplicate", "no_work", "bad_signature", "not_open",
        "future", "no_tip", "outranked", "not_a_trustee", "stale", "invalid_block",
        "invalid_certificate", "unknown_parent", "fee_too_low", "replacement_fee_too_low",
        "nonce_used", "nonce_gap", "nonce_too_far", "mempool_full", "invalid_transaction"]
    for r in DropReason:
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", r.value)
        assert r.value == r.name.lower()
        assert DropReason(r.value) is r
        assert r.description and "\n" not in r.description and len(r.description) < 120
        assert type(r.is_fault) is bool
    assert DropReason.MALFORMED.is_fault and DropReason.BAD_SIGNATURE.is_fault
    assert not DropReason.DUPLICATE.is_fault and not DropReason.LATE.is_fault


def test_docs_list_every_tag_and_reason() -> None:
    """docs/wire.md is the reference for a second implementation: its tables must match."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "wire.md").read_text()
    tags = {int(t): name for t, name in re.findall(r"^\| (\d+) \| (\w+) \|", text, re.M)}
    assert tags == {t: c.__name__ for t, c in w.MESSAGE_TYPES.items()}
    rows = re.findall(r"^\| `([a-z_]+)` \| (yes|no) \| (.+) \|$", text, re.M)
    assert [(r.value, "yes" if r.is_fault else "no", r.description) for r in DropReason] == rows


def test_wire_error_is_a_decode_error_with_a_reason() -> None:
    err = w.WireError(DropReason.TOO_LARGE, "x")
    assert isinstance(err, DecodeError)
    assert err.reason is DropReason.TOO_LARGE and err.detail == "x"
    assert str(err) == "too_large: x"
    assert str(w.WireError(DropReason.STALE)) == "stale"


# --- compact proposals ----------------------------------------------------------------------


def _distinct_block(n: int, pad: int = 200) -> Block:
    return block(1, tuple(transfer(i, b"p" * pad) for i in range(n)))


def test_a_proposal_over_the_gossip_limit_goes_compact_and_rebuilds_from_a_pool() -> None:
    b = _distinct_block(2_200)  # about 600 KB whole: over the 512 KiB limit
    assert len(b.encoded) > w.MAX_GOSSIP_BYTES
    msg = w.block_message(b)
    assert isinstance(msg, w.CompactProposal)
    assert msg.tx_ids == tuple(tx.id for tx in b.payload) and msg.block_id == b.id
    assert len(msg.encode()) < len(b.encoded) // 5
    back = w.decode_gossip("block", msg.encode(), chain_id=CID)
    assert back == msg
    pool = {tx.id: tx for tx in b.payload}
    rebuilt = back.rebuild(pool.get)
    assert isinstance(rebuilt, Block) and rebuilt.encoded == b.encoded and rebuilt == b
    # a missing transaction: the ids to fetch, in payload order
    gone = [b.payload[5].id, b.payload[700].id]
    for txid in gone:
        del pool[txid]
    assert back.rebuild(pool.get) == gone
    # a relay that swaps two ids keeps a well-formed message under the same signed header:
    # its rebuild is another payload, which the receiver's roots check refuses
    ids = list(msg.tx_ids)
    ids[0], ids[1] = ids[1], ids[0]
    forged = w.CompactProposal(msg.header, tuple(ids), msg.payroll, msg.last_commit)
    full = {tx.id: tx for tx in b.payload}
    out = forged.rebuild(full.get)
    assert isinstance(out, Block) and out.id == b.id
    assert payload_root(out.payload) != payload_root(b.payload)
    # whole when it fits, as SPEC 7 says
    small = _distinct_block(10)
    assert w.block_message(small) == w.Proposal(small)


def test_compact_proposal_refuses_repeated_ids_and_too_many() -> None:
    b = _distinct_block(3)
    msg = w.CompactProposal.of(b)
    assert reason_of(lambda: w.CompactProposal(msg.header, (msg.tx_ids[0], msg.tx_ids[0]), (),
                                               None)) is DropReason.DUPLICATE_IN_BATCH
    raw = enc.encode([39, b.header.to_fields(), [msg.tx_ids[0]] * 2, [], None])
    assert reason_of(w.decode_gossip, "block", raw, chain_id=CID) is DropReason.DUPLICATE_IN_BATCH
    short = enc.encode([39, b.header.to_fields(), [b"\x00" * 31], [], None])
    assert reason_of(w.decode_gossip, "block", short, chain_id=CID) is DropReason.MALFORMED
    # a block with more transactions than a compact message can name is announced by header
    huge = _distinct_block(16_500, pad=0)
    assert isinstance(w.block_message(huge), w.ProposalHeader)
