"""An in-memory chain view for machines that need no store: the simulator and tests."""

from __future__ import annotations

from collections.abc import Callable

from daoli.core.address import address_bytes_of
from daoli.core.block import Block
from daoli.core.blockbuild import BlockCheck, check_block
from daoli.core.genesis import Genesis
from daoli.core.ledger import active_trustees, genesis_diff, read_account, read_pow_difficulty
from daoli.core.lottery import lot, seed
from daoli.core.state import MemoryState
from daoli.machine.ports import UNKNOWN_PARENT

Luck = tuple[int, bytes]


class MemoryChain:
    """An in-memory :class:`~daoli.machine.ports.ChainView`: block validity and post-block
    states, computed once per block id, shareable by many machines (the simulator's nodes
    all use one, since validity depends only on the parent state and the block).

    ``check_difficulty`` is passed to ``check_block``: None checks work at the difficulty in
    effect (real grinding), 1 skips it (modelled work).
    """

    def __init__(self, genesis: Genesis, check_difficulty: int | None = None,
                 address: Callable[[bytes], bytes] | None = None) -> None:
        self.genesis = genesis
        self.check_difficulty = check_difficulty
        self._address = address or address_bytes_of
        g = MemoryState()
        g.apply(genesis_diff(genesis))
        self.states: dict[bytes, MemoryState] = {genesis.id: g}
        self.state_height: dict[bytes, int] = {genesis.id: 0}
        self.difficulty: dict[bytes, int] = {genesis.id: read_pow_difficulty(g)}
        """block id -> the proof-of-work difficulty in effect on top of that block."""
        self.voters: dict[bytes, tuple[bytes, ...]] = {genesis.id: tuple(active_trustees(g))}
        self.nonces: dict[bytes, dict[bytes, int]] = {}
        """block id -> sender -> next nonce on top of that block: filled lazily by the
        mempools of every node on that tip (one ledger read per sender and tip)."""
        self.blocks: dict[bytes, Block] = {}
        self.checks: dict[bytes, BlockCheck] = {}
        self.lucks: dict[bytes, Luck] = {}
        self.applies = 0

    def add(self, block: Block) -> bytes:
        bid = block.id
        if bid not in self.blocks:
            self.blocks[bid] = block
            w = block.header.winner_ticket
            self.lucks[bid] = (w.cycle, lot(seed(w.parent_id, w.cycle), w.miner_pubkey))
        return bid

    # --- ChainView ---------------------------------------------------------------------------

    def check(self, block: Block, trust_signatures: bool = False) -> BlockCheck:
        bid = self.add(block)
        c = self.checks.get(bid)
        if c is None:
            parent = self.states.get(block.header.parent_id)
            if parent is None:
                return BlockCheck(UNKNOWN_PARENT)  # not cached: the parent may come later
            self.applies += 1
            c = check_block(parent, parent.acc, self.genesis, block, verify_signatures=False,
                            pow_difficulty=self.check_difficulty)
            self.checks[bid] = c
        return c

    def state_after(self, bid: bytes) -> MemoryState:
        st = self.states.get(bid)
        if st is None:
            block = self.blocks[bid]
            chk = self.checks[bid]
            assert chk.result is not None
            st = self.states[block.header.parent_id].copy()
            st.apply(chk.result.diff)
            self.states[bid] = st
            self.state_height[bid] = block.height
            self.voters[bid] = tuple(chk.result.active_trustees)
            self.difficulty[bid] = chk.result.pow_difficulty
        return st

    def voters_after(self, bid: bytes) -> tuple[bytes, ...]:
        v = self.voters.get(bid)
        if v is None:
            self.state_after(bid)
            v = self.voters[bid]
        return v

    def difficulty_after(self, bid: bytes) -> int:
        d = self.difficulty.get(bid)
        if d is None:
            self.state_after(bid)
            d = self.difficulty[bid]
        return d

    def next_nonce(self, bid: bytes, pubkey: bytes) -> int:
        nonces = self.nonces.get(bid)
        if nonces is None:
            nonces = self.nonces[bid] = {}
        n = nonces.get(pubkey)
        if n is None:
            n = nonces[pubkey] = read_account(self.state_after(bid),
                                              self._address(pubkey)).nonce
        return n

    def prune(self, below_height: int) -> None:
        """Forget states no node can build on any more (heights < ``below_height``)."""
        dead = [b for b, h in self.state_height.items() if h < below_height]
        for b in dead:
            del self.states[b]
            del self.state_height[b]
            self.difficulty.pop(b, None)
            self.nonces.pop(b, None)


__all__ = ["MemoryChain"]
