"""Every protocol object round-trips exactly through its canonical CBOR encoding.

Property tests over generated objects (tests/core/strategies.py), known-answer layouts that
pin the wire format field by field, and the boundary values of each field checker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.core import encoding as enc
from daoli.core.block import Block, Header, last_commit_root
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.hashing import EMPTY_ROOT, sha256
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.core.tx import (
    BODY_BY_NAME,
    BODY_TYPES,
    MAX_TX_BYTES,
    Body,
    Evidence,
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
    Transfer,
    TrusteeJoin,
    TrusteeLeave,
    UsageReceipt,
)
from daoli.core.vote import NIL, PRECOMMIT, PREVOTE, CommitCertificate, CommitSig, Vote
from daoli.errors import ConfigError, DecodeError, InvalidConsensusMessage
from tests.core.strategies import (
    BODY_STRATEGIES,
    KEYS,
    OBJECT_STRATEGIES,
    blocks,
    chain_params,
    geneses,
    transactions,
)

OBJECT_TYPES: list[type] = list(OBJECT_STRATEGIES)
IDS = [c.__name__ for c in OBJECT_TYPES]
ROUND_TRIP = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])

PK = KEYS[0].pubkey
PK2 = KEYS[1].pubkey
SIG = bytes(range(64))
H = bytes(range(32))


def assert_round_trip(obj: Any) -> None:
    cls = type(obj)
    data = obj.encode()
    assert data == enc.encode(obj.to_fields())
    back = cls.decode(data)
    assert back == obj
    assert back.encode() == data  # re-encoding gives the very same bytes
    assert cls.decode(back.encode()) == obj
    fields = cbor2.loads(data)
    assert type(fields) is list and fields[0] == cls.TYPE  # an array led by the type id
    assert cls.from_fields(fields) == obj
    if hasattr(obj, "id") and cls is not Block:
        assert obj.id == sha256(data)


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(ROUND_TRIP)
def test_round_trip(cls: type, data: st.DataObject) -> None:
    assert_round_trip(data.draw(OBJECT_STRATEGIES[cls]()))


@pytest.mark.parametrize("body_type", list(BODY_STRATEGIES), ids=lambda b: b.NAME)
@given(st.data())
@settings(ROUND_TRIP)
def test_round_trip_every_transaction_kind(body_type: type[Body], data: st.DataObject) -> None:
    tx = data.draw(transactions(body=BODY_STRATEGIES[body_type]()))
    assert type(tx.body) is body_type
    assert tx.kind == body_type.KIND
    assert_round_trip(tx)
    fields = cbor2.loads(tx.encode())
    assert fields == [1, tx.chain_id, body_type.KIND, tx.sender_pubkey, tx.nonce, tx.fee,
                      tx.body.to_fields(), tx.sig]


@given(st.sampled_from([transactions, blocks]).flatmap(lambda f: f(signed=True)))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_signed_objects_survive_the_wire(obj: Any) -> None:
    back = type(obj).decode(obj.encode())
    if isinstance(obj, Block):
        assert back.header.verify_sig()
        assert all(tx.verify_sig() for tx in back.payload)
        assert all(t.verify_sig() for t in back.payroll)
        assert back.roots_match() is None
    else:
        assert back.verify_sig()


def test_body_kinds_are_the_nine_of_the_spec() -> None:
    assert {k: b.NAME for k, b in BODY_TYPES.items()} == {
        1: "transfer", 2: "trustee_join", 3: "trustee_leave", 4: "evidence",
        5: "resource_offer", 6: "resource_order", 7: "lease_close", 8: "usage_receipt",
        9: "offer_cancel"}
    assert set(BODY_BY_NAME) == {b.NAME for b in BODY_TYPES.values()}
    assert set(BODY_STRATEGIES) == set(BODY_TYPES.values())


@given(chain_params())
@settings(max_examples=40, deadline=None)
def test_chain_params_round_trip(params: ChainParams) -> None:
    assert ChainParams.from_fields(params.to_fields()) == params
    assert ChainParams.from_dict(params.to_dict()) == params


@given(geneses())
@settings(max_examples=30, deadline=None)
def test_genesis_toml_form_round_trips(genesis: Genesis) -> None:
    assert Genesis.from_dict(genesis.to_dict()) == genesis


# --- known-answer layouts: the wire format, byte by byte ------------------------------------


def b(data: bytes) -> bytes:
    """A CBOR byte string with a 1-byte length head (what 20..255-byte strings use)."""
    assert 24 <= len(data) < 256 or len(data) < 24
    return (bytes([0x40 | len(data)]) if len(data) < 24 else bytes([0x58, len(data)])) + data


def test_transfer_layout() -> None:
    tx = Transaction("c", PK, 1, 1000, Transfer(b"\x11" * 20, 24, b"hi"), SIG)
    expected = (b"\x88" + b"\x01" + b"\x61c" + b"\x01" + b(PK) + b"\x01" + b"\x19\x03\xe8"
                + b"\x83" + b(b"\x11" * 20) + b"\x18\x18" + b"\x42hi" + b(SIG))
    assert tx.encode() == expected
    assert tx.id == sha256(expected)
    assert Transaction.decode(expected) == tx


def test_trustee_leave_layout() -> None:
    tx = Transaction("c", PK, 0, 0, TrusteeLeave(), SIG)
    assert tx.encode() == b"\x88\x01\x61c\x03" + b(PK) + b"\x00\x00\x80" + b(SIG)


def test_vote_layout() -> None:
    vote = Vote("c", PREVOTE, 5, 0, NIL, PK, 7, SIG)
    assert vote.encode() == b"\x89\x03\x61c\x01\x05\x00\x40" + b(PK) + b"\x07" + b(SIG)
    assert vote.is_nil
    assert Vote.decode(vote.encode()) == vote


def test_ticket_layout() -> None:
    t = Ticket("c", 1, 2, H, PK, PK2, 3, 4, SIG)
    assert t.encode() == b"\x8a\x02\x61c\x01\x02" + b(H) + b(PK) + b(PK2) + b"\x03\x04" + b(SIG)


def test_certificate_layout_and_order() -> None:
    lo, hi = sorted([PK, PK2])
    votes = [Vote("c", PRECOMMIT, 9, 1, H, k, 100 + i, SIG) for i, k in enumerate([hi, lo])]
    cert = CommitCertificate.from_votes(votes)
    assert cert.signers == [lo, hi]
    assert cert.encode() == (b"\x85\x04\x09\x01" + b(H) + b"\x82"
                             + b"\x83" + b(lo) + b"\x18\x65" + b(SIG)
                             + b"\x83" + b(hi) + b"\x18\x64" + b(SIG))
    assert [v.sig for v in cert.votes("c")] == [SIG, SIG]
    assert CommitCertificate.decode(cert.encode()) == cert


def test_block_layout() -> None:
    ticket = Ticket("c", 1, 2, H, PK, PK2, 3, 4, SIG)
    header = Header("c", 1, 2, 3, H, ticket, EMPTY_ROOT, EMPTY_ROOT, H, EMPTY_ROOT, PK2, SIG)
    block = Block(header)
    assert block.roots_match() is None
    assert block.encode() == b"\x85\x06" + header.encode() + b"\x80\x80\xf6"
    assert block.id == header.id == sha256(header.encode())
    assert Block.decode(block.encode()) == block


# --- field boundaries --------------------------------------------------------------------


def tx_fields(kind: int = 1, body: list[Any] | None = None, **over: Any) -> list[Any]:
    f = {"chain_id": "c", "pubkey": PK, "nonce": 0, "fee": 0, "sig": SIG, **over}
    return [1, f["chain_id"], kind, f["pubkey"], f["nonce"], f["fee"],
            [b"\x00" * 20, 1, b""] if body is None else body, f["sig"]]


def decodes(cls: type, fields: list[Any]) -> bool:
    try:
        obj = cls.decode(enc.encode(fields))  # type: ignore[attr-defined]
    except DecodeError:
        return False
    assert obj.encode() == enc.encode(fields)
    return True


def test_transaction_field_boundaries() -> None:
    assert decodes(Transaction, tx_fields(nonce=enc.MAX_U64, fee=enc.MAX_AMOUNT))
    assert not decodes(Transaction, tx_fields(fee=enc.MAX_AMOUNT + 1))
    assert not decodes(Transaction, tx_fields(nonce=enc.MAX_U64 + 1))  # a bignum tag
    assert not decodes(Transaction, tx_fields(nonce=-1))
    assert decodes(Transaction, tx_fields(chain_id="x" * 64))
    assert not decodes(Transaction, tx_fields(chain_id="x" * 65))
    assert not decodes(Transaction, tx_fields(chain_id=b"c"))
    assert not decodes(Transaction, tx_fields(pubkey=PK[:32]))
    assert not decodes(Transaction, tx_fields(sig=SIG[:63]))
    assert not decodes(Transaction, tx_fields(sig=b""))  # unsigned objects never go on the wire
    for kind in (0, 10, 255):
        assert not decodes(Transaction, tx_fields(kind=kind))
    assert decodes(Transaction, tx_fields(body=[b"\x00" * 20, enc.MAX_AMOUNT, b"m" * 256]))
    assert not decodes(Transaction, tx_fields(body=[b"\x00" * 20, enc.MAX_AMOUNT + 1, b""]))
    assert not decodes(Transaction, tx_fields(body=[b"\x00" * 20, 1, b"m" * 257]))
    assert not decodes(Transaction, tx_fields(body=[b"\x00" * 19, 1, b""]))
    assert not decodes(Transaction, tx_fields(body=[b"\x00" * 20, 1]))
    assert not decodes(Transaction, tx_fields(body=[b"\x00" * 20, 1, b"", b""]))
    assert decodes(Transaction, tx_fields(kind=2, body=[0, "é" * 128]))  # 256 bytes of UTF-8
    assert not decodes(Transaction, tx_fields(kind=2, body=[0, "é" * 128 + "x"]))
    assert decodes(Transaction, tx_fields(kind=3, body=[]))
    assert not decodes(Transaction, tx_fields(kind=3, body=[0]))
    assert not decodes(Transaction, tx_fields(kind=7, body=[b"\x00" * 31]))
    assert not decodes(Transaction, tx_fields(kind=8, body=[H, 1, 2, SIG[:32]]))
    assert not decodes(Transaction, [1, "c", 1, PK, 0, 0, [b"\x00" * 20, 1, b""]])
    assert not decodes(Transaction, [*tx_fields(), b""])


def test_transaction_size_limit() -> None:
    big = enc.encode(tx_fields()) + b"\x00" * MAX_TX_BYTES
    with pytest.raises(DecodeError, match="exceeds the limit"):
        Transaction.decode(big)


def test_evidence_votes_are_checked_as_votes() -> None:
    vote = Vote("c", PREVOTE, 1, 0, H, PK, 0, SIG)
    ev = Transaction("c", PK, 0, 0, Evidence(vote, replace(vote, block_id=NIL)), SIG)
    assert_round_trip(ev)
    bad_vote = vote.to_fields()
    bad_vote[2] = 3  # no such vote type
    assert not decodes(Transaction, tx_fields(kind=4, body=[bad_vote, vote.to_fields()]))
    ticket = Ticket("c", 1, 2, H, PK, PK2, 3, 4, SIG)
    assert not decodes(Transaction, tx_fields(kind=4, body=[ticket.to_fields(),
                                                            vote.to_fields()]))


def test_vote_field_boundaries() -> None:
    base = Vote("c", PRECOMMIT, 1, 2, H, PK, 3, SIG).to_fields()

    def with_(i: int, v: Any) -> list[Any]:
        f = list(base)
        f[i] = v
        return f

    assert decodes(Vote, base)
    assert decodes(Vote, with_(5, b""))
    for vtype in (0, 3, -1):
        assert not decodes(Vote, with_(2, vtype))
    for block_id in (b"\x00", H[:31], H + b"\x00", None):
        assert not decodes(Vote, with_(5, block_id))


def test_certificate_rejects_unsorted_or_duplicate_signers() -> None:
    lo, hi = sorted([PK, PK2])
    good = [4, 1, 0, H, [[lo, 0, SIG], [hi, 0, SIG]]]
    assert decodes(CommitCertificate, good)
    assert not decodes(CommitCertificate, [4, 1, 0, H, [[hi, 0, SIG], [lo, 0, SIG]]])
    assert not decodes(CommitCertificate, [4, 1, 0, H, [[lo, 0, SIG], [lo, 1, SIG]]])
    assert not decodes(CommitCertificate, [4, 1, 0, NIL, [[lo, 0, SIG]]])  # no nil certificate
    assert not decodes(CommitCertificate, [4, 1, 0, H, [[lo, 0]]])
    assert not decodes(CommitCertificate, [4, 1, 0, H, [[lo, 0, SIG, 0]]])
    with pytest.raises(InvalidConsensusMessage):
        CommitCertificate.from_votes([])
    with pytest.raises(InvalidConsensusMessage):
        CommitCertificate.from_votes([Vote("c", PREVOTE, 1, 0, H, PK, 0, SIG)])


def test_certificate_from_votes_keeps_one_signature_per_trustee() -> None:
    votes = [Vote("c", PRECOMMIT, 1, 0, H, k.pubkey, 0, SIG) for k in KEYS[:4]]
    cert = CommitCertificate.from_votes([*votes, votes[0]])
    assert len(cert.sigs) == 4
    assert cert.sigs == tuple(sorted((CommitSig(v.trustee_pubkey, 0, SIG) for v in votes),
                                     key=lambda s: s.trustee_pubkey))


def test_block_roots_must_match_the_body() -> None:
    tx = Transaction("c", PK, 0, 0, LeaseClose(H), SIG)
    ticket = Ticket("c", 1, 2, H, PK, PK2, 3, 4, SIG)
    header = Header("c", 1, 2, 3, H, ticket, EMPTY_ROOT, EMPTY_ROOT, H, EMPTY_ROOT, PK2, SIG)
    assert "payload_root" in (Block(header, (tx,)).roots_match() or "")
    assert "payroll_root" in (Block(header, (), (ticket,)).roots_match() or "")
    cert = CommitCertificate(1, 0, H, (CommitSig(PK, 0, SIG),))
    assert "last_commit_root" in (Block(header, last_commit=cert).roots_match() or "")
    assert last_commit_root(cert) == cert.id
    # decode does not judge the roots (validation does), but round-trips them exactly
    assert_round_trip(Block(header, (tx,), (ticket,), cert))


def test_block_rejects_a_transaction_in_the_payroll() -> None:
    tx = Transaction("c", PK, 0, 0, OfferCancel(H), SIG)
    ticket = Ticket("c", 1, 2, H, PK, PK2, 3, 4, SIG)
    header = Header("c", 1, 2, 3, H, ticket, EMPTY_ROOT, EMPTY_ROOT, H, EMPTY_ROOT, PK2, SIG)
    fields = Block(header).to_fields()
    fields[3] = [tx.to_fields()]
    assert not decodes(Block, fields)
    fields[3], fields[2] = [], [ticket.to_fields()]
    assert not decodes(Block, fields)
    fields[2], fields[4] = [], tx.to_fields()
    assert not decodes(Block, fields)


def test_bodies_with_every_field_at_its_maximum() -> None:
    m, a = enc.MAX_U64, enc.MAX_AMOUNT
    for body in (ResourceOffer(m, m, m, m, a, a, m, m, "e" * 256),
                 ResourceOrder(m, m, m, m, a, m, a), UsageReceipt(H, m, m, SIG),
                 TrusteeJoin(a, "/ip4/127.0.0.1/tcp/1"), OfferCancel(H)):
        assert_round_trip(Transaction("c" * 64, PK, m, a, body, SIG))


def test_genesis_decode_enforces_genesis_rules() -> None:
    params = ChainParams(min_bond=10)
    good = Genesis("devnet", 0, params, (Allocation(b"\x01" * 20, 5),),
                   (GenesisTrustee(PK, 10, "/ip4/127.0.0.1/tcp/1"),))
    assert_round_trip(good)
    fields = good.to_fields()
    cases = {
        "duplicate allocation": {4: fields[4] * 2},
        "duplicate trustee": {5: fields[5] * 2},
        "bond below min_bond": {5: [[PK, 9, "x"]]},
        "bad chain id": {1: "Dev Net"},
        "params of the wrong length": {3: fields[3][:-1]},
        "phi + delta > cycle": {3: [1, *fields[3][1:]]},
        "zero cycle": {3: [0, *fields[3][1:]]},
        "allocation of 21 bytes": {4: [[b"\x01" * 21, 5]]},
        "supply beyond 2^63": {4: [[b"\x01" * 20, enc.MAX_AMOUNT],
                                   [b"\x02" * 20, 1]]},
    }
    for name, changes in cases.items():
        bad = list(fields)
        for i, v in changes.items():
            bad[i] = v
        assert not decodes(Genesis, bad), name
    with pytest.raises(ConfigError):
        Genesis("Bad Id", 0, params)


def test_ids_change_with_every_field() -> None:
    tx = Transaction("c", PK, 0, 0, Transfer(b"\x00" * 20, 1, b""), SIG)
    variants = [replace(tx, chain_id="d"), replace(tx, sender_pubkey=PK2),
                replace(tx, nonce=1), replace(tx, fee=1), replace(tx, sig=SIG[::-1]),
                replace(tx, body=Transfer(b"\x00" * 20, 2, b"")),
                replace(tx, body=Transfer(b"\x00" * 20, 1, b"x"))]
    assert len({v.id for v in [tx, *variants]}) == len(variants) + 1
