"""Why a node drops input: one enum for every layer, from wire bytes to consensus rules.

Each member's value is a stable snake_case string, meant as a metric label
(``drops_total{reason="bad_signature"}``) and as the ``reason`` of a drop effect; never
rename one. ``description`` says what it means in one line; ``is_fault`` says whether an
honest, up-to-date peer can send such input at all:

- ``True``: it cannot (malformed bytes, a bad signature, another chain...). The node lowers
  the sender's peer score.
- ``False``: honest peers send it too, because of latency, clock skew, reordering, races
  or a full pool (a late ticket, a duplicate, a nonce gap...). The node counts it and does
  not punish the sender for it.

The consensus reasons replace the ``R_*`` strings of :mod:`daoli.core.lottery` one for one
(``R_DUPLICATE`` -> ``DUPLICATE``, ``R_BAD_SIG`` -> ``BAD_SIGNATURE``, the others by name).
"""

from __future__ import annotations

import enum


class DropReason(enum.Enum):
    # --- wire: bytes that are not an acceptable message (daoli.core.wire) ----------------
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    NOT_CANONICAL = "not_canonical"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    EMPTY_BATCH = "empty_batch"
    BATCH_TOO_LONG = "batch_too_long"
    DUPLICATE_IN_BATCH = "duplicate_in_batch"
    WRONG_CHAIN = "wrong_chain"
    WRONG_GENESIS = "wrong_genesis"
    UNSOLICITED = "unsolicited"
    STALLED = "stalled"
    RATE_LIMITED = "rate_limited"
    # --- lottery: tickets (daoli.core.lottery) ---------------------------------------------
    WRONG_HEIGHT = "wrong_height"
    WRONG_PARENT = "wrong_parent"
    WRONG_DRAW = "wrong_draw"
    NOT_COMPUTATION_LUCKY = "not_computation_lucky"
    LATE = "late"
    DUPLICATE = "duplicate"
    NO_WORK = "no_work"
    BAD_SIGNATURE = "bad_signature"
    NOT_OPEN = "not_open"
    FUTURE = "future"
    NO_TIP = "no_tip"
    OUTRANKED = "outranked"
    # --- I-BFT: votes, proposals, blocks and sync replies ----------------------------------
    NOT_A_TRUSTEE = "not_a_trustee"
    STALE = "stale"
    INVALID_BLOCK = "invalid_block"
    INVALID_CERTIFICATE = "invalid_certificate"
    UNKNOWN_PARENT = "unknown_parent"
    # --- transactions (daoli.core.mempool, daoli.core.ledger) ------------------------------
    FEE_TOO_LOW = "fee_too_low"
    REPLACEMENT_FEE_TOO_LOW = "replacement_fee_too_low"
    NONCE_USED = "nonce_used"
    NONCE_GAP = "nonce_gap"
    NONCE_TOO_FAR = "nonce_too_far"
    MEMPOOL_FULL = "mempool_full"
    INVALID_TRANSACTION = "invalid_transaction"

    @property
    def description(self) -> str:
        """One line saying what input this reason drops."""
        return _INFO[self][0]

    @property
    def is_fault(self) -> bool:
        """True when an honest, up-to-date peer never sends such input (lower its score)."""
        return _INFO[self][1]


_INFO: dict[DropReason, tuple[str, bool]] = {
    # wire
    DropReason.TOO_LARGE: (
        "a message, frame, block or batch item over its size limit", True),
    DropReason.MALFORMED: (
        "not plain CBOR of the expected shape (fields, types, lengths), a broken frame, "
        "or a ticket's bad key", True),
    DropReason.NOT_CANONICAL: (
        "decodes, but is not the one canonical encoding of what it decodes to", True),
    DropReason.UNKNOWN_TYPE: ("the leading type tag names no wire message", True),
    DropReason.WRONG_TOPIC: (
        "a known message on a topic or protocol it does not belong to", True),
    DropReason.EMPTY_BATCH: ("a batch or request of zero items", True),
    DropReason.BATCH_TOO_LONG: (
        "more items than the batch, reply or requested range allows", True),
    DropReason.DUPLICATE_IN_BATCH: ("one batch carries the same item twice", True),
    DropReason.WRONG_CHAIN: ("carries another chain id than this node's", True),
    DropReason.WRONG_GENESIS: (
        "a peer's status names this chain id with another genesis", True),
    DropReason.UNSOLICITED: (
        "a reply to no request of ours, or not to the one sent under its request id "
        "(other type, heights or block)", True),
    DropReason.STALLED: (
        "a partial frame or request not completed before its deadline", False),
    DropReason.RATE_LIMITED: ("over this node's per-peer budget of messages or bytes", False),
    # lottery
    DropReason.WRONG_HEIGHT: ("for another height than the one open here", False),
    DropReason.WRONG_PARENT: ("for the right height on another parent than our tip", True),
    DropReason.WRONG_DRAW: ("a ticket offered to the draw of another cycle", False),
    DropReason.NOT_COMPUTATION_LUCKY: (
        "a ticket whose own time is outside [start, start + phi] of its draw", True),
    DropReason.LATE: (
        "a ticket that arrived after min(time + delta, start + phi + delta) "
        "(not communication-lucky)", False),
    DropReason.DUPLICATE: (
        "already seen: the same item again, or a second ticket by one miner in one draw",
        False),
    DropReason.NO_WORK: ("a ticket whose proof of work is above the target", True),
    DropReason.BAD_SIGNATURE: ("a signature that does not verify", True),
    DropReason.NOT_OPEN: (
        "a ticket for a draw that started before this node finalized its tip", False),
    DropReason.FUTURE: (
        "too far ahead: a cycle, round or time beyond what this node accepts yet", False),
    DropReason.NO_TIP: ("this node has no finalized tip to judge it against yet", False),
    DropReason.OUTRANKED: (
        "a valid ticket not luckier than the least lucky one kept for its height (full)",
        False),
    # I-BFT
    DropReason.NOT_A_TRUSTEE: ("a vote by a key outside the height's active trustees", True),
    DropReason.STALE: (
        "for a height already finalized here, or a round long past", False),
    DropReason.INVALID_BLOCK: (
        "a block that breaks a validity rule (header, roots, tickets, transactions, "
        "state root)", True),
    DropReason.INVALID_CERTIFICATE: (
        "a commit certificate that does not certify its block with a quorum of valid "
        "precommits", True),
    DropReason.UNKNOWN_PARENT: (
        "a block whose parent this node does not have yet (it syncs first)", False),
    # transactions
    DropReason.FEE_TOO_LOW: ("a transaction fee below min_fee", True),
    DropReason.REPLACEMENT_FEE_TOO_LOW: (
        "same sender and nonce as a pooled transaction without the required fee bump", False),
    DropReason.NONCE_USED: ("a transaction nonce below the sender's next nonce", False),
    DropReason.NONCE_GAP: ("a transaction whose previous nonce is missing", False),
    DropReason.NONCE_TOO_FAR: (
        "a transaction nonce too far beyond the sender's next nonce", False),
    DropReason.MEMPOOL_FULL: (
        "the pool is full of transactions of higher priority", False),
    DropReason.INVALID_TRANSACTION: (
        "a transaction the ledger refuses in the current state (balance, bond, kind)", False),
}
