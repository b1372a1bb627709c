"""secp256k1 keys and domain-separated, 64-byte compact, low-S ECDSA signatures.

Signing bytes always start with a domain tag and the chain id (SPEC section 1), so a
signature made for one purpose or one chain can never be replayed as another. The message
signed is SHA-256 of those bytes. libsecp256k1 only produces low-S signatures and its verify
rejects high-S ones, which makes signatures non-malleable.

The hot path (block validation) calls libsecp256k1 through coincurve's cffi bindings
directly: going through DER, as ``PublicKey.verify`` does, costs a conversion per signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from coincurve import PrivateKey, PublicKey
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from daoli.core.encoding import encode
from daoli.errors import InvalidKey, SignatureError

TAG_TX = b"daoli/tx/v1"
TAG_TICKET = b"daoli/ticket/v1"
TAG_VOTE = b"daoli/vote/v1"
TAG_HEADER = b"daoli/header/v1"
TAG_RECEIPT = b"daoli/receipt/v1"

PUBKEY_LEN = 33
SIG_LEN = 64
SECRET_LEN = 32

_CTX = GLOBAL_CONTEXT.ctx
_BYTES_LIKE = (bytes, bytearray, memoryview)


def signing_bytes(tag: bytes, chain_id: str, fields: Iterable[Any]) -> bytes:
    """``tag || CBOR(chain_id) || CBOR([fields...])``: what a signature commits to."""
    return tag + encode(chain_id) + encode(list(fields))


def _private_key(secret: bytes) -> PrivateKey:
    """coincurve pads short secrets (b"\x01" becomes the key 1): insist on 32 bytes."""
    if type(secret) is not bytes or len(secret) != SECRET_LEN:
        raise InvalidKey(f"a secret key is {SECRET_LEN} bytes")
    try:
        return PrivateKey(secret)
    except Exception as exc:  # noqa: BLE001 - coincurve raises ValueError or TypeError
        raise InvalidKey(f"invalid secp256k1 secret key: {exc}") from None


def pubkey_from_secret(secret: bytes) -> bytes:
    """The 33-byte compressed public key of a 32-byte secret."""
    return _private_key(secret).public_key.format(compressed=True)


def check_pubkey(pubkey: bytes) -> bytes:
    """Return ``pubkey`` if it is a valid compressed secp256k1 point, else raise InvalidKey."""
    if type(pubkey) is not bytes or len(pubkey) != PUBKEY_LEN or pubkey[0] not in (2, 3):
        raise InvalidKey("expected a 33-byte compressed secp256k1 public key")
    try:
        PublicKey(pubkey)
    except Exception:  # noqa: BLE001
        raise InvalidKey("public key is not a point on secp256k1") from None
    return pubkey


def sign(secret: bytes, message: bytes) -> bytes:
    """Compact 64-byte low-S signature over SHA-256(message)."""
    digest = hashlib.sha256(message).digest()
    raw = ffi.new("secp256k1_ecdsa_signature *")
    key = _private_key(secret)
    if not lib.secp256k1_ecdsa_sign(_CTX, raw, digest, key.secret, ffi.NULL, ffi.NULL):
        raise SignatureError("signing failed")
    out = ffi.new("unsigned char[64]")
    lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, raw)
    return bytes(ffi.buffer(out, SIG_LEN))


def verify(pubkey: bytes, sig: bytes, message: bytes) -> bool:
    """True iff ``sig`` is a valid low-S compact signature by ``pubkey`` over SHA-256(message).

    Never raises: malformed keys or signatures simply do not verify.
    """
    if type(pubkey) is not bytes or type(sig) is not bytes:  # the hot path: plain bytes
        if not isinstance(pubkey, _BYTES_LIKE) or not isinstance(sig, _BYTES_LIKE):
            return False
        pubkey, sig = bytes(pubkey), bytes(sig)
    if len(sig) != SIG_LEN or len(pubkey) != PUBKEY_LEN:
        return False
    raw_sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, raw_sig, sig):
        return False
    raw_pub = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, raw_pub, pubkey, PUBKEY_LEN):
        return False
    digest = hashlib.sha256(message).digest()
    return bool(lib.secp256k1_ecdsa_verify(_CTX, raw_sig, digest, raw_pub))


def require_valid(pubkey: bytes, sig: bytes, message: bytes, what: str) -> None:
    if not verify(pubkey, sig, message):
        raise SignatureError(f"{what}: bad signature")
