"""BIP39 mnemonics and BIP32 private-key derivation for DaoliCloud wallets.

BIP32 is written out here (HMAC-SHA512 and an addition mod n, a few lines) because the
``bip32`` package pins ``coincurve<21`` while libp2p pins ``coincurve==21``; the official
test vectors in tests/wallet/test_hd.py keep it honest.

Keys live at ``m/44'/7771'/0'/0/i`` (BIP44: purpose 44, coin type 7771, account 0, external
chain, address index ``i``). Coin type 7771 is not registered in SLIP-0044; DaoliCloud
chose it so a phrase shared with other coins' wallets never yields the same key. The BIP39
passphrase is always empty, so the 24 words alone restore the wallet.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from mnemonic import Mnemonic

from daoli.core.crypto import pubkey_from_secret
from daoli.errors import WalletError
from daoli.files import quote

HARDENED = 0x8000_0000
COIN_TYPE = 7771
ENTROPY_BYTES = 32  # 256 bits -> 24 words
# Order of the secp256k1 group.
CURVE_N = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141

_WORDS = Mnemonic("english")
_INDEX_RE = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class ExtendedKey:
    """A BIP32 extended private key: the secret plus the chain code that seeds its children."""

    secret: bytes
    chain_code: bytes


def default_path(index: int = 0) -> str:
    """The derivation path of the ``index``-th key of a wallet (the CLI's ``--account``)."""
    if not 0 <= index < HARDENED:
        raise WalletError(f"account index must be in 0..{HARDENED - 1}, got {index}")
    return f"m/44'/{COIN_TYPE}'/0'/0/{index}"


def parse_path(path: str) -> list[int]:
    """``m/44'/7771'/0'/0/0`` -> child indexes; ``'``, ``h`` or ``H`` mark hardened ones."""
    shown = quote(path if len(path) <= 80 else path[:80] + "...")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise WalletError(f"derivation path {shown} must start with 'm'")
    if len(parts) > 256:
        raise WalletError(f"derivation path {shown} has more than 255 levels")
    indexes: list[int] = []
    for part in parts[1:]:
        hardened = part[-1:] in ("'", "h", "H")
        digits = part[:-1] if hardened else part
        # ASCII digits only (str.isdigit accepts '²' and other scripts' digits), and few
        # enough that int() is cheap and within Python's digit limit
        if not _INDEX_RE.fullmatch(digits) or int(digits) >= HARDENED:
            raise WalletError(f"derivation path {shown}: bad component {quote(part[:20])}")
        indexes.append(int(digits) + (HARDENED if hardened else 0))
    return indexes


def master_key(seed: bytes) -> ExtendedKey:
    """BIP32 master key generation from a 16..64-byte seed."""
    if not 16 <= len(seed) <= 64:
        raise WalletError(f"a BIP32 seed holds 16 to 64 bytes, got {len(seed)}")
    digest = hmac.digest(b"Bitcoin seed", seed, hashlib.sha512)
    if not 0 < int.from_bytes(digest[:32], "big") < CURVE_N:
        # Probability below 2**-127; BIP32 says to give up on such a seed.
        raise WalletError("this seed gives an invalid BIP32 master key")
    return ExtendedKey(digest[:32], digest[32:])


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """BIP32 CKDpriv: hardened children hash the parent secret, normal ones its public key."""
    if not 0 <= index <= 0xFFFF_FFFF:
        raise WalletError(f"BIP32 child index out of range: {index}")
    hardened = index >= HARDENED
    data = b"\x00" + parent.secret if hardened else pubkey_from_secret(parent.secret)
    digest = hmac.digest(parent.chain_code, data + index.to_bytes(4, "big"), hashlib.sha512)
    tweak = int.from_bytes(digest[:32], "big")
    child = (tweak + int.from_bytes(parent.secret, "big")) % CURVE_N
    if tweak >= CURVE_N or child == 0:
        # BIP32 says to skip to the next index; a silently different path would be worse
        # for a wallet, and this happens with probability below 2**-127.
        raise WalletError(f"BIP32 child {index} is invalid for this key; use another index")
    return ExtendedKey(child.to_bytes(32, "big"), digest[32:])


def derive_path(seed: bytes, path: str) -> ExtendedKey:
    key = master_key(seed)
    for index in parse_path(path):
        key = derive_child(key, index)
    return key


def new_mnemonic(entropy: bytes) -> str:
    """24 English BIP39 words for 32 bytes of entropy (the caller supplies the randomness)."""
    if len(entropy) != ENTROPY_BYTES:
        raise WalletError(f"expected {ENTROPY_BYTES} bytes of entropy, got {len(entropy)}")
    return _WORDS.to_mnemonic(entropy)


def normalize_mnemonic(text: str) -> str:
    """The canonical form of a typed phrase, or WalletError saying what is wrong.

    The message names the position of an unknown word, never the word, because error lines
    end up in terminals and logs.
    """
    words = text.lower().split()
    if len(words) not in (12, 15, 18, 21, 24):
        raise WalletError(
            f"invalid mnemonic: {len(words)} words, expected 12, 15, 18, 21 or 24"
        )
    known = set(_WORDS.wordlist)
    for position, word in enumerate(words, start=1):
        if word not in known:
            raise WalletError(f"invalid mnemonic: word {position} is not a BIP39 English word")
    phrase = " ".join(words)
    if not _WORDS.check(phrase):
        raise WalletError("invalid mnemonic: checksum mismatch (a word is wrong or misplaced)")
    return phrase


def secret_from_mnemonic(mnemonic: str, path: str) -> bytes:
    """The 32-byte secret at ``path`` under a BIP39 phrase (empty BIP39 passphrase)."""
    seed = Mnemonic.to_seed(normalize_mnemonic(mnemonic), passphrase="")
    return derive_path(seed, path).secret
