"""Bech32m addresses: ``dlc1...`` over the first 20 bytes of SHA-256(compressed pubkey).

Written out (BIP-350's reference algorithm, a few lines) rather than taken from a library
because users need to be told *which* thing is wrong with an address they typed: prefix,
character, length or checksum.
"""

from __future__ import annotations

import hashlib

from daoli.errors import AddressError

HRP = "dlc"
ADDRESS_LEN = 20
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise AddressError("invalid address: wrong length (bad padding)")
    return ret


def address_bytes_of(pubkey: bytes) -> bytes:
    """The 20-byte account key of a compressed public key."""
    return hashlib.sha256(pubkey).digest()[:ADDRESS_LEN]


def encode_address(addr: bytes) -> str:
    if len(addr) != ADDRESS_LEN:
        raise AddressError(f"an address holds {ADDRESS_LEN} bytes, got {len(addr)}")
    data = _convertbits(addr, 8, 5, True)
    values = _hrp_expand(HRP) + data
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return HRP + "1" + "".join(_CHARSET[d] for d in data + checksum)


def address_of(pubkey: bytes) -> str:
    return encode_address(address_bytes_of(pubkey))


def decode_address(text: str) -> bytes:
    """Parse a ``dlc1...`` address to its 20 bytes, saying exactly what is wrong if it fails."""
    if not isinstance(text, str):
        raise AddressError("an address must be text")
    if text.lower() != text and text.upper() != text:
        raise AddressError(f"invalid address {text!r}: mixed case")
    s = text.lower()
    pos = s.rfind("1")
    if pos < 1:
        raise AddressError(f"invalid address {text!r}: expected the prefix '{HRP}1'")
    hrp = s[:pos]
    if hrp != HRP:
        raise AddressError(f"invalid address {text!r}: prefix '{hrp}', expected '{HRP}'")
    bad = [c for c in s[pos + 1 :] if c not in _CHARSET_REV]
    if bad:
        raise AddressError(f"invalid address {text!r}: character {bad[0]!r} is not bech32")
    data = [_CHARSET_REV[c] for c in s[pos + 1 :]]
    if len(data) < 6:
        raise AddressError(f"invalid address {text!r}: too short")
    if _polymod(_hrp_expand(hrp) + data) != _BECH32M_CONST:
        raise AddressError(f"invalid address {text!r}: bad checksum")
    raw = bytes(_convertbits(data[:-6], 5, 8, False))
    if len(raw) != ADDRESS_LEN:
        raise AddressError(
            f"invalid address {text!r}: holds {len(raw)} bytes, expected {ADDRESS_LEN}"
        )
    return raw
