"""A bounded, pure transaction pool: what a proposer draws its block payload from.

Pure means the pool never reads the ledger itself: callers pass ``nonce_of`` (the next nonce
the ledger expects from a sender) where it matters, so the node, the simulator and the tests
drive the very same rules. Nothing here is consensus: two nodes may hold different pools;
only the blocks they build must be valid.

Rules (recorded in docs/protocol.md):

* **Admission.** A transaction needs ``fee >= min_fee``, an encoding of at most
  ``MAX_TX_BYTES``, ``nonce_of(sender) <= nonce < nonce_of(sender) + max_per_sender``
  (bounded gaps: a sender cannot park unbounded future transactions), and the pool's chain
  id. Signatures are the caller's job (the network layer verifies before it admits).
* **Replacement.** A transaction with the same (sender, nonce) as a pooled one replaces it
  only if its fee is at least ``replace_bump_percent`` (10 %) higher; anything less would
  let a sender churn the pool (and the gossip) for free.
* **Eviction.** When admitting would exceed ``max_bytes`` or ``max_txs``, the pool evicts
  the lowest-priority *last* transaction of some sender (evicting a middle one would leave a
  nonce gap that blocks the rest) while the newcomer has a strictly higher priority; if it
  cannot make room that way, the newcomer is refused.
* **Priority** is the fee per encoded byte (compared exactly by cross-multiplication),
  ties broken by the smaller transaction id, so every pool orders the same set identically.
* **Selection** for a block takes, repeatedly, the highest-priority transaction among each
  sender's *next executable* one (nonce == ``nonce_of(sender)``, then consecutive), within a
  byte budget; a sender whose next transaction does not fit is skipped for this block.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from daoli.core.tx import MAX_TX_BYTES, Transaction

NONCE_GAP = "nonce gap"
"""Leads the reason of a refusal for a missing earlier nonce only: such a transaction may
be held aside until the gap closes (every other check passed)."""
ADDED = "added"
REPLACED = "replaced"

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_TXS = 50_000
DEFAULT_MAX_PER_SENDER = 64
DEFAULT_REPLACE_BUMP_PERCENT = 10


@dataclass(frozen=True)
class AddResult:
    """Outcome of :meth:`Mempool.add`: ``status`` is ``added``, ``replaced`` or ``rejected``.

    ``evicted`` lists what was pushed out to make room (or the replaced transaction).
    """

    status: str
    reason: str = ""
    evicted: tuple[Transaction, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


class _Key:
    """Priority of a pooled transaction: higher fee per byte first, then the smaller id.

    ``__lt__`` means "comes first", so a min-heap of keys pops the best transaction.
    """

    __slots__ = ("fee", "size", "txid")

    def __init__(self, tx: Transaction) -> None:
        self.fee = tx.fee
        self.size = len(tx.encoded)
        self.txid = tx.id

    def __lt__(self, other: _Key) -> bool:
        a = self.fee * other.size
        b = other.fee * self.size
        if a != b:
            return a > b
        return self.txid < other.txid


class _Worst:
    """A sender's tail in an eviction heap: ``__lt__`` means "is evicted first"."""

    __slots__ = ("key", "sender")

    def __init__(self, key: _Key, sender: bytes) -> None:
        self.key = key
        self.sender = sender

    def __lt__(self, other: _Worst) -> bool:
        return other.key < self.key


def _rejected(reason: str) -> AddResult:
    return AddResult("rejected", reason)


class Mempool:
    """Pending transactions by sender and nonce, bounded in count and bytes."""

    def __init__(self, chain_id: str, min_fee: int, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_txs: int = DEFAULT_MAX_TXS, max_per_sender: int = DEFAULT_MAX_PER_SENDER,
                 replace_bump_percent: int = DEFAULT_REPLACE_BUMP_PERCENT) -> None:
        if max_bytes <= 0 or max_txs <= 0 or max_per_sender <= 0 or replace_bump_percent < 0:
            raise ValueError("mempool bounds must be positive")
        self.chain_id = chain_id
        self.min_fee = min_fee
        self.max_bytes = max_bytes
        self.max_txs = max_txs
        self.max_per_sender = max_per_sender
        self.replace_bump_percent = replace_bump_percent
        self._by_sender: dict[bytes, dict[int, Transaction]] = {}
        self._by_id: dict[bytes, Transaction] = {}
        self._tail: dict[bytes, _Key] = {}
        """Priority of each sender's last (highest-nonce) transaction: the eviction
        candidates, kept up to date so a full pool need not rebuild them per newcomer."""
        self._bytes = 0

    # --- inspection --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, txid: object) -> bool:
        return txid in self._by_id

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, txid: bytes) -> Transaction | None:
        return self._by_id.get(txid)

    def transactions(self) -> list[Transaction]:
        """Every pooled transaction, by sender then nonce (a deterministic order)."""
        return [txs[n] for s in sorted(self._by_sender)
                for txs in (self._by_sender[s],) for n in sorted(txs)]

    # --- admission -----------------------------------------------------------------------

    def add(self, tx: Transaction, nonce_of: Callable[[bytes], int]) -> AddResult:
        """Admit ``tx`` if the rules above allow it; never raises for a bad transaction."""
        if tx.chain_id != self.chain_id:
            return _rejected("wrong chain id")
        if tx.id in self._by_id:
            return _rejected("already in the pool")
        if tx.fee < self.min_fee:
            return _rejected(f"fee {tx.fee} is below min_fee {self.min_fee}")
        size = len(tx.encoded)
        if size > MAX_TX_BYTES:
            return _rejected("transaction too large")
        base = nonce_of(tx.sender_pubkey)
        if tx.nonce < base:
            return _rejected(f"nonce {tx.nonce} already used (next is {base})")
        if tx.nonce >= base + self.max_per_sender:
            return _rejected(f"nonce {tx.nonce} is too far ahead (next is {base})")
        pending = self._by_sender.get(tx.sender_pubkey, {})
        old = pending.get(tx.nonce)
        evicted: list[Transaction] = []
        if old is not None:
            if tx.fee * 100 < old.fee * (100 + self.replace_bump_percent):
                return _rejected(f"replacement needs a fee of at least "
                                 f"{-(-old.fee * (100 + self.replace_bump_percent) // 100)}")
            self._remove(old)
            evicted.append(old)
        elif tx.nonce > base and tx.nonce - 1 not in pending:
            return _rejected(f"{NONCE_GAP}: {tx.nonce - 1} is missing")
        room = self._make_room(tx, size)
        if room is None:
            if old is not None:  # put the replaced one back: the pool must not lose it
                self._insert(old)
            return _rejected("pool is full of higher-priority transactions")
        evicted.extend(room)
        self._insert(tx)
        return AddResult(REPLACED if old is not None else ADDED, "", tuple(evicted))

    def _make_room(self, tx: Transaction, size: int) -> list[Transaction] | None:
        if self._bytes + size <= self.max_bytes and len(self._by_id) < self.max_txs:
            return []
        mine = _Key(tx)
        # Refuse a newcomer that cannot beat even the worst tail with one linear pass over
        # cached keys: a full pool must not sort every sender for every hopeless newcomer
        # (that made each refused add cost O(S log S) Python comparisons, ~0.25 s at 50,000
        # senders, a cheap CPU attack for any peer).
        worst: _Key | None = None
        for s, k in self._tail.items():
            if s != tx.sender_pubkey and (worst is None or worst < k):
                worst = k
        if worst is None or not mine < worst:
            return None
        # Candidates: the last transaction of every other sender, worst first.
        tails = [_Worst(k, s) for s, k in self._tail.items() if s != tx.sender_pubkey]
        heapq.heapify(tails)
        victims: list[Transaction] = []
        need_bytes = self._bytes + size - self.max_bytes
        need_count = len(self._by_id) + 1 - self.max_txs
        freed_bytes = 0
        plan: dict[bytes, dict[int, Transaction]] = {}
        while need_bytes > freed_bytes or need_count > len(victims):
            if not tails:
                return None
            top = heapq.heappop(tails)
            if not mine < top.key:
                return None
            sender = top.sender
            txs = plan.setdefault(sender, dict(self._by_sender[sender]))
            victim = txs.pop(max(txs))
            victims.append(victim)
            freed_bytes += len(victim.encoded)
            if txs:
                heapq.heappush(tails, _Worst(_Key(txs[max(txs)]), sender))
        for victim in victims:
            self._remove(victim)
        return victims

    def _insert(self, tx: Transaction) -> None:
        txs = self._by_sender.setdefault(tx.sender_pubkey, {})
        txs[tx.nonce] = tx
        if tx.nonce == max(txs):
            self._tail[tx.sender_pubkey] = _Key(tx)
        self._by_id[tx.id] = tx
        self._bytes += len(tx.encoded)

    def _remove(self, tx: Transaction) -> None:
        txs = self._by_sender[tx.sender_pubkey]
        del txs[tx.nonce]
        if not txs:
            del self._by_sender[tx.sender_pubkey]
            del self._tail[tx.sender_pubkey]
        else:
            last = max(txs)
            if tx.nonce > last:
                self._tail[tx.sender_pubkey] = _Key(txs[last])
        del self._by_id[tx.id]
        self._bytes -= len(tx.encoded)

    # --- after a block ---------------------------------------------------------------------

    def remove(self, txids: Iterable[bytes]) -> int:
        """Drop the given transactions (e.g. ones found invalid); returns how many."""
        n = 0
        for txid in txids:
            tx = self._by_id.get(txid)
            if tx is not None:
                self._remove(tx)
                n += 1
        return n

    def prune(self, nonce_of: Callable[[bytes], int]) -> int:
        """Drop what a new block made stale (nonce below the sender's next); returns how many.

        Call after every finalized block with the new state's ``nonce_of``.
        """
        n = 0
        for sender in sorted(self._by_sender):
            base = nonce_of(sender)
            for nonce in sorted(self._by_sender.get(sender, {})):
                if nonce < base:
                    self._remove(self._by_sender[sender][nonce])
                    n += 1
        return n

    # --- selection ------------------------------------------------------------------------

    def select(self, nonce_of: Callable[[bytes], int], max_bytes: int,
               max_txs: int | None = None) -> list[Transaction]:
        """Executable transactions by priority, in per-sender nonce order, within budgets.

        The result is a proposal, not a promise: the block builder still applies each one
        and skips those the ledger refuses (e.g. a balance spent by an earlier one).
        """
        heap: list[tuple[_Key, bytes, int]] = []
        for sender in sorted(self._by_sender):
            nonce = nonce_of(sender)
            tx = self._by_sender[sender].get(nonce)
            if tx is not None:
                heap.append((_Key(tx), sender, nonce))
        heapq.heapify(heap)
        out: list[Transaction] = []
        used = 0
        limit = len(self._by_id) if max_txs is None else max_txs
        while heap and len(out) < limit:
            _, sender, nonce = heapq.heappop(heap)
            tx = self._by_sender[sender][nonce]
            size = len(tx.encoded)
            if used + size > max_bytes:
                continue  # this sender's chain stops here for this block
            out.append(tx)
            used += size
            nxt = self._by_sender[sender].get(nonce + 1)
            if nxt is not None:
                heapq.heappush(heap, (_Key(nxt), sender, nonce + 1))
        return out
