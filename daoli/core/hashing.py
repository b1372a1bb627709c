"""SHA-256 helpers and the binary Merkle root used for block roots."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of an empty list (SPEC section 5)."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 style root over 32-byte item hashes (the items' ids).

    Leaves and inner nodes are domain-separated (0x00 / 0x01 prefixes) and an odd node is
    promoted rather than duplicated, so the Bitcoin CVE-2012-2459 trick of repeating the last
    transaction to get the same root cannot happen.
    """
    if not leaves:
        return EMPTY_ROOT
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
