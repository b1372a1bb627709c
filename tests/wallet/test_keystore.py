"""WalletStore: standard v3 files, permissions, and never losing a key on any error."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_keyfile import create_keyfile_json, decode_keyfile_json

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.errors import WalletError
from daoli.wallet import WalletInfo, WalletStore, default_path, secret_from_mnemonic
from daoli.wallet.keystore import LIGHT_SCRYPT_N, _write_new_file

DEV_PHRASE = "test test test test test test test test test test test junk"
PW = "correct horse"


@pytest.fixture
def store(tmp_path: Path) -> WalletStore:
    return WalletStore(tmp_path / "home" / "wallets")


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_create_writes_standard_private_file(store: WalletStore) -> None:
    info, phrase = store.create("alice", PW, light_kdf=True)
    assert len(phrase.split()) == 24
    assert info.file == store.directory / "alice.json"
    assert stat.S_IMODE(info.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    doc = json.loads(info.file.read_text())
    # A standard tool decrypts it, and the key is the one the phrase derives.
    secret = decode_keyfile_json(doc, PW.encode())
    assert secret == secret_from_mnemonic(phrase, default_path())
    assert pubkey_from_secret(secret) == info.pubkey
    assert info.address == address_of(info.pubkey) and info.address.startswith("dlc1")
    assert doc["version"] == 3 and doc["crypto"]["kdf"] == "scrypt"
    assert doc["crypto"]["kdfparams"]["n"] == LIGHT_SCRYPT_N
    assert "address" not in doc  # the Ethereum address field would be misleading
    assert doc["daoli"]["address"] == info.address
    assert doc["daoli"]["path"] == "m/44'/7771'/0'/0/0"
    assert store.unlock("alice", PW) == secret
    assert store.info("alice") == info
    assert [p.name for p in store.directory.iterdir()] == ["alice.json"]  # no temp left


def test_mnemonic_gives_same_address_every_time(store: WalletStore) -> None:
    a = store.import_mnemonic("a", DEV_PHRASE, PW, light_kdf=True)
    b = store.import_mnemonic("b", DEV_PHRASE.upper(), "other", light_kdf=True)
    c = store.import_mnemonic("c", DEV_PHRASE, PW, light_kdf=True, account=1)
    assert a.address == b.address == "dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq"
    assert c.address != a.address and c.path == "m/44'/7771'/0'/0/1"
    info, phrase = store.create("d", PW, light_kdf=True)
    assert store.import_mnemonic("e", phrase, PW, light_kdf=True).address == info.address


def test_import_secret(store: WalletStore) -> None:
    secret = bytes.fromhex("11" * 32)
    info = store.import_secret("raw", secret, PW, light_kdf=True)
    assert info.path is None
    assert store.unlock("raw", PW) == secret
    for bad in [b"\x00" * 32, b"\xff" * 32, b"\x01" * 31]:
        with pytest.raises(WalletError):
            store.import_secret("bad", bad, PW, light_kdf=True)
    assert not store.exists("bad")


def test_default_kdf_is_standard_strength(store: WalletStore) -> None:
    info = store.import_secret("strong", bytes.fromhex("22" * 32), PW)
    assert json.loads(info.file.read_text())["crypto"]["kdfparams"]["n"] == 262144


def test_wrong_password_changes_nothing(store: WalletStore) -> None:
    info, _ = store.create("alice", PW, light_kdf=True)
    before = snapshot(info.file)
    with pytest.raises(WalletError, match="wrong password"):
        store.unlock("alice", "nope")
    assert snapshot(info.file) == before


def test_existing_name_is_never_overwritten(store: WalletStore) -> None:
    info, _ = store.create("alice", PW, light_kdf=True)
    before = snapshot(info.file)
    with pytest.raises(WalletError, match="already exists"):
        store.create("alice", PW, light_kdf=True)
    with pytest.raises(WalletError, match="already exists"):
        store.import_mnemonic("alice", DEV_PHRASE, PW, light_kdf=True)
    with pytest.raises(WalletError, match="already exists"):
        store.import_secret("alice", b"\x11" * 32, PW, light_kdf=True)
    assert snapshot(info.file) == before


def test_atomic_write_refuses_existing_target(tmp_path: Path) -> None:
    # The race-free check itself: a file appearing after the early check is not replaced.
    target = tmp_path / "w.json"
    target.write_bytes(b"precious")
    with pytest.raises(WalletError, match="already exists"):
        _write_new_file(target, b"new")
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]


def _corruptions(doc: dict) -> dict[str, dict]:
    def edited(fn) -> dict:  # type: ignore[no-untyped-def]
        copy = json.loads(json.dumps(doc))
        fn(copy)
        return copy

    return {
        "mac": edited(lambda d: d["crypto"].update(mac="00" * 32)),
        "ciphertext": edited(lambda d: d["crypto"].update(ciphertext="ab" * 31)),
        "pubkey": edited(lambda d: d["daoli"].update(pubkey="02" + "11" * 32)),
        "address": edited(lambda d: d["daoli"].update(address="dlc1xyz")),
        "no-daoli": edited(lambda d: d.pop("daoli")),
        "huge-scrypt": edited(lambda d: d["crypto"]["kdfparams"].update(n=1 << 40)),
        "kdf": edited(lambda d: d["crypto"].update(kdf="argon9")),
        "version": edited(lambda d: d.update(version=4)),
    }


def test_corrupt_files_fail_cleanly_and_stay(store: WalletStore) -> None:
    info, _ = store.create("alice", PW, light_kdf=True)
    doc = json.loads(info.file.read_text())
    cases = {name: json.dumps(d).encode() for name, d in _corruptions(doc).items()}
    cases["truncated"] = info.file.read_bytes()[:100]
    cases["binary"] = b"\xff\xfe\x00"
    for what, data in cases.items():
        info.file.write_bytes(data)
        before = snapshot(info.file)
        with pytest.raises(WalletError) as err:
            store.unlock("alice", PW)
        message = str(err.value)
        assert "\n" not in message, what
        if what == "mac":
            assert "wrong password" in message  # a bad MAC looks exactly like a bad password
        else:
            assert "corrupt" in message, what
        assert snapshot(info.file) == before, what


def test_swapped_key_is_detected(store: WalletStore) -> None:
    # A file whose encrypted key belongs to another public key must not unlock.
    info = store.import_secret("a", b"\x11" * 32, PW, light_kdf=True)
    doc = json.loads(info.file.read_text())
    other = create_keyfile_json(b"\x22" * 32, PW.encode(), kdf="scrypt", iterations=4096)
    doc["crypto"] = other["crypto"]
    info.file.write_text(json.dumps(doc))
    with pytest.raises(WalletError, match="does not match"):
        store.unlock("a", PW)


def test_list_info_delete(store: WalletStore) -> None:
    assert store.list() == []
    a = store.import_secret("b-wallet", b"\x11" * 32, PW, light_kdf=True)
    b = store.import_secret("a_wallet", b"\x12" * 32, PW, light_kdf=True)
    (store.directory / "broken.json").write_text("{")
    (store.directory / "not a wallet.json").write_text("{}")
    (store.directory / "notes.txt").write_text("x")
    good, bad = store.scan()
    assert good == [b, a]  # sorted by name, unreadable ones reported separately
    assert [p.name for p, _ in bad] == ["broken.json"]
    assert store.list() == [b, a]
    assert isinstance(store.info("a_wallet"), WalletInfo)
    store.delete("a_wallet")
    assert not b.file.exists() and store.list() == [a]
    with pytest.raises(WalletError, match="no wallet"):
        store.delete("a_wallet")
    with pytest.raises(WalletError, match="no wallet"):
        store.info("a_wallet")
    with pytest.raises(WalletError, match="no wallet"):
        store.unlock("a_wallet", PW)


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 65, "é", "a.json", "a/b"])
def test_bad_names(store: WalletStore, name: str) -> None:
    with pytest.raises(WalletError, match="invalid wallet name"):
        store.create(name, PW, light_kdf=True)
    with pytest.raises(WalletError, match="invalid wallet name"):
        store.info(name)
    assert not store.directory.exists() or list(store.directory.iterdir()) == []


def test_existing_dir_permissions_are_kept_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = WalletStore(tmp_path / "w")
        info = store.import_secret("x", b"\x11" * 32, PW, light_kdf=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(info.file.stat().st_mode) == 0o600


def test_password_that_is_not_utf8_is_a_wallet_error(store: WalletStore) -> None:
    bad = b"p\xe9w".decode("utf-8", "surrogateescape")  # as os.environ gives it
    with pytest.raises(WalletError, match="UTF-8"):
        store.create("a", bad, light_kdf=True)
    assert not store.exists("a")
    store.create("b", PW, light_kdf=True)
    with pytest.raises(WalletError, match="UTF-8"):
        store.unlock("b", bad)


def test_deeply_nested_file_does_not_hide_the_others(store: WalletStore) -> None:
    store.create("good", PW, light_kdf=True)
    (store.directory / "deep.json").write_text("[" * 60_000)  # crashed json's C scanner
    (store.directory / "huge.json").write_text(" " * 100_000 + "{}")
    good, bad = store.scan()
    assert [w.name for w in good] == ["good"]
    assert sorted(f.name for f, _ in bad) == ["deep.json", "huge.json"]
    with pytest.raises(WalletError, match="corrupt"):
        store.unlock("deep", PW)
