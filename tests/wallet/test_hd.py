"""BIP32 against the official test vectors, BIP39 handling, and the DaoliCloud path."""

from __future__ import annotations

import hashlib

import pytest
from eth_keys import keys
from hypothesis import given
from hypothesis import strategies as st
from mnemonic import Mnemonic

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.errors import WalletError
from daoli.wallet.hd import (
    HARDENED,
    default_path,
    derive_path,
    master_key,
    new_mnemonic,
    normalize_mnemonic,
    parse_path,
    secret_from_mnemonic,
)

# BIP32 test vector 1: (path, chain code, private key).
SEED1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
VECTOR1 = [
    ("m", "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508",
     "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35"),
    ("m/0H", "47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141",
     "edb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea"),
    ("m/0H/1", "2a7857631386ba23dacac34180dd1983734e444fdbf774041578e9b6adb37c19",
     "3c6cb8d0f6a264c91ea8b5030fadaa8e538b020f0a387421a12de9319dc93368"),
    ("m/0H/1/2H", "04466b9cc8e161e966409ca52986c584f07e9dc81f735db683c3ff6ec7b1503f",
     "cbce0d719ecf7431d88e6a89fa1483e02e35092af60c042b1df2ff59fa424dca"),
    ("m/0H/1/2H/2", "cfb71883f01676f587d023cc53a35bc7f88f724b1f8c2892ac1275ac822a3edd",
     "0f479245fb19a38a1954c5c7c0ebab2f9bdfd96a17563ef28a6a4b1a2a764ef4"),
    ("m/0H/1/2H/2/1000000000",
     "c783e67b921d2beb8f6b389cc646d7263b4145701dadd2161548a8b078e65e9e",
     "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8"),
]
# BIP32 test vector 2.
SEED2 = bytes.fromhex(
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
    "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
)
VECTOR2 = [
    ("m", "60499f801b896d83179a4374aeb7822aaeaceaa0db1f85ee3e904c4defbd9689",
     "4b03d6fc340455b363f51020ad3ecca4f0850280cf436c70c727923f6db46c3e"),
    ("m/0", "f0909affaa7ee7abe5dd4e100598d4dc53cd709d5a5c2cac40e7412f232f7c9c",
     "abe74a98f6c7eabee0428f53798f0ab8aa1bd37873999041703c742f15ac7e1e"),
    ("m/0/2147483647H", "be17a268474a6bb9c61e1d720cf6215e2a88c5406c4aee7b38547f585c9a37d9",
     "877c779ad9687164e9c2f4f0f4ff0340814392330693ce95a58fe18fd52e6e93"),
    ("m/0/2147483647H/1", "f366f48f1ea9f2d1d3fe958c95ca84ea18e4c4ddb9366c336c927eb246fb38cb",
     "704addf544a06e5ee4bea37098463c23613da32020d604506da8c0518e1da4b7"),
    ("m/0/2147483647H/1/2147483646H",
     "637807030d55d01f9a0cb3a7839515d796bd07706386a6eddf06cc29a65a0e29",
     "f1c7c871a54a804afe328b4c83a1c33b8e5ff48f5087273f04efa83b247d6a2d"),
    ("m/0/2147483647H/1/2147483646H/2",
     "9452b549be8cea3ecb7a84bec10dcfd94afe4d129ebfd3b3cb58eedf394ed271",
     "bb7d39bdb83ecf58f2fd82b6d918341cbef428661ef01ab97c28a4842125ac23"),
]

# Hardhat/Anvil's well-known dev phrase and its first Ethereum key (m/44'/60'/0'/0/0):
# an independent end-to-end check of BIP39 seed + BIP44 path handling.
DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_ETH_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ETH_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# The dev phrase at m/44'/7771'/0'/0/0, pinned when derivation was written.
PINNED_DEV_ADDRESS = "dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq"


@pytest.mark.parametrize(("seed", "path", "chain_code", "secret"),
                         [(SEED1, *v) for v in VECTOR1] + [(SEED2, *v) for v in VECTOR2])
def test_bip32_vectors(seed: bytes, path: str, chain_code: str, secret: str) -> None:
    key = derive_path(seed, path)
    assert key.chain_code.hex() == chain_code
    assert key.secret.hex() == secret


@pytest.mark.parametrize(("seed", "xprv"), [
    (SEED1, "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6Ln"
            "F5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
    (SEED2, "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSp"
            "SBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"),
])
def test_master_matches_serialized_xprv(seed: bytes, xprv: str) -> None:
    if len(seed) == 64:
        # The mnemonic library's BIP32 master serialization is an independent implementation.
        assert Mnemonic("english").to_hd_master_key(seed) == xprv
    key = master_key(seed)
    payload = _b58check_decode(xprv)
    assert payload[13:45] == key.chain_code
    assert payload[46:78] == key.secret


def _b58check_decode(text: str) -> bytes:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for c in text:
        n = n * 58 + alphabet.index(c)
    raw = n.to_bytes(82, "big")
    payload, check = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check
    return payload


def test_known_dev_phrase_gives_known_ethereum_key() -> None:
    secret = secret_from_mnemonic(DEV_PHRASE, "m/44'/60'/0'/0/0")
    assert secret.hex() == DEV_ETH_KEY
    assert keys.PrivateKey(secret).public_key.to_checksum_address() == DEV_ETH_ADDRESS


def test_daoli_path_is_stable() -> None:
    assert default_path() == "m/44'/7771'/0'/0/0"
    assert default_path(5) == "m/44'/7771'/0'/0/5"
    first = secret_from_mnemonic(DEV_PHRASE, default_path())
    again = secret_from_mnemonic("  TEST test\ttest test test test test test test test test junk\n",
                                 default_path())
    assert first == again
    # Pinned so a change to derivation (which would move everyone's funds) fails loudly.
    assert address_of(pubkey_from_secret(first)) == PINNED_DEV_ADDRESS
    assert secret_from_mnemonic(DEV_PHRASE, default_path(1)) != first


def test_parse_path() -> None:
    assert parse_path("m") == []
    assert parse_path("m/44'/7771h/0H/0/7") == [44 + HARDENED, 7771 + HARDENED, HARDENED, 0, 7]
    for bad in ["", "44'/0", "m/x", "m/-1", "m//1", f"m/{HARDENED}", "m/1''",
                # str.isdigit() accepts these, int() then raised a raw ValueError (or, for
                # Arabic-Indic digits, silently accepted them)
                "m/\u00b2", "m/\u0661", "m/" + "1" * 5000, "m/+1", "m/ 1", "m" + "/0" * 300]:
        with pytest.raises(WalletError) as err:
            parse_path(bad)
        assert len(str(err.value)) < 200 and "\n" not in str(err.value)
    with pytest.raises(WalletError):
        default_path(-1)
    with pytest.raises(WalletError):
        default_path(HARDENED)


def test_normalize_mnemonic_errors() -> None:
    phrase = new_mnemonic(bytes(range(32)))
    words = phrase.split()
    assert len(words) == 24
    assert normalize_mnemonic(" ".join(w.upper() for w in words)) == phrase
    with pytest.raises(WalletError, match="23 words"):
        normalize_mnemonic(" ".join(words[:-1]))
    typo = " ".join([*words[:3], "zzzzq", *words[4:]])
    with pytest.raises(WalletError, match="word 4 ") as err:
        normalize_mnemonic(typo)
    assert "zzzzq" not in str(err.value)  # secrets never reach error lines
    swapped = " ".join([words[1], words[0], *words[2:]])
    if swapped != phrase:
        with pytest.raises(WalletError, match="checksum"):
            normalize_mnemonic(swapped)
    with pytest.raises(WalletError):
        new_mnemonic(bytes(16))


@given(st.binary(min_size=32, max_size=32))
def test_mnemonic_round_trips_entropy(entropy: bytes) -> None:
    phrase = new_mnemonic(entropy)
    assert normalize_mnemonic(phrase) == phrase
    assert bytes(Mnemonic("english").to_entropy(phrase)) == entropy
