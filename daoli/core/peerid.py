"""libp2p peer ids of secp256k1 keys, computed without importing libp2p.

``daoli node id`` and the devnet tooling need a node's peer id (to write ``/p2p/<id>``
bootstrap addresses) without paying for ``import libp2p`` (about 1.2 s), and core must stay
pure. The id is fixed by the libp2p peer-id spec, so it can be built by hand:

* the key is the protobuf ``PublicKey { Type = Secp256k1 (2); Data = <33-byte compressed
  key> }``, i.e. ``08 02 12 21 <key>`` (37 bytes);
* keys of at most 42 serialized bytes are inlined with the *identity* multihash
  ``00 <length> <bytes>`` (larger keys would be SHA-256 hashed: never the case here);
* the text form is base58btc of those bytes (``16Uiu2...`` for every secp256k1 key).

``tests/core/test_peerid.py`` checks this against libp2p itself.
"""

from __future__ import annotations

import base58

from daoli.core.crypto import check_pubkey, pubkey_from_secret

KEY_TYPE_SECP256K1 = 2
"""``KeyType.Secp256k1`` in libp2p's crypto.proto."""
IDENTITY_MULTIHASH = 0x00
MAX_INLINE_KEY_LENGTH = 42
"""libp2p inlines serialized keys up to this length (identity multihash) instead of hashing."""


def _protobuf_public_key(pubkey: bytes) -> bytes:
    """``PublicKey{Type: 2, Data: pubkey}`` serialized as protobuf: field 1 varint, field 2
    length-delimited (both lengths fit one varint byte)."""
    return bytes((0x08, KEY_TYPE_SECP256K1, 0x12, len(pubkey))) + pubkey


def peer_id_bytes_of_pubkey(compressed33: bytes) -> bytes:
    """The binary peer id (an identity multihash) of a compressed secp256k1 public key;
    InvalidKey if it is not one (an uncompressed key would give a different id)."""
    pubkey = check_pubkey(compressed33)
    serialized = _protobuf_public_key(pubkey)
    assert len(serialized) <= MAX_INLINE_KEY_LENGTH  # 37 bytes
    return bytes((IDENTITY_MULTIHASH, len(serialized))) + serialized


def peer_id_of_pubkey(compressed33: bytes) -> str:
    """The base58btc peer id (``16Uiu2...``) of a compressed secp256k1 public key."""
    return base58.b58encode(peer_id_bytes_of_pubkey(compressed33)).decode("ascii")


def peer_id_of_secret(secret32: bytes) -> str:
    """The peer id of the libp2p identity whose secp256k1 secret is ``secret32``."""
    return peer_id_of_pubkey(pubkey_from_secret(secret32))


__all__ = ["peer_id_bytes_of_pubkey", "peer_id_of_pubkey", "peer_id_of_secret"]
