"""The node's :class:`~daoli.machine.ports.ChainView`: block validity and states on its store.

The finalized state lives in LMDB (:class:`~daoli.store.BlockStore`); a block checked on top
of the tip keeps its state as an in-memory overlay (the store's state plus the block's diff)
until the machine finalizes it, when :meth:`StoreChain.commit` writes block, certificate and
diff in one write transaction and forgets the overlays it made stale. Blocks are checked with
real signatures (``check_block(..., verify_signatures=True)``), unlike the simulator's shared
:class:`~daoli.machine.memchain.MemoryChain`.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from daoli.core.address import address_bytes_of
from daoli.core.block import Block
from daoli.core.blockbuild import BlockCheck, check_block
from daoli.core.genesis import Genesis
from daoli.core.ledger import active_trustees, genesis_diff, read_account, read_pow_difficulty
from daoli.core.state import StateDiff
from daoli.core.vote import CommitCertificate
from daoli.errors import StoreError
from daoli.machine.ports import UNKNOWN_PARENT
from daoli.store.blockstore import BlockStore

MAX_CHECKED = 1024
"""Checked blocks (and their overlays) remembered above the tip: proposals of the open
heights; more means a peer is flooding, and the oldest are forgotten (and re-checked if
needed)."""


class StoreView:
    """The state after the store's tip, with its accumulator (what ``build_block`` needs)."""

    def __init__(self, store: BlockStore) -> None:
        self._store = store

    @property
    def acc(self) -> bytes:
        return self._store.state_acc

    def get(self, key: bytes) -> bytes | None:
        return self._store.get(key)


class Overlay:
    """A parent state with one block's writes on top."""

    def __init__(self, base: StoreView | Overlay, diff: StateDiff) -> None:
        self._base = base
        self._writes: Mapping[bytes, bytes | None] = diff.writes
        self.acc = diff.acc

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)


class _EveryId:
    """Every transaction id, as ``verified_txs``: signatures vouched for otherwise (by a
    verified certificate; by the builder that signed them, in a benchmark)."""

    def __contains__(self, _: object) -> bool:
        return True


EVERY_ID = _EveryId()


class StoreChain:
    """``verified_txs`` holds ids of transactions whose signature this node verified already
    (``CachingVerifier.verified_tx_ids``, filled at mempool admission): blocks carrying them
    are checked without verifying those signatures a second time."""

    def __init__(self, store: BlockStore, genesis: Genesis,
                 verified_txs: Container[bytes] | None = None) -> None:
        self.store = store
        self.genesis = genesis
        self.verified_txs = verified_txs
        stored = store.genesis()
        if stored is None:
            store.init_genesis(genesis, genesis_diff(genesis))
        elif stored.id != genesis.id:
            raise StoreError("the store holds another chain's genesis "
                             f"({stored.id.hex()[:16]}, not {genesis.id.hex()[:16]})")
        self._view = StoreView(store)
        self._checks: dict[bytes, BlockCheck] = {}
        self._states: dict[bytes, Overlay] = {}
        self._heights: dict[bytes, int] = {}
        self._nonces: dict[bytes, dict[bytes, int]] = {}

    # --- ChainView -------------------------------------------------------------------------

    def _state(self, block_id: bytes) -> StoreView | Overlay | None:
        if block_id == self.store.tip_id:
            return self._view
        return self._states.get(block_id)

    def check(self, block: Block, trust_signatures: bool = False) -> BlockCheck:
        """The result is cached by block id either way (a trusted check is of a block a
        quorum of trustees certified, and :meth:`commit` reuses it)."""
        bid = block.id
        c = self._checks.get(bid)
        if c is not None:
            return c
        parent = self._state(block.header.parent_id)
        if parent is None:
            return BlockCheck(UNKNOWN_PARENT)  # not cached: the parent may come later
        c = check_block(parent, parent.acc, self.genesis, block, verify_signatures=True,
                        verified_txs=EVERY_ID if trust_signatures else self.verified_txs)
        if len(self._checks) >= MAX_CHECKED:
            oldest = next(iter(self._checks))
            self._forget(oldest)
        self._checks[bid] = c
        self._heights[bid] = block.height
        if c.result is not None:
            self._states[bid] = Overlay(parent, c.result.diff)
        return c

    def state_after(self, block_id: bytes) -> StoreView | Overlay:
        st = self._state(block_id)
        if st is None:
            raise StoreError(f"no state after block {block_id.hex()[:16]}: neither the tip "
                             "nor a block checked valid on it")
        return st

    def voters_after(self, block_id: bytes) -> list[bytes]:
        return active_trustees(self.state_after(block_id))

    def difficulty_after(self, block_id: bytes) -> int:
        return read_pow_difficulty(self.state_after(block_id))

    def next_nonce(self, block_id: bytes, pubkey: bytes) -> int:
        cache = self._nonces.setdefault(block_id, {})
        n = cache.get(pubkey)
        if n is None:
            n = cache[pubkey] = read_account(self.state_after(block_id),
                                             address_bytes_of(pubkey)).nonce
        return n

    # --- finalizing ------------------------------------------------------------------------

    def commit(self, block: Block, cert: CommitCertificate, durable: bool = True) -> None:
        """Write a finalized block (checked valid on the tip) with its certificate;
        ``durable=False`` leaves the flush to disk to a later durable commit."""
        c = self.check(block)
        if c.result is None:
            raise StoreError(f"block {block.id.hex()[:16]} is not valid on the tip: {c.reason}")
        self.store.commit_block(block, cert, c.result.diff, durable=durable)
        height = block.height
        for bid in [b for b, h in self._heights.items() if h <= height]:
            self._forget(bid)
        self._nonces = {}

    def _forget(self, bid: bytes) -> None:
        self._checks.pop(bid, None)
        self._states.pop(bid, None)
        self._heights.pop(bid, None)
        self._nonces.pop(bid, None)


__all__ = ["EVERY_ID", "Overlay", "StoreChain", "StoreView"]
