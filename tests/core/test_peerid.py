"""``daoli.core.peerid`` computes the same peer ids as libp2p itself, without importing it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

from daoli.core.crypto import pubkey_from_secret
from daoli.core.peerid import peer_id_bytes_of_pubkey, peer_id_of_pubkey, peer_id_of_secret
from daoli.errors import InvalidKey

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

secrets_ = st.integers(1, SECP256K1_N - 1).map(lambda n: n.to_bytes(32, "big"))


@settings(max_examples=150, deadline=None)
@given(secrets_)
def test_same_peer_id_as_libp2p(secret: bytes) -> None:
    pair = create_new_key_pair(secret)
    expected = ID.from_pubkey(pair.public_key)
    assert peer_id_of_secret(secret) == expected.to_base58()
    pubkey = pubkey_from_secret(secret)
    assert pair.public_key.to_bytes() == pubkey
    assert peer_id_of_pubkey(pubkey) == str(expected)
    assert peer_id_bytes_of_pubkey(pubkey) == expected.to_bytes()
    assert peer_id_of_secret(secret).startswith("16Uiu2")


def test_known_vector() -> None:
    expected = "16Uiu2HAmEWQnHq2jLKJypwVnVoQeFCULuyop6atvq2eWjYSUjzNi"
    assert peer_id_of_secret(b"\x01" * 32) == expected


@pytest.mark.parametrize("bad", [b"", b"\x02" * 32, b"\x04" + b"\x01" * 64, b"\x02" + b"\x00" * 32])
def test_refuses_what_is_not_a_compressed_key(bad: bytes) -> None:
    with pytest.raises(InvalidKey):
        peer_id_of_pubkey(bad)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 32, SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31])
def test_refuses_bad_secrets(bad: bytes) -> None:
    with pytest.raises(InvalidKey):
        peer_id_of_secret(bad)
