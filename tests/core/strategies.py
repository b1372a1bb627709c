"""Hypothesis strategies for every protocol object, shared by the whole test suite.

Import from here rather than writing ad-hoc generators, so that every layer's tests explore
the same shapes (boundary integers, empty and maximal fields, unicode text, nested objects):

    from tests.core.strategies import transactions, blocks, geneses, KEYS

Conventions:
- Every generated object *decodes*: signature fields are always 64 bytes (random unless
  ``signed=True``, in which case they are real signatures by a key from :data:`KEYS`).
- Public keys are valid compressed points drawn from the fixed pool :data:`KEYS`, so a test
  can look up the secret of any key it sees with :func:`secret_of`.
- Blocks are internally consistent: the header's payload, payroll and last-commit roots match
  the body, so ``block.roots_match() is None``.
- Strategies are deterministic functions of Hypothesis' choices (no ``random``), so failures
  shrink and replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from daoli.core.block import Block, Header, last_commit_root, payload_root, payroll_root
from daoli.core.crypto import pubkey_from_secret
from daoli.core.encoding import MAX_AMOUNT, MAX_U64
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.hashing import sha256
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.core.tx import (
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
from daoli.core.vote import PRECOMMIT, VOTE_TYPES, CommitCertificate, Vote

__all__ = [
    "BODY_STRATEGIES",
    "KEYS",
    "OBJECT_STRATEGIES",
    "KeyPair",
    "address_bytes",
    "amounts",
    "block_ids",
    "blocks",
    "bodies",
    "certificates",
    "chain_ids",
    "chain_params",
    "evidences",
    "geneses",
    "hashes",
    "headers",
    "keypairs",
    "lease_closes",
    "offer_cancels",
    "protocol_objects",
    "pubkeys",
    "resource_offers",
    "resource_orders",
    "secret_of",
    "sigs",
    "texts",
    "tickets",
    "transactions",
    "transfers",
    "trustee_joins",
    "trustee_leaves",
    "u64s",
    "usage_receipts",
    "votes",
]


# --- keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    secret: bytes
    pubkey: bytes


KEYS: tuple[KeyPair, ...] = tuple(
    KeyPair(s, pubkey_from_secret(s))
    for s in (sha256(b"daoli-test-key/" + str(i).encode()) for i in range(32))
)
"""A fixed pool of 32 key pairs; deterministic so failing examples replay exactly."""

_SECRET_BY_PUBKEY = {k.pubkey: k.secret for k in KEYS}


def secret_of(pubkey: bytes) -> bytes:
    """The secret of a pool key (KeyError for keys not from :data:`KEYS`)."""
    return _SECRET_BY_PUBKEY[pubkey]


def keypairs() -> SearchStrategy[KeyPair]:
    return st.sampled_from(KEYS)


def pubkeys() -> SearchStrategy[bytes]:
    return keypairs().map(lambda k: k.pubkey)


# --- scalars ------------------------------------------------------------------------------

_U64_EDGES = [0, 1, 23, 24, 255, 256, 65_535, 65_536, (1 << 32) - 1, 1 << 32,
              MAX_AMOUNT, MAX_U64]
"""Values at every CBOR head-width boundary, where a canonical encoder can go wrong."""


def u64s(max_value: int = MAX_U64) -> SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([v for v in _U64_EDGES if v <= max_value]),
        st.integers(0, min(1_000, max_value)),
        st.integers(0, max_value),
    )


def amounts(max_value: int = MAX_AMOUNT) -> SearchStrategy[int]:
    return u64s(max_value)


def hashes() -> SearchStrategy[bytes]:
    return st.binary(min_size=32, max_size=32)


def block_ids() -> SearchStrategy[bytes]:
    """A vote's block id: 32 bytes, or empty for nil."""
    return st.one_of(st.just(b""), hashes())


def address_bytes() -> SearchStrategy[bytes]:
    return st.binary(min_size=20, max_size=20)


def sigs() -> SearchStrategy[bytes]:
    """64 arbitrary bytes: well-formed on the wire, almost surely not a valid signature."""
    return st.binary(min_size=64, max_size=64)


def texts(max_bytes: int) -> SearchStrategy[str]:
    """Unicode text whose UTF-8 encoding fits in ``max_bytes`` (4 bytes per char at most)."""
    return st.text(max_size=max_bytes // 4)


def chain_ids() -> SearchStrategy[str]:
    """Chain ids as genesis accepts them: 1-63 of a-z, 0-9 and '-'."""
    return st.one_of(
        st.sampled_from(["daoli-devnet", "daoli-testnet", "x"]),
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True),
    )


# --- votes, tickets, certificates ---------------------------------------------------------


def votes(chain_id: SearchStrategy[str] | None = None, signed: bool = False,
          vtype: SearchStrategy[int] | None = None) -> SearchStrategy[Vote]:
    @st.composite
    def build(draw: st.DrawFn) -> Vote:
        key = draw(keypairs())
        vote = Vote(draw(chain_id if chain_id is not None else chain_ids()),
                    draw(vtype if vtype is not None else st.sampled_from(VOTE_TYPES)),
                    draw(u64s()), draw(u64s()), draw(block_ids()), key.pubkey, draw(u64s()),
                    draw(sigs()))
        return vote.signed(key.secret) if signed else vote

    return build()


def tickets(chain_id: SearchStrategy[str] | None = None,
            signed: bool = False) -> SearchStrategy[Ticket]:
    @st.composite
    def build(draw: st.DrawFn) -> Ticket:
        miner = draw(keypairs())
        ticket = Ticket(draw(chain_id if chain_id is not None else chain_ids()), draw(u64s()),
                        draw(u64s()), draw(hashes()), miner.pubkey, draw(pubkeys()),
                        draw(u64s()), draw(u64s()), draw(sigs()))
        return ticket.signed(miner.secret) if signed else ticket

    return build()


def certificates(chain_id: SearchStrategy[str] | None = None, signed: bool = False,
                 max_sigs: int = 6) -> SearchStrategy[CommitCertificate]:
    """Certificates of 1..max_sigs distinct trustees (sorted by key, as decode requires)."""

    @st.composite
    def build(draw: st.DrawFn) -> CommitCertificate:
        cid = draw(chain_id if chain_id is not None else chain_ids())
        height, rnd, block_id = draw(u64s()), draw(u64s()), draw(hashes())
        keys = draw(st.lists(keypairs(), min_size=1, max_size=max_sigs,
                             unique_by=lambda k: k.pubkey))
        vs = []
        for k in keys:
            v = Vote(cid, PRECOMMIT, height, rnd, block_id, k.pubkey, draw(u64s()), draw(sigs()))
            vs.append(v.signed(k.secret) if signed else v)
        return CommitCertificate.from_votes(vs)

    return build()


# --- transaction bodies -------------------------------------------------------------------


def transfers() -> SearchStrategy[Transfer]:
    return st.builds(Transfer, address_bytes(), amounts(), st.binary(max_size=256))


def trustee_joins() -> SearchStrategy[TrusteeJoin]:
    return st.builds(TrusteeJoin, amounts(), texts(256))


def trustee_leaves() -> SearchStrategy[TrusteeLeave]:
    return st.just(TrusteeLeave())


def evidences(chain_id: SearchStrategy[str] | None = None) -> SearchStrategy[Evidence]:
    """Any two votes (not necessarily an equivocation: that is a ledger rule, not encoding)."""
    return st.builds(Evidence, votes(chain_id), votes(chain_id))


def resource_offers() -> SearchStrategy[ResourceOffer]:
    return st.builds(ResourceOffer, u64s(), u64s(), u64s(), u64s(), amounts(), amounts(),
                     u64s(), u64s(), texts(256))


def resource_orders() -> SearchStrategy[ResourceOrder]:
    return st.builds(ResourceOrder, u64s(), u64s(), u64s(), u64s(), amounts(), u64s(),
                     amounts())


def lease_closes() -> SearchStrategy[LeaseClose]:
    return st.builds(LeaseClose, hashes())


def usage_receipts() -> SearchStrategy[UsageReceipt]:
    return st.builds(UsageReceipt, hashes(), u64s(), u64s(), sigs())


def offer_cancels() -> SearchStrategy[OfferCancel]:
    return st.builds(OfferCancel, hashes())


BODY_STRATEGIES: dict[type[Body], Callable[[], SearchStrategy[Any]]] = {
    Transfer: transfers,
    TrusteeJoin: trustee_joins,
    TrusteeLeave: trustee_leaves,
    Evidence: evidences,
    ResourceOffer: resource_offers,
    ResourceOrder: resource_orders,
    LeaseClose: lease_closes,
    UsageReceipt: usage_receipts,
    OfferCancel: offer_cancels,
}
"""One strategy factory per transaction kind; tests parametrize over it to cover all nine."""


def bodies() -> SearchStrategy[Body]:
    return st.one_of([factory() for factory in BODY_STRATEGIES.values()])


def transactions(body: SearchStrategy[Body] | None = None,
                 chain_id: SearchStrategy[str] | None = None,
                 signed: bool = False) -> SearchStrategy[Transaction]:
    @st.composite
    def build(draw: st.DrawFn) -> Transaction:
        sender = draw(keypairs())
        tx = Transaction(draw(chain_id if chain_id is not None else chain_ids()), sender.pubkey,
                         draw(u64s()), draw(amounts()),
                         draw(body if body is not None else bodies()), draw(sigs()))
        return tx.signed(sender.secret) if signed else tx

    return build()


# --- headers and blocks -------------------------------------------------------------------


def headers(chain_id: SearchStrategy[str] | None = None,
            signed: bool = False) -> SearchStrategy[Header]:
    """Headers with arbitrary roots (see :func:`blocks` for headers that match a body)."""

    @st.composite
    def build(draw: st.DrawFn) -> Header:
        cid = draw(chain_id if chain_id is not None else chain_ids())
        proposer = draw(keypairs())
        header = Header(cid, draw(u64s()), draw(u64s()), draw(u64s()), draw(hashes()),
                        draw(tickets(st.just(cid))), draw(hashes()), draw(hashes()),
                        draw(hashes()), draw(hashes()), proposer.pubkey, draw(sigs()))
        return header.signed(proposer.secret) if signed else header

    return build()


def blocks(chain_id: SearchStrategy[str] | None = None, signed: bool = False,
           max_txs: int = 4, max_payroll: int = 3) -> SearchStrategy[Block]:
    @st.composite
    def build(draw: st.DrawFn) -> Block:
        cid = draw(chain_id if chain_id is not None else chain_ids())
        same_chain = st.just(cid)
        payload = tuple(draw(st.lists(transactions(chain_id=same_chain, signed=signed),
                                      max_size=max_txs)))
        payroll = tuple(draw(st.lists(tickets(same_chain, signed), max_size=max_payroll)))
        cert = draw(st.none() | certificates(same_chain, signed))
        header = draw(headers(same_chain))
        proposer = next(k for k in KEYS if k.pubkey == header.proposer_pubkey)
        header = Header(cid, header.height, header.cycle, header.time_ms, header.parent_id,
                        header.winner_ticket, payload_root(payload), payroll_root(payroll),
                        header.state_root, last_commit_root(cert), header.proposer_pubkey,
                        header.proposer_sig)
        if signed:
            header = header.signed(proposer.secret)
        return Block(header, payload, payroll, cert)

    return build()


# --- genesis ------------------------------------------------------------------------------


@st.composite
def chain_params(draw: st.DrawFn, max_min_bond: int = 10**12) -> ChainParams:
    """Valid parameters: timing consistent (phi + delta <= cycle), positive where required."""
    values: dict[str, int] = {}
    positive = {"cycle_ms", "diameter", "pow_difficulty", "epoch_blocks", "max_trustees",
                "halving_blocks", "max_block_bytes"}
    for f in fields(ChainParams):
        if f.name in ("phi_ms", "delta_ms", "min_bond"):
            continue
        extremes = [1] if f.name in ("block_reward", "halving_blocks") else [1, MAX_AMOUNT]
        values[f.name] = draw(st.integers(1 if f.name in positive else 0, 1_000_000)
                              | st.sampled_from(extremes))
    cycle = values["cycle_ms"]
    values["phi_ms"] = draw(st.integers(0, cycle))
    values["delta_ms"] = draw(st.integers(0, cycle - values["phi_ms"]))
    values["min_bond"] = draw(st.integers(0, max_min_bond))
    return ChainParams(**values)


def geneses(max_allocations: int = 6, max_trustees: int = 5) -> SearchStrategy[Genesis]:
    """Valid geneses: unique allocation addresses and trustees, bonds >= min_bond."""

    @st.composite
    def build(draw: st.DrawFn) -> Genesis:
        params = draw(chain_params())
        allocs = draw(st.lists(st.builds(Allocation, address_bytes(), st.integers(0, 10**15)),
                               max_size=max_allocations, unique_by=lambda a: a.address))
        n_trustees = min(max_trustees, params.max_trustees)
        trustees = draw(st.lists(
            st.builds(GenesisTrustee, pubkeys(),
                      st.integers(params.min_bond, params.min_bond + 10**15), texts(256)),
            max_size=n_trustees, unique_by=lambda t: t.pubkey))
        return Genesis(draw(chain_ids()), draw(u64s()), params, tuple(allocs), tuple(trustees))

    return build()


# --- everything ---------------------------------------------------------------------------

OBJECT_STRATEGIES: dict[type, Callable[[], SearchStrategy[Any]]] = {
    Transaction: transactions,
    Ticket: tickets,
    Vote: votes,
    CommitCertificate: certificates,
    Header: headers,
    Block: blocks,
    Genesis: geneses,
}
"""Every top-level object with its own ``decode``, mapped to a strategy factory."""


def protocol_objects() -> SearchStrategy[Any]:
    """Any decodable protocol object."""
    return st.one_of([factory() for factory in OBJECT_STRATEGIES.values()])
