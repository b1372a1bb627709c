"""Password-protected wallet files: Web3 Secret Storage v3 JSON under ``<home>/wallets/``.

The standard format (scrypt + AES-128-CTR + Keccak MAC, made by ``eth-keyfile``) means any
Web3 tool can decrypt a DaoliCloud key, so users are never locked into this program. Next
to the standard fields each file carries a ``"daoli"`` object (name, ``dlc1...`` address,
public key, derivation path, creation time) so ``list``/``show``/``address`` work without
the password; Web3 tools ignore unknown fields. The standard top-level ``"address"`` field
(a 20-byte Ethereum address) is left out because it is not our address and would mislead.

The mnemonic is never stored: it is shown once at creation and is the user's backup.

Files are 0600 in a 0700 directory and are created atomically without ever replacing an
existing file, so a failed or racing command cannot destroy a key.

Hostile files: every keystore is read through :mod:`daoli.files` (regular files only, at
most :data:`~daoli.files.MAX_KEYSTORE_FILE` bytes, enforced while reading, so a FIFO or a
link to ``/dev/zero`` is refused at once), and its structure is walked field by field with
explicit type checks, so an error names the field (``crypto.kdfparams.salt is missing``)
instead of leaking a Python exception. The KDF costs a file asks for are checked *before*
any KDF runs, against :data:`NORMAL_KDF_LIMITS`: no more memory or work than
``daoli wallet new`` itself spends. ``daoli wallet import --keystore FILE
--allow-costly-kdf`` raises that to :data:`COSTLY_KDF_LIMITS` for one import; the imported
key is re-encrypted with our own KDF, so files under ``<home>/wallets`` always meet the
normal limits.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import stat
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daoli.core.address import address_of
from daoli.core.crypto import SECRET_LEN, check_pubkey, pubkey_from_secret
from daoli.errors import DaoliError, WalletError
from daoli.files import (
    MAX_KEYSTORE_FILE,
    fsync_dir,
    os_error_text,
    parse_json,
    quote,
    read_bytes,
    write_all_and_sync,
)
from daoli.wallet.hd import default_path, new_mnemonic, normalize_mnemonic, secret_from_mnemonic
from daoli.wallet.hd import parse_path as parse_derivation_path

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SUFFIX = ".json"
FORMAT_VERSION = 1
SCRYPT_N = 262144  # eth-keyfile's and geth's standard work factor
SCRYPT_R = 8
SCRYPT_P = 1
LIGHT_SCRYPT_N = 4096  # geth's --lightkdf: for dev nets and tests only
MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class KdfLimits:
    """The most a keystore's KDF may cost before we agree to run it.

    scrypt needs ``128 * r * n`` bytes of memory and ``p`` times that much work; PBKDF2
    costs ``c`` HMAC-SHA256 rounds.
    """

    scrypt_memory: int
    scrypt_p: int
    pbkdf2_rounds: int


NORMAL_KDF_LIMITS = KdfLimits(
    scrypt_memory=128 * SCRYPT_R * SCRYPT_N,  # 256 MiB: what `wallet new` writes
    scrypt_p=SCRYPT_P,
    pbkdf2_rounds=262144,
)
"""What every wallet file must meet: the cost of a keystore ``daoli wallet new`` writes."""

COSTLY_KDF_LIMITS = KdfLimits(scrypt_memory=2 * GIB, scrypt_p=16, pbkdf2_rounds=10_000_000)
"""``wallet import --keystore FILE --allow-costly-kdf``: for that one import only."""

_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True)
class WalletInfo:
    """What can be known about a wallet without its password."""

    name: str
    address: str
    pubkey: bytes
    path: str | None  # BIP32 path for mnemonic wallets; None for imported raw keys
    file: Path
    created: str | None = None  # ISO 8601 UTC, informational

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape every ``daoli wallet`` command uses for a wallet."""
        return {
            "name": self.name,
            "address": self.address,
            "pubkey": self.pubkey.hex(),
            "path": self.path,
            "file": str(self.file),
            "created": self.created,
        }


@dataclass(frozen=True)
class KeystoreCrypto:
    """The validated ``crypto`` section of a v3 keystore."""

    kdf: str  # "scrypt" or "pbkdf2"
    salt: bytes
    n: int
    r: int
    p: int
    c: int
    iv: bytes
    ciphertext: bytes
    mac: bytes

    def to_json(self) -> dict[str, Any]:
        """A clean v3 ``crypto`` object holding exactly the validated values."""
        if self.kdf == "scrypt":
            params: dict[str, Any] = {"dklen": 32, "n": self.n, "r": self.r, "p": self.p,
                                      "salt": self.salt.hex()}
        else:
            params = {"dklen": 32, "c": self.c, "prf": "hmac-sha256", "salt": self.salt.hex()}
        return {"cipher": "aes-128-ctr", "cipherparams": {"iv": self.iv.hex()},
                "ciphertext": self.ciphertext.hex(), "kdf": self.kdf, "kdfparams": params,
                "mac": self.mac.hex()}

    def cost_text(self) -> str:
        if self.kdf == "scrypt":
            return (f"scrypt n={_num(self.n)}, r={_num(self.r)}, p={_num(self.p)} "
                    f"({_size(128 * self.r * self.n)} of memory)")
        return f"pbkdf2 c={_num(self.c, grouped=True)}"

    def exceeds(self, limits: KdfLimits) -> bool:
        if self.kdf == "scrypt":
            return 128 * self.r * self.n > limits.scrypt_memory or self.p > limits.scrypt_p
        return self.c > limits.pbkdf2_rounds

    def limit_text(self, limits: KdfLimits) -> str:
        if self.kdf == "scrypt":
            return f"{_size(limits.scrypt_memory)} of memory and p <= {limits.scrypt_p}"
        return f"c <= {limits.pbkdf2_rounds:,}"


@dataclass(frozen=True)
class WalletMeta:
    """The validated ``daoli`` section: what ``list``/``show`` print without a password."""

    pubkey: bytes
    address: str
    path: str | None
    created: str | None


@dataclass(frozen=True)
class Keystore:
    """A parsed, validated v3 keystore; ``source`` names it in messages."""

    crypto: KeystoreCrypto
    meta: WalletMeta | None
    source: str


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise WalletError(
            f"invalid wallet name {_short(name)}: use 1 to 64 letters, digits, '_' or '-'"
        )
    return name


# ----- reading and checking keystores ------------------------------------------------------


class _Corrupt(Exception):
    """A structural problem; the message names the field (``crypto.kdfparams.salt ...``)."""


def parse_keystore(doc: Any, source: str, *, limits: KdfLimits = NORMAL_KDF_LIMITS,
                   require_meta: bool = True, cost_hint: str = "") -> Keystore:
    """Walk a decoded keystore with explicit type checks; WalletError names the bad field.

    ``source`` is how messages name the file (``wallet file '...'``). The KDF's cost is
    checked against ``limits`` here, before anyone can run it; ``cost_hint`` is appended
    to that message (how to get past it, where there is a way).
    """
    try:
        if not isinstance(doc, dict):
            raise _Corrupt("not a keystore (the JSON is not an object)")
        version = _field(doc, "version", "", int)
        if version != 3:
            raise _Corrupt(f"version is {version}, not 3 (only Web3 Secret Storage v3 "
                           "keystores are supported)")
        crypto = _crypto(doc)
        meta: WalletMeta | None = None
        if "daoli" in doc:
            meta = _meta(doc)
        elif require_meta:
            raise WalletError(
                f"{source} has no 'daoli' section (a keystore made by another tool?): "
                "import it with 'daoli wallet import NAME --keystore FILE'")
    except _Corrupt as exc:
        raise WalletError(f"{source} is corrupt: {exc}") from None
    if crypto.exceeds(limits):
        raise WalletError(f"{source} asks for {crypto.cost_text()}; the limit is "
                          f"{crypto.limit_text(limits)}{cost_hint}")
    return Keystore(crypto, meta, source)


def read_keystore_file(path: Path | str, *, allow_costly_kdf: bool = False) -> Keystore:
    """A keystore to import (ours, or geth's / eth-keyfile's without a ``daoli`` section).

    Read with a size limit, regular files only; its KDF is held to
    :data:`NORMAL_KDF_LIMITS`, or :data:`COSTLY_KDF_LIMITS` with ``allow_costly_kdf``.
    """
    source = f"keystore file {quote(path)}"
    raw = read_bytes(path, "keystore file", max_bytes=MAX_KEYSTORE_FILE, error=WalletError)
    doc = parse_json(raw, source, error=WalletError)
    if allow_costly_kdf:
        return parse_keystore(doc, source, limits=COSTLY_KDF_LIMITS, require_meta=False)
    return parse_keystore(doc, source, require_meta=False,
                          cost_hint="; if you trust this file, add --allow-costly-kdf")


def decrypt_keystore(keystore: Keystore, password: str, wrong_password: str) -> bytes:
    """The 32-byte secret; WalletError(``wrong_password``) when the MAC does not match.

    The KDF runs on exactly the values :func:`parse_keystore` checked (a clean copy), so
    nothing the file holds beyond them reaches eth-keyfile.
    """
    password_bytes = _password_bytes(password)
    from eth_keyfile.keyfile import decode_keyfile_json  # slow import (py_ecc): only on use

    doc = {"version": 3, "crypto": keystore.crypto.to_json()}
    try:
        secret = decode_keyfile_json(doc, password_bytes)
    except MemoryError:
        raise WalletError(f"{keystore.source}: not enough memory for its KDF") from None
    except Exception as exc:  # noqa: BLE001 - eth-keyfile's MAC mismatch is a ValueError
        if "mac mismatch" in str(exc).lower():
            raise WalletError(wrong_password) from None
        raise WalletError(f"{keystore.source} cannot be decrypted") from None
    if not isinstance(secret, bytes) or len(secret) != SECRET_LEN:  # pragma: no cover
        raise WalletError(f"{keystore.source} cannot be decrypted")
    return secret


def _crypto(doc: dict[str, Any]) -> KeystoreCrypto:
    # geth wrote "Crypto" before 2016; eth-keyfile accepts either
    key = "crypto" if "crypto" in doc or "Crypto" not in doc else "Crypto"
    crypto = _field(doc, key, "", dict)
    where = key + "."
    kdf = _field(crypto, "kdf", where, str)
    if kdf not in ("scrypt", "pbkdf2"):
        raise _Corrupt(f"{where}kdf {_short(kdf)} is not supported (scrypt or pbkdf2)")
    params = _field(crypto, "kdfparams", where, dict)
    pwhere = where + "kdfparams."
    if _field(params, "dklen", pwhere, int) != 32:
        raise _Corrupt(f"{pwhere}dklen is not 32")
    salt = _hex_field(params, "salt", pwhere)
    n = r = p = c = 0
    if kdf == "scrypt":
        n = _positive(params, "n", pwhere)
        r = _positive(params, "r", pwhere)
        p = _positive(params, "p", pwhere)
        if n < 2 or n & (n - 1):
            raise _Corrupt(f"{pwhere}n is not a power of two greater than 1")
    else:
        c = _positive(params, "c", pwhere)
        prf = _field(params, "prf", pwhere, str)
        if prf != "hmac-sha256":
            raise _Corrupt(f"{pwhere}prf {_short(prf)} is not supported (hmac-sha256)")
    cipher = _field(crypto, "cipher", where, str)
    if cipher != "aes-128-ctr":
        raise _Corrupt(f"{where}cipher {_short(cipher)} is not supported (aes-128-ctr)")
    cipherparams = _field(crypto, "cipherparams", where, dict)
    iv = _hex_field(cipherparams, "iv", where + "cipherparams.", 16)
    ciphertext = _hex_field(crypto, "ciphertext", where, SECRET_LEN)
    mac = _hex_field(crypto, "mac", where, 32)
    return KeystoreCrypto(kdf, salt, n, r, p, c, iv, ciphertext, mac)


def _meta(doc: dict[str, Any]) -> WalletMeta:
    meta = _field(doc, "daoli", "", dict)
    pubkey_bytes = _hex_field(meta, "pubkey", "daoli.", 33)
    try:
        pubkey = check_pubkey(pubkey_bytes)
    except DaoliError:
        raise _Corrupt("daoli.pubkey is not a valid public key") from None
    address = address_of(pubkey)
    if _field(meta, "address", "daoli.", str) != address:
        raise _Corrupt("daoli.address does not match daoli.pubkey")
    path = _optional_str(meta, "path", "daoli.")
    if path is not None:
        try:
            parse_derivation_path(path)
        except WalletError:
            raise _Corrupt("daoli.path is not a derivation path") from None
    created = _optional_str(meta, "created", "daoli.")
    if created is not None and len(created) > 64:
        raise _Corrupt("daoli.created is not a time")
    return WalletMeta(pubkey, address, path, created)


_KIND = {dict: "an object", str: "a string", int: "an integer"}


def _field(obj: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in obj:
        raise _Corrupt(f"{where}{key} is missing")
    value = obj[key]
    # bool is an int subclass in Python; JSON true is not a number
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Corrupt(f"{where}{key} is not {_KIND[kind]}")
    return value


def _positive(obj: dict[str, Any], key: str, where: str) -> int:
    value: int = _field(obj, key, where, int)
    if value < 1:
        raise _Corrupt(f"{where}{key} is not a positive integer")
    return value


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _Corrupt(f"{where}{key} is not a string or null")
    return value


def _hex_field(obj: dict[str, Any], key: str, where: str, length: int | None = None) -> bytes:
    text: str = _field(obj, key, where, str)
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) % 2 or not _HEX.issuperset(body):
        raise _Corrupt(f"{where}{key} is not hex")
    value = bytes.fromhex(body)
    if length is not None and len(value) != length:
        raise _Corrupt(f"{where}{key} is not {length} bytes")
    return value


def _os_problem(label: str, exc: OSError) -> str:
    """``label`` followed by what went wrong, reading as a sentence either way."""
    text = os_error_text(exc)
    verb = text.split(" ", 1)[0]
    return f"{label} {text}" if verb in ("is", "has", "does") else f"{label}: {text}"


def _num(n: int, grouped: bool = False) -> str:
    """An integer from a file, short enough for a message (a file may hold 4,000 digits)."""
    if n.bit_length() > 64:
        return f"about 2^{n.bit_length() - 1}"
    return f"{n:,}" if grouped else str(n)


def _size(n: int) -> str:
    if n.bit_length() > 64:
        return f"about 2^{n.bit_length() - 1} bytes"
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    return f"{n:,} bytes"


def _short(value: object, limit: int = 64) -> str:
    """``value`` quoted for a message, cut short: a file can hold a 60 KiB "kdf" string."""
    text = value if isinstance(value, str) else str(value)
    return quote(text if len(text) <= limit else text[:limit] + "...")


# ----- the store -----------------------------------------------------------------------------


class WalletStore:
    """The wallets of one node home; every method is safe to call concurrently."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # ----- paths and listing -------------------------------------------------------------

    def file_of(self, name: str) -> Path:
        return self.directory / (check_name(name) + SUFFIX)

    def exists(self, name: str) -> bool:
        """Whether a file (even a dangling link) holds the name; WalletError for an odd
        wallet directory (not a directory, a link loop, permission denied)."""
        file = self.file_of(name)
        try:
            os.lstat(file)
        except FileNotFoundError:
            self._check_directory()
            return False
        except OSError as exc:
            self._check_directory()
            raise WalletError(_os_problem(f"cannot look for wallet {quote(name)}: "
                                          f"{quote(file)}", exc)) from None
        return True

    def names(self) -> list[str]:
        """Names of the ``NAME.json`` entries with a valid wallet name, sorted."""
        return sorted(e[: -len(SUFFIX)] for e in self._entries() if _wallet_name(e))

    def _entries(self) -> list[str]:
        """The directory's entry names; [] when it does not exist, WalletError when it
        cannot be listed."""
        try:
            return os.listdir(self.directory)
        except FileNotFoundError:
            self._check_directory()
            return []
        except OSError as exc:
            self._check_directory()
            raise WalletError(_os_problem(f"cannot list wallet directory "
                                          f"{quote(self.directory)}", exc)) from None

    def scan(self) -> tuple[list[WalletInfo], list[tuple[Path, str]]]:
        """All readable wallets, plus (file, reason) for files that are not, so one corrupt
        file does not hide the others."""
        good: list[WalletInfo] = []
        bad: list[tuple[Path, str]] = []
        entries = sorted(e for e in self._entries()
                         if e.endswith(SUFFIX) and not e.startswith("."))
        for entry in entries:
            name = _wallet_name(entry)
            if name is None:
                bad.append((self.directory / entry,
                            f"wallet file {quote(self.directory / entry)} has no valid wallet "
                            "name (1 to 64 of A-Z a-z 0-9 _ - before .json): rename it"))
                continue
            try:
                good.append(self.info(name))
            except WalletError as exc:
                bad.append((self.file_of(name), str(exc)))
        return good, bad

    def list(self) -> list[WalletInfo]:
        return self.scan()[0]

    def info(self, name: str) -> WalletInfo:
        keystore = self._load(name)
        assert keystore.meta is not None  # _load requires it
        meta = keystore.meta
        return WalletInfo(name, meta.address, meta.pubkey, meta.path, self.file_of(name),
                          meta.created)

    # ----- creating ----------------------------------------------------------------------

    def create(
        self, name: str, password: str, *, light_kdf: bool = False, account: int = 0,
        save_phrase: Callable[[str], None] | None = None,
    ) -> tuple[WalletInfo, str]:
        """A new wallet from 256 bits of fresh entropy; returns it and its 24-word phrase.

        ``save_phrase`` runs before the keystore is written, so a failure there leaves no
        wallet behind whose phrase was never saved.
        """
        self._refuse_existing(name)
        _password_bytes(password)  # a non-UTF-8 password is refused before anything is saved
        phrase = new_mnemonic(secrets.token_bytes(32))
        if save_phrase is not None:
            save_phrase(phrase)
        return self.import_mnemonic(
            name, phrase, password, light_kdf=light_kdf, account=account
        ), phrase

    def import_mnemonic(
        self, name: str, mnemonic: str, password: str, *, light_kdf: bool = False,
        account: int = 0,
    ) -> WalletInfo:
        self._refuse_existing(name)
        path = default_path(account)
        secret = secret_from_mnemonic(normalize_mnemonic(mnemonic), path)
        return self._write(name, secret, password, path, light_kdf)

    def import_secret(
        self, name: str, secret: bytes, password: str, *, light_kdf: bool = False
    ) -> WalletInfo:
        self._refuse_existing(name)
        if not isinstance(secret, bytes) or len(secret) != SECRET_LEN:
            raise WalletError(f"a private key is {SECRET_LEN} bytes")
        try:
            pubkey_from_secret(secret)
        except DaoliError:
            raise WalletError("not a valid secp256k1 private key (zero or >= n)") from None
        return self._write(name, secret, password, None, light_kdf)

    def import_keystore(
        self, name: str, keystore: Keystore, password: str, *, light_kdf: bool = False
    ) -> WalletInfo:
        """Decrypt a keystore (see :func:`read_keystore_file`) with its password and store
        its key re-encrypted with our KDF and the same password."""
        self._refuse_existing(name)
        secret = decrypt_keystore(keystore, password, f"wrong password for {keystore.source}")
        try:
            pubkey = pubkey_from_secret(secret)
        except DaoliError:
            raise WalletError(f"{keystore.source} holds an invalid secp256k1 key") from None
        path = None
        if keystore.meta is not None:
            if keystore.meta.pubkey != pubkey:
                raise WalletError(f"{keystore.source} is corrupt: the key does not match "
                                  "daoli.pubkey")
            path = keystore.meta.path
        return self._write(name, secret, password, path, light_kdf)

    # ----- using and deleting ------------------------------------------------------------

    def unlock(self, name: str, password: str) -> bytes:
        """The wallet's 32-byte secret; WalletError for a wrong password or a corrupt file."""
        keystore = self._load(name)
        assert keystore.meta is not None
        secret = decrypt_keystore(keystore, password, f"wrong password for wallet {quote(name)}")
        try:
            derived = pubkey_from_secret(secret)
        except DaoliError:
            derived = b""
        if derived != keystore.meta.pubkey:
            raise WalletError(
                f"{keystore.source} is corrupt: the key does not match its pubkey"
            )
        return secret

    def delete(self, name: str) -> None:
        """Remove the wallet file. Callers prove ownership (``unlock``) first if they must."""
        file = self.file_of(name)
        try:
            file.unlink()
        except FileNotFoundError:
            self._check_directory()
            raise WalletError(f"no wallet named {quote(name)} in {quote(self.directory)}"
                              ) from None
        except OSError as exc:
            raise WalletError(f"cannot delete {quote(file)}: {os_error_text(exc)}") from None
        fsync_dir(self.directory, best_effort=True)

    # ----- internals ---------------------------------------------------------------------

    def _check_directory(self) -> None:
        """WalletError if the wallet directory is there but cannot serve as one."""
        try:
            st = os.stat(self.directory)
        except FileNotFoundError:
            return  # no wallets yet (a dangling link counts as none)
        except OSError as exc:
            raise WalletError(_os_problem(f"wallet directory {quote(self.directory)}", exc)
                              ) from None
        if not stat.S_ISDIR(st.st_mode):
            raise WalletError(f"wallet directory {quote(self.directory)} is not a directory")

    def _load(self, name: str) -> Keystore:
        """The wallet's keystore, read with a size limit and checked field by field, its KDF
        held to :data:`NORMAL_KDF_LIMITS`."""
        file = self.file_of(name)
        try:
            os.lstat(file)
        except FileNotFoundError:
            self._check_directory()
            raise WalletError(f"no wallet named {quote(name)} in {quote(self.directory)}"
                              ) from None
        except OSError as exc:
            self._check_directory()
            raise WalletError(_os_problem(f"cannot read wallet {quote(name)}: "
                                          f"{quote(file)}", exc)) from None
        raw = read_bytes(file, "wallet file", max_bytes=MAX_KEYSTORE_FILE, error=WalletError)
        source = f"wallet file {quote(file)}"
        doc = parse_json(raw, f"{source} is corrupt", error=WalletError)
        return parse_keystore(
            doc, source, cost_hint="; import the keystore again with 'daoli wallet import "
            "NAME --keystore FILE --allow-costly-kdf' to re-encrypt it")

    def _refuse_existing(self, name: str) -> None:
        # Checked before the (slow) KDF so the user hears about it at once; the link in
        # _write checks again, race-free.
        if self.exists(name):
            raise WalletError(f"wallet {quote(name)} already exists in "
                              f"{quote(self.directory)}")

    def _write(
        self, name: str, secret: bytes, password: str, path: str | None, light_kdf: bool
    ) -> WalletInfo:
        file = self.file_of(name)
        pubkey = pubkey_from_secret(secret)
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        info = WalletInfo(name, address_of(pubkey), pubkey, path, file, created)
        password_bytes = _password_bytes(password)
        from eth_keyfile.keyfile import create_keyfile_json  # slow import (py_ecc): only on use

        doc = create_keyfile_json(
            secret, password_bytes, version=3, kdf="scrypt",
            iterations=LIGHT_SCRYPT_N if light_kdf else SCRYPT_N,
        )
        doc.pop("address", None)
        doc["daoli"] = {
            "format": FORMAT_VERSION, "name": name, "address": info.address,
            "pubkey": pubkey.hex(), "path": path, "created": created,
        }
        self._ensure_dir()
        _write_new_file(file, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
        return info

    def _ensure_dir(self) -> None:
        """Create the wallet directory and any missing parent (the home) with mode 0700.

        Only directories made here get 0700 (set exactly, whatever the umask); one that
        already exists is used as it is, never chmod-ed.
        """
        missing: list[Path] = []
        current = self.directory
        while True:
            try:
                st = os.stat(current)
            except FileNotFoundError:
                missing.append(current)
                if current.parent == current:
                    break
                current = current.parent
                continue
            except OSError as exc:
                raise WalletError(_os_problem(f"cannot create wallet directory "
                                              f"{quote(self.directory)}: {quote(current)}",
                                              exc)) from None
            if not stat.S_ISDIR(st.st_mode):
                raise WalletError(f"cannot create wallet directory {quote(self.directory)}: "
                                  f"{quote(current)} is not a directory")
            break
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:  # made meanwhile by someone else: not ours to chmod
                if not directory.is_dir():
                    raise WalletError(f"cannot create wallet directory "
                                      f"{quote(self.directory)}: {quote(directory)} is not a "
                                      "directory") from None
                continue
            except OSError as exc:
                raise WalletError(f"cannot create wallet directory {quote(directory)}: "
                                  f"{os_error_text(exc)}") from None
            _set_private_mode(directory)


def _set_private_mode(directory: Path) -> None:
    """Mode exactly 0700 on a directory just made (mkdir's mode is filtered by the umask);
    opened without following links, so a swapped-in link cannot redirect the chmod."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise WalletError(f"cannot open new directory {quote(directory)}: "
                          f"{os_error_text(exc)}") from None
    try:
        os.fchmod(fd, 0o700)
    except OSError as exc:
        raise WalletError(f"cannot set the mode of {quote(directory)}: "
                          f"{os_error_text(exc)}") from None
    finally:
        os.close(fd)


def _wallet_name(entry: str) -> str | None:
    """``NAME`` of a ``NAME.json`` directory entry, or None (undecodable bytes of a
    non-UTF-8 name are surrogates, which the name pattern refuses)."""
    stem = entry[: -len(SUFFIX)] if entry.endswith(SUFFIX) else ""
    return stem if NAME_RE.fullmatch(stem) else None


def _password_bytes(password: str) -> bytes:
    """The password as UTF-8; a str from a non-UTF-8 environment holds lone surrogates."""
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        raise WalletError("the password is not valid UTF-8 text") from None


def write_new_private_file(target: Path, data: bytes, what: str) -> None:
    """Create ``target`` (mode 0600, O_EXCL: never replacing anything, links included) and
    fill it; on failure it is removed again. For secrets handed to the user (a phrase)."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise WalletError(f"{what} {quote(target)} already exists (it is never "
                          "overwritten)") from None
    except OSError as exc:
        raise WalletError(f"cannot create {what} {quote(target)}: "
                          f"{os_error_text(exc)}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            write_all_and_sync(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise WalletError(f"cannot write {what} {quote(target)}: "
                          f"{os_error_text(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise
    fsync_dir(target.parent, best_effort=True)


def _write_new_file(target: Path, data: bytes) -> None:
    """Create ``target`` with ``data`` atomically; never replace an existing file.

    A private temp file (O_EXCL, 0600) is filled and fsynced, then hard-linked to the
    final name: link fails if the name exists, so two racing commands cannot clobber each
    other and a crash leaves either no wallet or a complete one.
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise WalletError(f"cannot write in {quote(target.parent)}: "
                          f"{os_error_text(exc)}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            write_all_and_sync(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise WalletError(
                f"wallet {quote(target.stem)} already exists in {quote(target.parent)}"
            ) from None
        except OSError:
            # File systems without hard links: rename is atomic but would replace, so
            # check first (a narrow race that only such file systems have).
            if os.path.lexists(target):
                raise WalletError(
                    f"wallet {quote(target.stem)} already exists in {quote(target.parent)}"
                ) from None
            os.rename(tmp, target)
    except OSError as exc:
        raise WalletError(f"cannot write {quote(target)}: {os_error_text(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    fsync_dir(target.parent, best_effort=True)


__all__ = [
    "COSTLY_KDF_LIMITS",
    "LIGHT_SCRYPT_N",
    "NORMAL_KDF_LIMITS",
    "SCRYPT_N",
    "KdfLimits",
    "Keystore",
    "KeystoreCrypto",
    "WalletInfo",
    "WalletMeta",
    "WalletStore",
    "check_name",
    "decrypt_keystore",
    "parse_keystore",
    "read_keystore_file",
    "write_new_private_file",
]
