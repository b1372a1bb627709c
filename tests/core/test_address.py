"""Bech32m ``dlc1...`` addresses: exact round trip, BIP-350 known answers for the checksum,
and an AddressError naming the problem (prefix, case, character, length, checksum) for every
kind of mistyped address -- never another exception."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core import address as addr
from daoli.core.address import (
    ADDRESS_LEN,
    HRP,
    address_bytes_of,
    address_of,
    decode_address,
    encode_address,
)
from daoli.core.hashing import sha256
from daoli.errors import AddressError
from tests.core.strategies import KEYS, pubkeys

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

# BIP-350 "valid Bech32m" test vectors (https://github.com/bitcoin/bips, bip-0350.mediawiki).
BIP350_VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
# BIP-173 valid *Bech32* strings: same polymod, other constant, so never valid Bech32m.
BIP173_VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
# BIP-173 segwit v0 example: program 751e76e8... behind witness version 'q'.
P2WPKH = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
P2WPKH_PROGRAM = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")

address_payloads = st.binary(min_size=ADDRESS_LEN, max_size=ADDRESS_LEN)


def checksum_ok(text: str, const: int) -> bool:
    s = text.lower()
    pos = s.rfind("1")
    data = [CHARSET.index(c) for c in s[pos + 1:]]
    return addr._polymod(addr._hrp_expand(s[:pos]) + data) == const


def with_checksum(hrp: str, data: list[int]) -> str:
    """A string with a *correct* Bech32m checksum over any payload (to test length checks)."""
    values = addr._hrp_expand(hrp) + data
    polymod = addr._polymod([*values, 0, 0, 0, 0, 0, 0]) ^ addr._BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


# --- known answers for the primitives ------------------------------------------------------


@pytest.mark.parametrize("vector", BIP350_VALID_BECH32M)
def test_bip350_bech32m_vectors(vector: str) -> None:
    assert checksum_ok(vector, addr._BECH32M_CONST)
    assert not checksum_ok(vector, 1)  # not valid as plain Bech32


@pytest.mark.parametrize("vector", BIP173_VALID_BECH32)
def test_bip173_bech32_vectors_are_not_bech32m(vector: str) -> None:
    assert checksum_ok(vector, 1)
    assert not checksum_ok(vector, addr._BECH32M_CONST)


def test_polymod_and_charset_known_answers() -> None:
    assert addr._BECH32M_CONST == 0x2BC830A3
    assert addr._CHARSET == CHARSET
    assert addr._polymod([0]) == 32
    assert addr._polymod([1]) == 33
    assert addr._polymod([0, 1]) == 1025
    # BIP-350 vector "abcdef1l7aum6...": its data part is the values 31, 30, ..., 0
    data = "l7aum6echk45nj3s0wdvt2fg8x9yrzpq"
    assert [CHARSET.index(c) for c in data] == list(range(31, -1, -1))


def test_convertbits_known_answer() -> None:
    words = [CHARSET.index(c) for c in P2WPKH[4:-6]]
    assert bytes(addr._convertbits(words, 5, 8, False)) == P2WPKH_PROGRAM
    assert addr._convertbits(P2WPKH_PROGRAM, 8, 5, True) == words


def test_pinned_address() -> None:
    """Pinned output (computed once with this code; the primitives are checked above) so any
    change to the address format shows up as a failing test."""
    assert encode_address(bytes(20)) == with_checksum(HRP, [0] * 32)
    assert encode_address(P2WPKH_PROGRAM).startswith("dlc1w508d6qejxtdg4y5r3zarvary0c5xw7k")
    assert decode_address(encode_address(P2WPKH_PROGRAM)) == P2WPKH_PROGRAM


# --- round trip ---------------------------------------------------------------------------


@given(address_payloads)
@settings(max_examples=200, deadline=None)
def test_round_trip(raw: bytes) -> None:
    text = encode_address(raw)
    assert text.startswith("dlc1")
    assert len(text) == 3 + 1 + 32 + 6
    assert set(text[4:]) <= set(CHARSET)
    assert decode_address(text) == raw
    assert decode_address(text.upper()) == raw  # BIP-173: all-uppercase is the same address


@given(pubkeys())
@settings(max_examples=20, deadline=None)
def test_address_of_a_public_key(pubkey: bytes) -> None:
    assert address_bytes_of(pubkey) == sha256(pubkey)[:20]
    assert decode_address(address_of(pubkey)) == address_bytes_of(pubkey)


def test_distinct_keys_have_distinct_addresses() -> None:
    assert len({address_of(k.pubkey) for k in KEYS}) == len(KEYS)


# --- every kind of mistake, with a message that says which ----------------------------------


@given(address_payloads, st.data())
@settings(max_examples=200, deadline=None)
def test_any_single_substitution_is_a_checksum_error(raw: bytes, data: st.DataObject) -> None:
    text = encode_address(raw)
    i = data.draw(st.integers(4, len(text) - 1))
    c = data.draw(st.sampled_from([c for c in CHARSET if c != text[i]]))
    with pytest.raises(AddressError, match="checksum"):
        decode_address(text[:i] + c + text[i + 1:])


@given(address_payloads, st.data())
@settings(max_examples=100, deadline=None)
def test_adjacent_transposition_is_a_checksum_error(raw: bytes, data: st.DataObject) -> None:
    text = encode_address(raw)
    i = data.draw(st.integers(4, len(text) - 2))
    if text[i] != text[i + 1]:
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        with pytest.raises(AddressError, match="checksum"):
            decode_address(swapped)


@pytest.mark.parametrize("text", [
    P2WPKH,
    P2WPKH.upper(),
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "dl1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
    "dlcx1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
])
def test_wrong_prefix(text: str) -> None:
    with pytest.raises(AddressError, match="prefix"):
        decode_address(text)


def test_other_networks_addresses_of_the_same_bytes() -> None:
    raw = bytes(range(20))
    for hrp in ("bc", "tb", "dlct", "cosmos"):
        other = with_checksum(hrp, addr._convertbits(raw, 8, 5, True))
        with pytest.raises(AddressError, match=f"prefix '{hrp}'"):
            decode_address(other)


@pytest.mark.parametrize("text", ["", "dlc", "qqqqqqqq", "1qqqqqqq"])
def test_missing_prefix(text: str) -> None:
    with pytest.raises(AddressError, match="prefix"):
        decode_address(text)


@pytest.mark.parametrize("n_bytes", [0, 1, 16, 19, 21, 32])
def test_wrong_payload_length_with_a_valid_checksum(n_bytes: int) -> None:
    text = with_checksum(HRP, addr._convertbits(bytes(n_bytes), 8, 5, True))
    with pytest.raises(AddressError, match=f"holds {n_bytes} bytes, expected 20"):
        decode_address(text)


@pytest.mark.parametrize("n_chars", [1, 33, 35])
def test_payload_with_leftover_bits(n_chars: int) -> None:
    """Lengths no byte string encodes to: still an AddressError (it says 'bad padding')."""
    with pytest.raises(AddressError, match="padding"):
        decode_address(with_checksum(HRP, [0] * n_chars))


@pytest.mark.parametrize("text", ["dlc1", "dlc1qqqqq", "dlc1lqfn3"])
def test_too_short(text: str) -> None:
    with pytest.raises(AddressError, match="too short"):
        decode_address(text)


def test_truncated_or_extended_addresses() -> None:
    text = encode_address(bytes(range(20)))
    for bad in (text[:-1], text[:-6], text + "q", text[:10]):
        with pytest.raises(AddressError, match=r"checksum|too short"):
            decode_address(bad)


def test_mixed_case() -> None:
    text = encode_address(bytes(range(20)))
    for bad in (text[:5] + text[5].upper() + text[6:] if text[5].isalpha() else "dLc1q",
                "DLC1" + text[4:], text[:-1] + text[-1].upper() if text[-1].isalpha() else "Dlc"):
        with pytest.raises(AddressError, match="mixed case"):
            decode_address(bad)


@pytest.mark.parametrize("char", ["b", "i", "o", " ", "-", "é", "\x00", "B"])
def test_invalid_characters(char: str) -> None:
    text = encode_address(bytes(range(20)))
    bad = text[:10] + char + text[11:]
    if char == "B":
        bad = bad.upper()
    with pytest.raises(AddressError, match=re.escape(f"character {char.lower()!r} is not bech32")):
        decode_address(bad)


def test_a_second_separator_is_an_error() -> None:
    text = encode_address(bytes(range(20)))
    with pytest.raises(AddressError):
        decode_address(text[:10] + "1" + text[11:])


def test_non_text_is_an_error() -> None:
    for bad in (None, b"dlc1qqqq", 5, ["dlc1"]):
        with pytest.raises(AddressError, match="must be text"):
            decode_address(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 19, 21, 33])
def test_encode_rejects_wrong_lengths(n: int) -> None:
    with pytest.raises(AddressError, match=f"got {n}"):
        encode_address(bytes(n))


address_like = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=CHARSET + "1dlcDLC", max_size=60),
    st.text(alphabet=CHARSET, max_size=50).map(lambda s: "dlc1" + s),
)


@given(address_like)
@settings(max_examples=300, deadline=2_000)
def test_arbitrary_text_is_an_address_or_an_address_error(text: str) -> None:
    try:
        raw = decode_address(text)
    except AddressError as exc:
        assert "address" in str(exc)
        return
    assert len(raw) == ADDRESS_LEN
    assert encode_address(raw) == text.lower()
