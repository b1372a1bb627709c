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
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daoli.core.address import address_of
from daoli.core.crypto import SECRET_LEN, check_pubkey, pubkey_from_secret
from daoli.errors import DaoliError, WalletError
from daoli.wallet.hd import default_path, new_mnemonic, normalize_mnemonic, secret_from_mnemonic

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SUFFIX = ".json"
FORMAT_VERSION = 1
SCRYPT_N = 262144  # eth-keyfile's and geth's standard work factor
LIGHT_SCRYPT_N = 4096  # geth's --lightkdf: for dev nets and tests only
# Bounds on KDF parameters read from a file, so a corrupt or hostile file cannot make
# unlock take hours or gigabytes.
_MAX_SCRYPT_MEMORY = 1 << 30
_MAX_PBKDF2_ROUNDS = 10_000_000
# A keystore is about 1 KiB and nests 3 deep; anything far beyond is not one.
_MAX_FILE_BYTES = 64 * 1024
_MAX_NESTING = 16


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


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise WalletError(
            f"invalid wallet name {name!r}: use 1 to 64 letters, digits, '_' or '-'"
        )
    return name


class WalletStore:
    """The wallets of one node home; every method is safe to call concurrently."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # ----- paths and listing -------------------------------------------------------------

    def file_of(self, name: str) -> Path:
        return self.directory / (check_name(name) + SUFFIX)

    def exists(self, name: str) -> bool:
        return self.file_of(name).exists()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        found = [
            p.name[: -len(SUFFIX)] for p in self.directory.iterdir()
            if p.name.endswith(SUFFIX) and NAME_RE.fullmatch(p.name[: -len(SUFFIX)])
        ]
        return sorted(found)

    def scan(self) -> tuple[list[WalletInfo], list[tuple[Path, str]]]:
        """All readable wallets, plus (file, reason) for files that are not, so one corrupt
        file does not hide the others."""
        good: list[WalletInfo] = []
        bad: list[tuple[Path, str]] = []
        for name in self.names():
            try:
                good.append(self.info(name))
            except WalletError as exc:
                bad.append((self.file_of(name), str(exc)))
        return good, bad

    def list(self) -> list[WalletInfo]:
        return self.scan()[0]

    def info(self, name: str) -> WalletInfo:
        return self._parse(name, self._load(name))

    # ----- creating ----------------------------------------------------------------------

    def create(
        self, name: str, password: str, *, light_kdf: bool = False, account: int = 0
    ) -> tuple[WalletInfo, str]:
        """A new wallet from 256 bits of fresh entropy; returns it and its 24-word phrase."""
        self._refuse_existing(name)
        phrase = new_mnemonic(secrets.token_bytes(32))
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

    # ----- using and deleting ------------------------------------------------------------

    def unlock(self, name: str, password: str) -> bytes:
        """The wallet's 32-byte secret; WalletError for a wrong password or a corrupt file."""
        doc = self._load(name)
        info = self._parse(name, doc)
        _check_crypto(doc, info.file)
        password_bytes = _password_bytes(password)
        try:
            from eth_keyfile import decode_keyfile_json  # slow import (py_ecc): only on use

            secret = decode_keyfile_json(doc, password_bytes)
        except ValueError as exc:  # eth-keyfile's MAC mismatch is a ValueError subclass
            if "mac mismatch" in str(exc).lower():
                raise WalletError(f"wrong password for wallet {name!r}") from None
            raise WalletError(f"wallet file {str(info.file)!r} is corrupt: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any decoding failure means a corrupt file
            raise WalletError(f"wallet file {str(info.file)!r} is corrupt: {exc}") from None
        try:
            derived = pubkey_from_secret(secret)
        except DaoliError:
            derived = b""
        if derived != info.pubkey:
            raise WalletError(
                f"wallet file {str(info.file)!r} is corrupt: the key does not match its pubkey"
            )
        return secret

    def delete(self, name: str) -> None:
        """Remove the wallet file. Callers prove ownership (``unlock``) first if they must."""
        file = self.file_of(name)
        try:
            file.unlink()
        except FileNotFoundError:
            raise WalletError(f"no wallet named {name!r} in {str(self.directory)!r}") from None
        except OSError as exc:
            raise WalletError(f"cannot delete {str(file)!r}: {exc.strerror}") from None
        _fsync_dir(self.directory)

    # ----- internals ---------------------------------------------------------------------

    def _refuse_existing(self, name: str) -> None:
        # Checked before the (slow) KDF so the user hears about it at once; the link in
        # _write checks again, race-free.
        if self.exists(name):
            raise WalletError(f"wallet {name!r} already exists in {str(self.directory)!r}")

    def _write(
        self, name: str, secret: bytes, password: str, path: str | None, light_kdf: bool
    ) -> WalletInfo:
        file = self.file_of(name)
        pubkey = pubkey_from_secret(secret)
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        info = WalletInfo(name, address_of(pubkey), pubkey, path, file, created)
        password_bytes = _password_bytes(password)
        from eth_keyfile import create_keyfile_json  # slow import (py_ecc): only on use

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
        if self.directory.is_dir():
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise WalletError(
                f"cannot create wallet directory {str(self.directory)!r}: {exc.strerror}"
            ) from None

    def _load(self, name: str) -> dict[str, Any]:
        file = self.file_of(name)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise WalletError(f"no wallet named {name!r} in {str(self.directory)!r}") from None
        except OSError as exc:
            raise WalletError(f"cannot read {str(file)!r}: {exc.strerror}") from None
        if len(raw) > _MAX_FILE_BYTES or _nesting_exceeds(raw, _MAX_NESTING):
            # json's C scanner can overflow the C stack (a segfault, not an exception) on
            # deep nesting, and a keystore is a small, flat document
            raise WalletError(f"wallet file {str(file)!r} is corrupt: not a keystore")
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise WalletError(f"wallet file {str(file)!r} is corrupt: not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != 3:
            raise WalletError(f"wallet file {str(file)!r} is corrupt: not a v3 keystore")
        return doc

    def _parse(self, name: str, doc: dict[str, Any]) -> WalletInfo:
        file = self.file_of(name)
        meta = doc.get("daoli")
        try:
            if not isinstance(meta, dict):
                raise ValueError("no 'daoli' section")
            pubkey = check_pubkey(bytes.fromhex(meta["pubkey"]))
            address = address_of(pubkey)
            if meta.get("address") != address:
                raise ValueError("address does not match pubkey")
            path = meta.get("path")
            created = meta.get("created")
            if path is not None and not isinstance(path, str):
                raise ValueError("bad path")
            if created is not None and not isinstance(created, str):
                raise ValueError("bad creation time")
        except (ValueError, KeyError, TypeError, DaoliError) as exc:
            raise WalletError(f"wallet file {str(file)!r} is corrupt: {exc}") from None
        return WalletInfo(name, address, pubkey, path, file, created)


def _nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit`` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _password_bytes(password: str) -> bytes:
    """The password as UTF-8; a str from a non-UTF-8 environment holds lone surrogates."""
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        raise WalletError("the password is not valid UTF-8 text") from None


def _check_crypto(doc: dict[str, Any], file: Path) -> None:
    """Refuse KDF settings that would make decoding hang or exhaust memory."""
    try:
        crypto = doc["crypto"]
        kdf = crypto["kdf"]
        params = crypto["kdfparams"]
        if crypto["cipher"] != "aes-128-ctr" or params["dklen"] != 32:
            raise ValueError("unsupported cipher")
        if len(bytes.fromhex(crypto["ciphertext"])) != SECRET_LEN:
            raise ValueError("ciphertext is not 32 bytes")
        if kdf == "scrypt":
            n, r, p = params["n"], params["r"], params["p"]
            if not all(type(v) is int and v > 0 for v in (n, r, p)) or n & (n - 1):
                raise ValueError("bad scrypt parameters")
            if 128 * r * n > _MAX_SCRYPT_MEMORY or p > 16:
                raise ValueError("scrypt parameters too expensive")
        elif kdf == "pbkdf2":
            c = params["c"]
            if type(c) is not int or not 0 < c <= _MAX_PBKDF2_ROUNDS:
                raise ValueError("bad pbkdf2 parameters")
        else:
            raise ValueError(f"unsupported kdf {kdf!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise WalletError(f"wallet file {str(file)!r} is corrupt: {exc}") from None


def _write_new_file(target: Path, data: bytes) -> None:
    """Create ``target`` with ``data`` atomically; never replace an existing file.

    A private temp file (O_EXCL, 0600) is filled and fsynced, then hard-linked to the
    final name: link fails if the name exists, so two racing commands cannot clobber each
    other and a crash leaves either no wallet or a complete one.
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise WalletError(f"cannot write in {str(target.parent)!r}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise WalletError(
                f"wallet {target.stem!r} already exists in {str(target.parent)!r}"
            ) from None
        except OSError:
            # File systems without hard links: rename is atomic but would replace, so
            # check first (a narrow race that only such file systems have).
            if target.exists():
                raise WalletError(
                    f"wallet {target.stem!r} already exists in {str(target.parent)!r}"
                ) from None
            os.rename(tmp, target)
    except OSError as exc:
        raise WalletError(f"cannot write {str(target)!r}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a create or unlink durable (the directory entry lives in the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
