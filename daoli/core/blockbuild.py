"""Building a proposal and checking one (SPEC 4 "Valid", SPEC 5), as pure functions.

``build_block`` is what a sponsor runs when its miner's ticket is lucky enough to propose;
``check_block`` is the *objective* validity every trustee applies before prevoting. Both
run the real ledger (``apply_block``) so that what is built is exactly what is checked, and
both hand back the ledger's :class:`BlockResult`, so a caller that goes on to finalize the
block applies its diff instead of executing the block a second time.

Rules this module adds on top of the ledger (recorded in docs/protocol.md):

* The header's ``time_ms`` is the proposer's adjusted time, raised to ``parent + 1`` if its
  clock is behind (a block must be later than its parent), and the ``cycle`` is the winner
  ticket's draw.
* Transactions are taken in mempool order; any the ledger refuses are left out (the block
  is still built), and the payload stops growing before ``max_block_bytes`` is reached.
* Validity = header (chain, height, parent, cycle, time rules of SPEC 2), proposer = the
  winner ticket's sponsor with a valid signature, the winner ticket and the payroll
  (``lottery.check_payroll``: work at the difficulty in effect on the parent state,
  signatures, seed on the parent, computation-lucky time, strictly increasing lots, at most
  ``diameter - 1``), the parent's commit certificate, every transaction, and the state
  root. The future-time rule (``time_ms <= adjusted now +
  max_drift``) is the only subjective part and is checked only when ``adjusted_now_ms`` is
  given (a syncing node checks old blocks without it).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from daoli.core.block import Block, Header, last_commit_root, payload_root, payroll_root
from daoli.core.clock import check_header_time
from daoli.core.genesis import Genesis
from daoli.core.hashing import EMPTY_ROOT
from daoli.core.ledger import (
    BlockResult,
    InvalidTransactionInBlock,
    apply_block,
    block_size,
    read_pow_difficulty,
    read_tip,
)
from daoli.core.ledger_types import KEY_TIP_ID, BlockIdRecord
from daoli.core.lottery import check_payroll
from daoli.core.params import ChainParams
from daoli.core.state import StateReader
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import DecodeError, InvalidBlock

HeaderSigner = Callable[[Header], Header]
"""Returns the header with ``proposer_sig`` filled in; injectable so a simulator can sign
fast and a node can sign with a key it keeps elsewhere."""

MAX_BUILD_ATTEMPTS = 64
"""A payload is retried without a refused transaction at most this many times; beyond that
the block is built empty rather than spending unbounded time on a hostile mempool."""


def secret_header_signer(secret: bytes) -> HeaderSigner:
    """The real signer: secp256k1 over the header's domain-tagged signing bytes."""
    def sign(header: Header) -> Header:
        return header.signed(secret)
    return sign


@dataclass(frozen=True)
class Built:
    """A signed block and the ledger's result of applying it on the builder's state."""

    block: Block
    result: BlockResult
    skipped: tuple[Transaction, ...] = ()
    """Transactions offered but left out (refused by the ledger or over the size budget)."""


@dataclass(frozen=True)
class BlockCheck:
    """``reason`` is None for a valid block, and ``result`` then holds its effect."""

    reason: str | None
    result: BlockResult | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def params_at(genesis: Genesis, pow_difficulty: int) -> ChainParams:
    """The genesis parameters with the difficulty in effect (what Draw, Lottery and
    ``check_payroll`` take); the genesis object itself when nothing changed."""
    p = genesis.params
    if pow_difficulty == p.pow_difficulty:
        return p
    return p.replace(pow_difficulty=pow_difficulty)


def _draft(genesis: Genesis, height: int, cycle: int, time_ms: int, parent_id: bytes,
           winner: Ticket, payload: tuple[Transaction, ...], payroll: tuple[Ticket, ...],
           last_commit: CommitCertificate | None, state_root: bytes) -> Header:
    return Header(genesis.chain_id, height, cycle, time_ms, parent_id, winner,
                  payload_root(payload), payroll_root(payroll), state_root,
                  last_commit_root(last_commit), winner.sponsor_pubkey)


def build_block(state: StateReader, acc: bytes, genesis: Genesis, *, winner: Ticket,
                payroll: Sequence[Ticket] = (), txs: Iterable[Transaction] = (),
                last_commit: CommitCertificate | None, time_ms: int,
                sign: HeaderSigner | bytes, verify_signatures: bool = True) -> Built:
    """Build and sign the block for ``winner`` on the tip of ``state``.

    ``payroll`` is the lineup after the winner in lot order (the caller's lottery gives it;
    it is cut to ``diameter - 1``); ``txs`` come in the order to try them (``Mempool.select``).
    ``sign`` is a :data:`HeaderSigner` or the sponsor's 32-byte secret. Raises InvalidBlock
    if even the empty block is invalid (e.g. a wrong ticket or certificate): that is a bug
    or an attack on the caller, not something to paper over.

    Every signature is checked while building (the mempool does not verify), so a transaction
    with a bad signature is left out like any other refused one instead of making the whole
    proposal invalid. ``verify_signatures=False`` is only for callers whose signatures are
    stand-ins (the simulator).
    """
    signer = secret_header_signer(sign) if isinstance(sign, bytes) else sign
    tip = read_tip(state)
    if tip is None:
        raise InvalidBlock("the state holds no genesis")
    height = tip.height + 1
    t_ms = max(time_ms, tip.time_ms + 1)
    roll = tuple(payroll[: max(0, genesis.params.diameter - 1)])
    # Budget: what the block costs without a payload, then transactions while they fit.
    empty = Block(_draft(genesis, height, winner.cycle, t_ms, tip.block_id, winner, (), roll,
                         last_commit, EMPTY_ROOT), (), roll, last_commit)
    budget = genesis.params.max_block_bytes - block_size(empty) - 64  # proposer sig, heads
    chosen: list[Transaction] = []
    skipped: list[Transaction] = []
    used = 0
    for tx in txs:
        size = len(tx.encoded)
        if tx.chain_id != genesis.chain_id or used + size > budget:
            skipped.append(tx)
            continue
        chosen.append(tx)
        used += size
    result: BlockResult | None = None
    for _ in range(MAX_BUILD_ATTEMPTS):
        payload = tuple(chosen)
        # signed, so that apply_block can check every signature, the header's included
        header = signer(_draft(genesis, height, winner.cycle, t_ms, tip.block_id, winner,
                               payload, roll, last_commit, EMPTY_ROOT))
        try:
            result = apply_block(state, acc, genesis, Block(header, payload, roll, last_commit),
                                 check_state_root=False, verify_signatures=verify_signatures)
            break
        except InvalidTransactionInBlock as exc:
            bad = chosen[exc.tx_index]
            i = exc.tx_index
            # Later transactions of the same sender would now have a nonce gap: drop them too.
            drop = [tx for tx in chosen[i:] if tx.sender_pubkey == bad.sender_pubkey]
            skipped.extend(drop)
            dropped = {id(tx) for tx in drop}
            chosen = [tx for tx in chosen if id(tx) not in dropped]
    if result is None:
        skipped.extend(chosen)
        chosen = []
        payload = ()
        header = signer(_draft(genesis, height, winner.cycle, t_ms, tip.block_id, winner,
                               payload, roll, last_commit, EMPTY_ROOT))
        result = apply_block(state, acc, genesis, Block(header, payload, roll, last_commit),
                             check_state_root=False, verify_signatures=verify_signatures)
    payload = tuple(chosen)
    final = _draft(genesis, height, winner.cycle, t_ms, tip.block_id, winner, payload, roll,
                   last_commit, result.diff.root)
    signed = signer(final)
    block = Block(signed, payload, roll, last_commit)
    if verify_signatures and not signed.verify_sig():
        raise InvalidBlock("the signer does not hold the winner ticket's sponsor key")
    return Built(block, _rebind(result, block.id), tuple(skipped))


def _rebind(result: BlockResult, block_id: bytes) -> BlockResult:
    """The result of the unsigned draft, for the signed block.

    Header fields (state root, signature) do not enter the state, except the tip's block id,
    which lives under an uncommitted key (it cannot be covered by the root its own header
    carries): swap that one entry instead of executing the block a second time.
    """
    if result.block_id == block_id:
        return result
    writes = dict(result.diff.writes)
    writes[KEY_TIP_ID] = BlockIdRecord(block_id).encode()
    diff = replace(result.diff, writes=MappingProxyType(writes))
    return replace(result, diff=diff, block_id=block_id)


def check_block(state: StateReader, acc: bytes, genesis: Genesis, block: Block, *,
                adjusted_now_ms: int | None = None, pow_difficulty: int | None = None,
                verify_signatures: bool = True,
                verified_txs: Container[bytes] | None = None) -> BlockCheck:
    """Objective validity of a proposal on the tip of ``state`` (SPEC 4 "Valid").

    The winner ticket and the payroll must carry work at ``pow_difficulty``, by default the
    difficulty in effect on ``state`` (the parent's state: ``read_pow_difficulty``, which
    follows the retargets). A caller passes one only to override it, e.g. 1 in a simulator
    that models work instead of grinding it. ``verify_signatures=False`` is for callers
    that verified every signature already (or, in the simulator, use fake ones);
    ``verified_txs`` (ids of transactions whose signature the caller verified, e.g. at
    mempool admission) skips only those transactions' signature checks, see
    :func:`~daoli.core.ledger.apply_block`. Never raises for a bad block: the reason comes
    back as text.
    """
    h = block.header
    tip = read_tip(state)
    if tip is None:
        return BlockCheck("the state holds no genesis")
    if h.chain_id != genesis.chain_id:
        return BlockCheck(f"chain id {h.chain_id!r} is not {genesis.chain_id!r}")
    if h.height != tip.height + 1:
        return BlockCheck(f"height {h.height} does not follow the tip {tip.height}")
    if h.parent_id != tip.block_id:
        return BlockCheck("parent_id is not the tip's block id")
    w = h.winner_ticket
    if h.cycle != w.cycle:
        return BlockCheck("cycle is not the winner ticket's draw")
    if h.proposer_pubkey != w.sponsor_pubkey:
        return BlockCheck("the proposer is not the winner ticket's sponsor")
    p = genesis.params
    if adjusted_now_ms is not None:
        # Parent = genesis: SPEC 2's monotonicity rules do not apply (the ledger only asks
        # for time_ms >= genesis_time_ms), so pass no parent time, or a live node would
        # refuse a block 1 that every syncing node accepts.
        parent_time = None if tip.cycle is None else tip.time_ms
        why = check_block_time(block, tip.cycle, parent_time, adjusted_now_ms, p.max_drift_ms)
        if why is not None:
            return BlockCheck(why)
    # Ticket signatures are left to apply_block below, which verifies them anyway.
    if pow_difficulty is None:
        try:
            pow_difficulty = read_pow_difficulty(state)
        except (InvalidBlock, DecodeError) as exc:
            return BlockCheck(f"corrupt ledger state: {exc}")
    why = check_payroll(w, block.payroll, params_at(genesis, pow_difficulty),
                        genesis.genesis_time_ms, chain_id=genesis.chain_id, verify_sig=False)
    if why is not None:
        return BlockCheck(why)
    try:
        result = apply_block(state, acc, genesis, block, check_state_root=True,
                             verify_signatures=verify_signatures, verified_txs=verified_txs)
    except InvalidBlock as exc:
        return BlockCheck(str(exc))
    return BlockCheck(None, result)


def check_block_time(block: Block, parent_cycle: int | None, parent_time_ms: int | None,
                     adjusted_now_ms: int, max_drift_ms: int) -> str | None:
    """The time rules of a proposal (SPEC 2), the only subjective part of its validity: the
    reason it breaks one, or None. ``parent_cycle``/``parent_time_ms`` are None (or the cycle
    negative) when the parent is the genesis.

    Kept apart from :func:`check_block` so that a caller caching objective validity per block
    id (the simulator's shared ledger) still judges time on each node's own adjusted clock.
    """
    h = block.header
    if parent_cycle is not None and parent_cycle < 0:
        parent_cycle = parent_time_ms = None
    why = check_header_time(h.cycle, h.time_ms, parent_cycle, parent_time_ms, adjusted_now_ms,
                            max_drift_ms)
    if why is not None:
        return why
    # The header's time and cycle are separate fields, so the future rule on the header
    # alone does not bound the draw: a proposer could win with a ticket mined for a cycle
    # far ahead and push every later draw (cycle > parent's) out of reach, halting the
    # chain. The winner ticket's signed time lies inside its draw's window, so bounding
    # it like the header's bounds the cycle.
    w = h.winner_ticket
    if w.time_ms > adjusted_now_ms + max_drift_ms:
        return (f"winner ticket time {w.time_ms} is more than {max_drift_ms} "
                "ms ahead of adjusted time")
    return None


def block_problem(state: StateReader, acc: bytes, genesis: Genesis, block: Block,
                  **kw: object) -> str | None:
    """Just the reason of :func:`check_block` (None if valid)."""
    return check_block(state, acc, genesis, block, **kw).reason  # type: ignore[arg-type]
