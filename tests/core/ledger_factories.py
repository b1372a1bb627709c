"""Shared factories for core tests: deterministic keys, genesis, signed transactions, blocks
and commit certificates.

Keys come from small integers (secret = the integer as 32 big-endian bytes), so a test says
``pk(3)`` instead of carrying key material around. ``Chain`` drives a MemoryState through
``apply_block`` the way a node would, building each block with the right state root and the
certificate of its parent signed by the trustees that voted on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

from daoli.core.address import address_bytes_of
from daoli.core.block import Block, Header, last_commit_root, payload_root, payroll_root
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.hashing import EMPTY_ROOT
from daoli.core.ledger import (
    BlockResult,
    apply_block,
    audit_supply,
    genesis_diff,
    prev_active_trustees,
    read_tip,
)
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.state import MemoryState, compute_acc, state_root_of
from daoli.core.ticket import Ticket
from daoli.core.tx import Body, Transaction, Transfer
from daoli.core.vote import PRECOMMIT, CommitCertificate, Vote
from daoli.errors import InvalidBlock

CHAIN_ID = "testnet"
GENESIS_TIME_MS = 1_700_000_000_000
TRUSTEE_IDS = (101, 102, 103, 104)
MINER, SPONSOR = 201, 202
MIN_FEE = 1_000
DEFAULT_BALANCE = 1_000_000 * LI_PER_DLC


def sk(i: int) -> bytes:
    return i.to_bytes(32, "big")


@cache
def pk(i: int) -> bytes:
    return pubkey_from_secret(sk(i))


@cache
def addr(i: int) -> bytes:
    return address_bytes_of(pk(i))


@cache
def _secret_by_pubkey() -> dict[bytes, bytes]:
    return {}


def secret_of(pubkey: bytes) -> bytes:
    """The secret of a key made by ``pk(i)`` for some i below 10,000."""
    table = _secret_by_pubkey()
    if not table:
        for i in range(1, 400):
            table[pk(i)] = sk(i)
    if pubkey not in table:
        for i in range(400, 10_000):
            if pk(i) == pubkey:
                table[pubkey] = sk(i)
                break
    return table[pubkey]


def make_params(**changes: int) -> ChainParams:
    base: dict[str, Any] = {"min_fee": MIN_FEE, "min_bond": 1_000 * LI_PER_DLC}
    base.update(changes)
    return ChainParams(**base)


def make_genesis(balances: dict[int, int] | None = None,
                 trustees: Sequence[int] = TRUSTEE_IDS,
                 bonds: dict[int, int] | None = None,
                 raw_allocations: Iterable[tuple[bytes, int]] = (),
                 **params: int) -> Genesis:
    """A genesis giving each key id in ``balances`` that many li (default: keys 1-5 a
    million DLC each) and bonding the ``trustees`` key ids."""
    p = make_params(**params)
    if balances is None:
        balances = {i: DEFAULT_BALANCE for i in range(1, 6)}
    allocs = [Allocation(addr(i), v) for i, v in balances.items()]
    allocs += [Allocation(a, v) for a, v in raw_allocations]
    bonds = bonds or {}
    ts = [GenesisTrustee(pk(i), bonds.get(i, p.min_bond), f"/ip4/127.0.0.1/tcp/{9000 + i}")
          for i in trustees]
    return Genesis(CHAIN_ID, GENESIS_TIME_MS, p, tuple(allocs), tuple(ts))


def sign_tx(sender: int, body: Body, nonce: int, fee: int = MIN_FEE,
            chain_id: str = CHAIN_ID) -> Transaction:
    return Transaction(chain_id, pk(sender), nonce, fee, body).signed(sk(sender))


def transfer(sender: int, to: int | bytes, amount: int, nonce: int, fee: int = MIN_FEE,
             chain_id: str = CHAIN_ID, memo: bytes = b"") -> Transaction:
    dest = addr(to) if isinstance(to, int) else to
    return sign_tx(sender, Transfer(dest, amount, memo), nonce, fee, chain_id)


def make_vote(trustee: int, height: int, block_id: bytes, *, round: int = 0,
              vtype: int = PRECOMMIT, time_ms: int = GENESIS_TIME_MS,
              chain_id: str = CHAIN_ID) -> Vote:
    return Vote(chain_id, vtype, height, round, block_id, pk(trustee), time_ms).signed(
        sk(trustee))


def make_cert(height: int, block_id: bytes, signers: Iterable[bytes], *, round: int = 0,
              chain_id: str = CHAIN_ID) -> CommitCertificate:
    votes = [Vote(chain_id, PRECOMMIT, height, round, block_id, p, GENESIS_TIME_MS + height)
             .signed(secret_of(p)) for p in signers]
    return CommitCertificate.from_votes(votes)


_DEFAULT = object()


class Chain:
    """A MemoryState driven block by block through the real ledger."""

    def __init__(self, genesis: Genesis | None = None) -> None:
        self.genesis = genesis or make_genesis()
        self.state = MemoryState()
        self.state.apply(genesis_diff(self.genesis))
        self.blocks: list[Block] = []

    @property
    def height(self) -> int:
        tip = read_tip(self.state)
        assert tip is not None
        return tip.height

    def tip_cert(self, signers: Iterable[bytes] | None = None) -> CommitCertificate:
        """The certificate for the tip block, by all of its voters unless told otherwise."""
        tip = read_tip(self.state)
        assert tip is not None
        voters = prev_active_trustees(self.state) if signers is None else list(signers)
        return make_cert(tip.height, tip.block_id, voters)

    def build(self, txs: Sequence[Transaction] = (), *, miner: int = MINER,
              sponsor: int = SPONSOR, payroll: Sequence[int] = (), cycle: int | None = None,
              time_ms: int | None = None, last_commit: Any = _DEFAULT,
              state_root: bytes | None = None, height: int | None = None,
              parent_id: bytes | None = None, chain_id: str = CHAIN_ID) -> Block:
        tip = read_tip(self.state)
        assert tip is not None
        h = tip.height + 1 if height is None else height
        parent = tip.block_id if parent_id is None else parent_id
        if cycle is None:
            cycle = 0 if tip.cycle is None else tip.cycle + 1
        if time_ms is None:
            time_ms = tip.time_ms + 1
        ticket = Ticket(chain_id, h, cycle, parent, pk(miner), pk(sponsor), 0,
                        time_ms).signed(sk(miner))
        tickets = tuple(Ticket(chain_id, h, cycle, parent, pk(m), pk(sponsor), 0,
                               time_ms).signed(sk(m)) for m in payroll)
        if last_commit is _DEFAULT:
            last_commit = self.tip_cert() if tip.height >= 1 else None
        txs = tuple(txs)

        def make(root: bytes) -> Block:
            header = Header(chain_id, h, cycle, time_ms, parent, ticket, payload_root(txs),
                            payroll_root(tickets), root, last_commit_root(last_commit),
                            pk(sponsor)).signed(sk(sponsor))
            return Block(header, txs, tickets, last_commit)

        if state_root is None:
            draft = make(EMPTY_ROOT)
            try:
                result = apply_block(self.state, self.state.acc, self.genesis, draft,
                                     check_state_root=False, verify_signatures=False)
                state_root = result.diff.root
            except InvalidBlock:  # a deliberately bad block: any root will do
                state_root = EMPTY_ROOT
        return make(state_root)

    def apply(self, block: Block, **kw: Any) -> BlockResult:
        result = apply_block(self.state, self.state.acc, self.genesis, block, **kw)
        self.state.apply(result.diff)
        self.blocks.append(block)
        return result

    def next(self, txs: Sequence[Transaction] = (), **kw: Any) -> BlockResult:
        return self.apply(self.build(txs, **kw))

    def advance_to(self, height: int) -> None:
        while self.height < height:
            self.next()

    def check_invariants(self) -> None:
        """Supply is conserved and the incremental accumulator equals a full recomputation."""
        audit = audit_supply(self.state.items())
        assert audit.ok, audit
        acc = compute_acc(self.state.items())
        assert acc == self.state.acc
        assert state_root_of(acc) == self.state.root

    def snapshot(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        return list(self.state.items()), self.state.acc


def rebuilt(block: Block, **header_changes: Any) -> Block:
    """``block`` with header fields changed, still signed by its sponsor (key id SPONSOR
    unless the proposer key belongs to another id)."""
    header = replace(block.header, **header_changes)
    return replace(block, header=header.signed(secret_of(header.proposer_pubkey)))
