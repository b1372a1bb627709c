"""secp256k1 keys and signatures: 64-byte compact, low-S, domain- and chain-separated, and a
verify that answers False (never raises) on anything malformed."""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core import crypto
from daoli.core.block import Header
from daoli.core.crypto import (
    SIG_LEN,
    TAG_HEADER,
    TAG_RECEIPT,
    TAG_TICKET,
    TAG_TX,
    TAG_VOTE,
    check_pubkey,
    pubkey_from_secret,
    sign,
    signing_bytes,
    verify,
)
from daoli.core.hashing import sha256
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.vote import PRECOMMIT, Vote
from daoli.errors import InvalidKey, SignatureError
from tests.core.strategies import KEYS, headers, keypairs, tickets, transactions, votes

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Order of the secp256k1 group."""
HALF_N = N // 2
G_COMPRESSED = bytes.fromhex(
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")

TAGS = [TAG_TX, TAG_TICKET, TAG_VOTE, TAG_HEADER, TAG_RECEIPT]
secrets = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))


def high_s(sig: bytes) -> bytes:
    s = int.from_bytes(sig[32:], "big")
    return sig[:32] + (N - s).to_bytes(32, "big")


def test_known_public_keys() -> None:
    assert pubkey_from_secret((1).to_bytes(32, "big")) == G_COMPRESSED
    # (n-1)G = -G: same x, odd y
    assert pubkey_from_secret((N - 1).to_bytes(32, "big")) == b"\x03" + G_COMPRESSED[1:]


@pytest.mark.parametrize("secret", [b"\x00" * 32, N.to_bytes(32, "big"), b"\xff" * 32,
                                    b"\x01" * 33, b""])
def test_invalid_secrets_raise_invalid_key(secret: bytes) -> None:
    with pytest.raises(InvalidKey):
        pubkey_from_secret(secret)
    with pytest.raises(InvalidKey):
        sign(secret, b"m")


@pytest.mark.parametrize("secret", [b"\x01", b"\x01" * 31])
def test_short_secrets_are_not_padded(secret: bytes) -> None:
    with pytest.raises(InvalidKey):
        pubkey_from_secret(secret)
    with pytest.raises(InvalidKey):
        sign(secret, b"m")


def test_check_pubkey() -> None:
    for k in KEYS[:4]:
        assert check_pubkey(k.pubkey) == k.pubkey
    uncompressed_prefix = b"\x04" + KEYS[0].pubkey[1:]
    not_on_curve = b"\x02" + (7).to_bytes(32, "big")  # x^3 + 7 = 350 is not a square mod p
    for bad in (b"", KEYS[0].pubkey[:32], KEYS[0].pubkey + b"\x00", uncompressed_prefix,
                not_on_curve, b"\x02" + b"\xff" * 32, bytearray(KEYS[0].pubkey)):
        with pytest.raises(InvalidKey):
            check_pubkey(bad)  # type: ignore[arg-type]


@given(secret=secrets, message=st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_signatures_are_64_byte_low_s_and_verify(secret: bytes, message: bytes) -> None:
    pub = pubkey_from_secret(secret)
    sig = sign(secret, message)
    assert len(sig) == SIG_LEN
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    assert 0 < r < N
    assert 0 < s <= HALF_N, "signatures must be low-S"
    assert verify(pub, sig, message)
    assert sign(secret, message) == sig  # RFC 6979: deterministic
    # the high-S twin is a valid ECDSA signature too, but malleable: it must not verify
    assert not verify(pub, high_s(sig), message)
    assert not verify(pub, sig, message + b"\x00")


@given(secret=secrets, message=st.binary(max_size=64), bit=st.integers(0, 64 * 8 - 1))
@settings(max_examples=150, deadline=None)
def test_flipped_signature_bits_do_not_verify(secret: bytes, message: bytes, bit: int) -> None:
    pub = pubkey_from_secret(secret)
    sig = bytearray(sign(secret, message))
    sig[bit // 8] ^= 1 << (bit % 8)
    assert not verify(pub, bytes(sig), message)


@given(secret=secrets, message=st.binary(min_size=1, max_size=64), data=st.data())
@settings(max_examples=100, deadline=None)
def test_flipped_message_or_key_bits_do_not_verify(secret: bytes, message: bytes,
                                                   data: st.DataObject) -> None:
    pub = pubkey_from_secret(secret)
    sig = sign(secret, message)
    i = data.draw(st.integers(0, len(message) * 8 - 1))
    flipped = bytearray(message)
    flipped[i // 8] ^= 1 << (i % 8)
    assert not verify(pub, sig, bytes(flipped))
    j = data.draw(st.integers(0, 33 * 8 - 1))
    key = bytearray(pub)
    key[j // 8] ^= 1 << (j % 8)
    assert not verify(bytes(key), sig, message)  # another point, or no point at all


def test_another_key_does_not_verify() -> None:
    sig = sign(KEYS[0].secret, b"m")
    assert verify(KEYS[0].pubkey, sig, b"m")
    assert not any(verify(k.pubkey, sig, b"m") for k in KEYS[1:])


@pytest.mark.parametrize(("signed_as", "checked_as"), list(permutations(TAGS, 2)),
                         ids=lambda t: t.decode())
def test_a_signature_for_one_domain_is_void_in_another(signed_as: bytes,
                                                       checked_as: bytes) -> None:
    fields = [1, 2, KEYS[0].pubkey, b"x"]
    sig = sign(KEYS[0].secret, signing_bytes(signed_as, "daoli-devnet", fields))
    assert verify(KEYS[0].pubkey, sig, signing_bytes(signed_as, "daoli-devnet", fields))
    assert not verify(KEYS[0].pubkey, sig, signing_bytes(checked_as, "daoli-devnet", fields))


def test_signing_bytes_layout() -> None:
    expected = b"daoli/tx/v1" + b"\x61c" + b"\x82\x01\x41\x02"
    assert signing_bytes(TAG_TX, "c", [1, b"\x02"]) == expected
    assert len(set(TAGS)) == len(TAGS)
    assert all(t.startswith(b"daoli/") and t.endswith(b"/v1") for t in TAGS)


@given(st.data())
@settings(max_examples=25, deadline=None)
def test_signed_objects_verify_and_break_on_any_change(data: st.DataObject) -> None:
    for obj in (data.draw(transactions(signed=True)), data.draw(tickets(signed=True)),
                data.draw(votes(signed=True)), data.draw(headers(signed=True))):
        assert obj.verify_sig()
        sig_field = "proposer_sig" if isinstance(obj, Header) else "sig"
        assert not replace(obj, chain_id=obj.chain_id + "x").verify_sig(), "chain id"
        assert not replace(obj, **{sig_field: high_s(getattr(obj, sig_field))}).verify_sig()
        assert not replace(obj, **{sig_field: b""}).verify_sig()
        assert not replace(obj, **{sig_field: b"\x00" * 64}).verify_sig()
        decoded = type(obj).decode(obj.encode())
        assert decoded.verify_sig()


def test_a_vote_signature_is_not_a_ticket_or_transaction_signature() -> None:
    """Objects with the same signer and look-alike fields still cannot borrow signatures."""
    k = KEYS[0]
    vote = Vote("c", PRECOMMIT, 1, 2, b"\x07" * 32, k.pubkey, 3).signed(k.secret)
    ticket = Ticket("c", 1, 2, b"\x07" * 32, k.pubkey, k.pubkey, 3, 4, vote.sig)
    tx = Transaction("c", k.pubkey, 1, 2, Transfer(b"\x00" * 20, 3), vote.sig)
    assert vote.verify_sig()
    assert not ticket.verify_sig()
    assert not tx.verify_sig()
    assert ticket.signed(k.secret).verify_sig() and tx.signed(k.secret).verify_sig()


@given(votes(signed=True), st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True))
@settings(max_examples=30, deadline=None)
def test_a_signature_is_bound_to_its_chain(vote: Vote, other_chain: str) -> None:
    moved = replace(vote, chain_id=other_chain)
    assert moved.verify_sig() is (other_chain == vote.chain_id)


garbage = st.one_of(st.binary(max_size=100), st.binary(min_size=33, max_size=33),
                    st.binary(min_size=64, max_size=64),
                    st.binary(min_size=32, max_size=32).map(lambda x: b"\x02" + x),
                    st.binary(min_size=32, max_size=32).map(lambda x: b"\x03" + x))


@given(pubkey=garbage, sig=garbage, message=st.binary(max_size=100))
@settings(max_examples=300, deadline=None)
def test_verify_never_raises_on_garbage(pubkey: bytes, sig: bytes, message: bytes) -> None:
    assert verify(pubkey, sig, message) is False


@pytest.mark.parametrize("sig", [
    b"\x00" * 64,                                              # r = s = 0
    b"\x00" * 32 + (1).to_bytes(32, "big"),                    # r = 0
    (1).to_bytes(32, "big") + b"\x00" * 32,                    # s = 0
    N.to_bytes(32, "big") + (1).to_bytes(32, "big"),           # r = n: out of range
    (1).to_bytes(32, "big") + N.to_bytes(32, "big"),           # s = n
    b"\xff" * 64,
    (1).to_bytes(32, "big") + (HALF_N + 1).to_bytes(32, "big"),  # high S
])
def test_degenerate_signatures_do_not_verify(sig: bytes) -> None:
    assert verify(KEYS[0].pubkey, sig, b"m") is False


@pytest.mark.parametrize("convert", [bytearray, memoryview, lambda x: None, lambda x: "x" * len(x)],
                         ids=["bytearray", "memoryview", "None", "str"])
def test_verify_never_raises_on_non_bytes(convert: object) -> None:
    sig = sign(KEYS[0].secret, b"m")
    pub = KEYS[0].pubkey
    assert verify(convert(pub), sig, b"m") in (True, False)  # type: ignore[operator]
    assert verify(pub, convert(sig), b"m") in (True, False)  # type: ignore[operator]


def test_require_valid() -> None:
    sig = sign(KEYS[0].secret, b"m")
    crypto.require_valid(KEYS[0].pubkey, sig, b"m", "test")
    with pytest.raises(SignatureError, match="test: bad signature"):
        crypto.require_valid(KEYS[0].pubkey, sig, b"n", "test")


@given(keypairs(), st.binary(max_size=50))
@settings(max_examples=20, deadline=None)
def test_signature_commits_to_sha256_of_the_message(key: object, message: bytes) -> None:
    """The signed digest is SHA-256(message): coincurve's own verifier, which hashes with
    SHA-256 by default, accepts our compact signature once converted."""
    from coincurve import PublicKey
    from coincurve.utils import sha256 as cc_sha256

    assert cc_sha256(message) == sha256(message)
    sig = sign(key.secret, message)  # type: ignore[attr-defined]
    der = _compact_to_der(sig)
    assert PublicKey(key.pubkey).verify(der, message)  # type: ignore[attr-defined]


def _compact_to_der(sig: bytes) -> bytes:
    def integer(x: bytes) -> bytes:
        x = x.lstrip(b"\x00") or b"\x00"
        if x[0] & 0x80:
            x = b"\x00" + x
        return b"\x02" + bytes([len(x)]) + x

    body = integer(sig[:32]) + integer(sig[32:])
    return b"\x30" + bytes([len(body)]) + body
