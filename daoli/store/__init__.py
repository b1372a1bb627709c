"""store layer: the node's LMDB block and state store (SPEC 8)."""

from daoli.store.blockstore import BlockStore, StateDiffLike

__all__ = ["BlockStore", "StateDiffLike"]
