"""WalletStore: standard v3 files, permissions, and never losing a key on any error."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from eth_keyfile import create_keyfile_json, decode_keyfile_json

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.errors import WalletError
from daoli.files import MAX_KEYSTORE_FILE
from daoli.wallet import WalletInfo, WalletStore, default_path, secret_from_mnemonic
from daoli.wallet.keystore import (
    LIGHT_SCRYPT_N,
    _write_new_file,
    parse_keystore,
    read_keystore_file,
    write_new_private_file,
)

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
    # a *.json with a name no wallet can have is reported too, not silently skipped
    assert [p.name for p, _ in bad] == ["broken.json", "not a wallet.json"]
    assert "no valid wallet name" in bad[1][1]
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


# ----- hostile files and directories (issue 12) ------------------------------------------


def _edit(file: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(file.read_text())
    fn(doc)
    file.write_text(json.dumps(doc))


def _set(path: str, value: object):  # type: ignore[no-untyped-def]
    """An edit setting the dotted ``path`` (``...=DELETE`` removes it)."""
    def fn(doc: dict) -> None:  # type: ignore[type-arg]
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        if value is DELETE:
            del doc[last]
        else:
            doc[last] = value
    return fn


DELETE = object()


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("crypto.kdfparams.salt", DELETE, "crypto.kdfparams.salt is missing"),
    ("crypto", "a string", "crypto is not an object"),
    ("crypto.kdfparams", ["x"], "crypto.kdfparams is not an object"),
    ("crypto.kdfparams.n", "4096", "crypto.kdfparams.n is not an integer"),
    ("crypto.kdfparams.n", True, "crypto.kdfparams.n is not an integer"),
    ("crypto.kdfparams.n", 4095, "crypto.kdfparams.n is not a power of two"),
    ("crypto.kdfparams.r", 0, "crypto.kdfparams.r is not a positive integer"),
    ("crypto.kdfparams.dklen", 64, "crypto.kdfparams.dklen is not 32"),
    ("crypto.kdfparams.salt", "zz", "crypto.kdfparams.salt is not hex"),
    ("crypto.cipherparams.iv", "00" * 8, "crypto.cipherparams.iv is not 16 bytes"),
    ("crypto.cipherparams", None, "crypto.cipherparams is not an object"),
    ("crypto.ciphertext", 12, "crypto.ciphertext is not a string"),
    ("crypto.mac", DELETE, "crypto.mac is missing"),
    ("crypto.cipher", "aes-256-gcm", "crypto.cipher 'aes-256-gcm' is not supported"),
    ("crypto.kdf", "x" * 10_000, "crypto.kdf 'xxxx"),
    ("version", "3", "version is not an integer"),
    ("version", 4, "version is 4, not 3"),
    ("daoli", "x", "daoli is not an object"),
    ("daoli.pubkey", DELETE, "daoli.pubkey is missing"),
    ("daoli.pubkey", "02" + "ff" * 32, "daoli.pubkey is not a valid public key"),
    ("daoli.pubkey", "02" * 32, "daoli.pubkey is not 33 bytes"),
    ("daoli.address", None, "daoli.address is not a string"),
    ("daoli.path", 7, "daoli.path is not a string or null"),
    ("daoli.path", "not/a/path", "daoli.path is not a derivation path"),
    ("daoli.path", "m/" + "1" * 5000, "daoli.path is not a derivation path"),
])
def test_corrupt_fields_are_named_not_leaked(store: WalletStore, path: str, value: object,
                                             expected: str) -> None:
    info, _ = store.create("alice", PW, light_kdf=True)
    _edit(info.file, _set(path, value))
    for call in (lambda: store.info("alice"), lambda: store.unlock("alice", PW)):
        with pytest.raises(WalletError) as err:
            call()
        message = str(err.value)
        # the field and what is wrong with it, right after the file: no repr, no internals
        assert message.startswith(f"wallet file '{info.file}' is corrupt: {expected}"), message
        assert "\n" not in message and len(message) < 400
        for leak in ("string indices", "KeyError", "'salt'", "NoneType", "object of type"):
            assert leak not in message


def test_not_json_and_not_an_object(store: WalletStore) -> None:
    store.directory.mkdir(parents=True)
    for text, expected in [("[1, 2]", "not a keystore"), ("{", "not valid JSON"),
                           ("3", "not a keystore"), ('{"version": NaN}', "not valid JSON")]:
        (store.directory / "w.json").write_text(text)
        with pytest.raises(WalletError, match=expected):
            store.info("w")


def test_foreign_keystore_in_wallets_dir_points_to_import(store: WalletStore) -> None:
    store.directory.mkdir(parents=True)
    doc = create_keyfile_json(b"\x11" * 32, PW.encode(), kdf="scrypt", iterations=4096)
    (store.directory / "geth.json").write_text(json.dumps(doc))
    with pytest.raises(WalletError, match=r"no 'daoli' section .* --keystore FILE"):
        store.info("geth")


@pytest.fixture
def no_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any KDF runs: cost checks must come first."""
    import Crypto.Protocol.KDF
    import eth_keyfile.keyfile

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("a KDF ran before the cost check")

    monkeypatch.setattr(eth_keyfile.keyfile, "_scrypt_hash", boom)
    monkeypatch.setattr(eth_keyfile.keyfile, "_pbkdf2_hash", boom)
    monkeypatch.setattr(Crypto.Protocol.KDF, "scrypt", boom)


@pytest.mark.parametrize("params", [
    {"n": 1 << 23, "r": 1, "p": 16},  # the file: ~1 GiB and minutes of work
    {"n": 1 << 23, "r": 8, "p": 1},  # 8 GiB
    {"n": 1 << 19, "r": 8, "p": 1},  # 512 MiB: twice what `wallet new` writes
    {"n": 4096, "r": 8, "p": 2},  # cheap memory, but more parallel work than we write
    {"n": 1 << 40, "r": 8, "p": 1},
    {"n": 1 << 4000, "r": 10**300, "p": 1},  # a message, not 1,500 digits
])
def test_costly_scrypt_is_refused_before_any_kdf(store: WalletStore, light_doc: dict,  # type: ignore[type-arg]
                                                  no_kdf: None, params: dict[str, int]
                                                  ) -> None:
    store.directory.mkdir(parents=True)
    doc = json.loads(json.dumps(_standard_doc(light_doc)))
    doc["crypto"]["kdfparams"].update(params)
    (store.directory / "a.json").write_text(json.dumps(doc))
    for call in (lambda: store.info("a"), lambda: store.unlock("a", PW)):
        with pytest.raises(WalletError, match="the limit is 256 MiB of memory and p <= 1"
                           ) as err:
            call()
        assert len(str(err.value)) < 400


def test_pbkdf2_rounds_are_capped(store: WalletStore, light_doc: dict,  # type: ignore[type-arg]
                                  no_kdf: None) -> None:
    store.directory.mkdir(parents=True)
    doc = _standard_doc(light_doc)
    doc["crypto"]["kdf"] = "pbkdf2"
    doc["crypto"]["kdfparams"] = {"c": 262145, "dklen": 32, "prf": "hmac-sha256",
                                  "salt": "00" * 16}
    (store.directory / "a.json").write_text(json.dumps(doc))
    with pytest.raises(WalletError, match=r"pbkdf2 c=262,145; the limit is c <= 262,144"):
        store.unlock("a", PW)


@pytest.fixture(scope="module")
def light_doc() -> dict:  # type: ignore[type-arg]
    """A valid light wallet file, made before any test replaces the KDFs."""
    doc = create_keyfile_json(b"\x11" * 32, PW.encode(), kdf="scrypt", iterations=4096)
    pubkey = pubkey_from_secret(b"\x11" * 32)
    doc["daoli"] = {"format": 1, "name": "x", "address": address_of(pubkey),
                    "pubkey": pubkey.hex(), "path": None, "created": None}
    return doc


def _standard_doc(doc: dict) -> dict:  # type: ignore[type-arg]
    return json.loads(json.dumps(doc))


def test_cost_limits_are_what_wallet_new_writes(light_doc: dict) -> None:  # type: ignore[type-arg]
    from daoli.wallet.keystore import (
        COSTLY_KDF_LIMITS,
        NORMAL_KDF_LIMITS,
        SCRYPT_N,
        SCRYPT_R,
    )

    assert NORMAL_KDF_LIMITS.scrypt_memory == 128 * SCRYPT_R * SCRYPT_N == 256 << 20
    assert NORMAL_KDF_LIMITS.scrypt_p == 1 and NORMAL_KDF_LIMITS.pbkdf2_rounds == 262144
    assert COSTLY_KDF_LIMITS.scrypt_memory == 2 << 30 and COSTLY_KDF_LIMITS.scrypt_p == 16
    assert COSTLY_KDF_LIMITS.pbkdf2_rounds == 10_000_000
    # the standard strength itself passes the normal cap
    doc = _standard_doc(light_doc)
    doc["crypto"]["kdfparams"]["n"] = SCRYPT_N
    parse_keystore(doc, "test")


@pytest.mark.parametrize(("params", "normal", "costly"), [
    ({"n": 1 << 23, "r": 1, "p": 16}, False, True),
    ({"n": 1 << 24, "r": 1, "p": 1}, False, True),  # exactly 2 GiB
    ({"n": 1 << 25, "r": 1, "p": 1}, False, False),
    ({"n": 4096, "r": 8, "p": 17}, False, False),
    ({"n": 1 << 23, "r": 8, "p": 16}, False, False),  # 8 GiB
    ({"n": 262144, "r": 8, "p": 1}, True, True),  # what `wallet new` writes
])
def test_keystore_file_cost_with_and_without_override(tmp_path: Path, light_doc: dict,  # type: ignore[type-arg]
                                                      no_kdf: None,
                                                      params: dict[str, int], normal: bool,
                                                      costly: bool) -> None:
    doc = _standard_doc(light_doc)
    doc.pop("daoli")
    doc["crypto"]["kdfparams"].update(params)
    file = tmp_path / "k.json"
    file.write_text(json.dumps(doc))
    for allow, ok in ((False, normal), (True, costly)):
        if ok:
            read_keystore_file(file, allow_costly_kdf=allow)
        else:
            with pytest.raises(WalletError, match="the limit is") as err:
                read_keystore_file(file, allow_costly_kdf=allow)
            assert ("--allow-costly-kdf" in str(err.value)) == (not allow)


def test_pbkdf2_override_limit(tmp_path: Path, light_doc: dict,  # type: ignore[type-arg]
                               no_kdf: None) -> None:
    doc = _standard_doc(light_doc)
    doc.pop("daoli")
    doc["crypto"]["kdf"] = "pbkdf2"
    file = tmp_path / "k.json"
    for c, normal, costly in ((262144, True, True), (262145, False, True),
                              (10_000_000, False, True), (10_000_001, False, False)):
        doc["crypto"]["kdfparams"] = {"c": c, "dklen": 32, "prf": "hmac-sha256",
                                      "salt": "00" * 16}
        file.write_text(json.dumps(doc))
        for allow, ok in ((False, normal), (True, costly)):
            if ok:
                assert read_keystore_file(file, allow_costly_kdf=allow).crypto.c == c
            else:
                with pytest.raises(WalletError, match=r"the limit is c <= "):
                    read_keystore_file(file, allow_costly_kdf=allow)


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_import_foreign_keystore_reencrypts_with_our_kdf(store: WalletStore, tmp_path: Path,
                                                          kdf: str) -> None:
    secret = b"\x13" * 32
    doc = create_keyfile_json(secret, b"their pw", kdf=kdf, iterations=4096 if kdf ==
                              "scrypt" else 1000)
    assert "daoli" not in doc
    file = tmp_path / "UTC--2020.json"
    file.write_text(json.dumps(doc))
    keystore = read_keystore_file(file)
    with pytest.raises(WalletError, match=r"wrong password for keystore file '.*UTC--2020"):
        store.import_keystore("w", keystore, "not theirs", light_kdf=True)
    assert not store.exists("w")
    info = store.import_keystore("w", keystore, "their pw", light_kdf=True)
    assert info.path is None and info.address == address_of(pubkey_from_secret(secret))
    assert store.unlock("w", "their pw") == secret  # same password, our format
    stored = json.loads(info.file.read_text())
    assert stored["crypto"]["kdf"] == "scrypt"
    assert stored["crypto"]["kdfparams"]["n"] == LIGHT_SCRYPT_N
    assert stored["daoli"]["pubkey"] == info.pubkey.hex()
    assert file.read_text() == json.dumps(doc)  # the source is left as it was


def test_import_old_geth_capitalised_crypto_and_0x_hex(store: WalletStore,
                                                        tmp_path: Path) -> None:
    doc = create_keyfile_json(b"\x14" * 32, b"pw", kdf="scrypt", iterations=4096)
    doc["Crypto"] = doc.pop("crypto")
    doc["Crypto"]["mac"] = "0x" + doc["Crypto"]["mac"]
    file = tmp_path / "old.json"
    file.write_text(json.dumps(doc))
    info = store.import_keystore("old", read_keystore_file(file), "pw", light_kdf=True)
    assert store.unlock("old", "pw") == b"\x14" * 32 and info.name == "old"


def test_import_our_own_file_keeps_its_path(store: WalletStore, tmp_path: Path) -> None:
    first = store.import_mnemonic("a", DEV_PHRASE, PW, light_kdf=True, account=3)
    copy = tmp_path / "a-backup.json"
    copy.write_bytes(first.file.read_bytes())
    again = store.import_keystore("b", read_keystore_file(copy), PW, light_kdf=True)
    assert (again.address, again.path) == (first.address, "m/44'/7771'/0'/0/3")
    # a daoli section that does not belong to the encrypted key is refused
    doc = json.loads(copy.read_text())
    doc["crypto"] = create_keyfile_json(b"\x22" * 32, PW.encode(), kdf="scrypt",
                                        iterations=4096)["crypto"]
    copy.write_text(json.dumps(doc))
    with pytest.raises(WalletError, match=r"does not match daoli\.pubkey"):
        store.import_keystore("c", read_keystore_file(copy), PW, light_kdf=True)
    assert not store.exists("c")


def test_keystore_file_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "big.json").write_bytes(b" " * (MAX_KEYSTORE_FILE + 1))
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for name, expected in [("dir.json", "is a directory"), ("big.json", "larger than"),
                           ("fifo.json", "not a regular file"),
                           ("zero.json", "not a regular file"),
                           ("missing.json", "does not exist")]:
        with pytest.raises(WalletError, match=expected) as err:
            read_keystore_file(tmp_path / name)
        assert str(err.value).startswith("keystore file '")


def test_special_files_in_the_wallet_dir_are_refused_not_read(store: WalletStore) -> None:
    # A FIFO would hang a blocking open or read, /dev/zero would be read for ever, and a
    # sparse file would be read whole before a size check: all are refused from fstat.
    good, _ = store.create("good", PW, light_kdf=True)
    os.mkfifo(store.directory / "fifo.json")
    (store.directory / "zero.json").symlink_to("/dev/zero")
    with open(store.directory / "sparse.json", "wb") as f:
        f.truncate(1 << 40)
    (store.directory / "dangling.json").symlink_to(store.directory / "nowhere")
    listed, bad = store.scan()
    assert listed == [good]
    reasons = {f.name: r for f, r in bad}
    assert set(reasons) == {"fifo.json", "zero.json", "sparse.json", "dangling.json"}
    assert "not a regular file" in reasons["fifo.json"]
    assert "not a regular file" in reasons["zero.json"]
    assert "larger than 65,536 bytes" in reasons["sparse.json"]
    assert "does not exist" in reasons["dangling.json"]
    with pytest.raises(WalletError, match="not a regular file"):
        store.unlock("fifo", PW)


def test_odd_wallet_directories_are_one_line_errors(tmp_path: Path) -> None:
    as_file = tmp_path / "file"
    as_file.write_text("x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {as_file: "is not a directory", loop: "symbolic link loop",
             fifo: "is not a directory", as_file / "w": "not a directory"}
    for directory, expected in cases.items():
        store = WalletStore(directory)
        calls = [store.names, store.scan, lambda s=store: s.info("a"),
                 lambda s=store: s.exists("a"), lambda s=store: s.unlock("a", PW),
                 lambda s=store: s.delete("a"),
                 lambda s=store: s.import_secret("a", b"\x11" * 32, PW, light_kdf=True)]
        for call in calls:
            with pytest.raises(WalletError, match=expected) as err:
                call()
            assert "\n" not in str(err.value)
    assert as_file.read_text() == "x"
    assert WalletStore(tmp_path / "missing").scan() == ([], [])


def test_permission_denied_is_one_line(store: WalletStore,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores file modes, so the OS errors are injected; test_wallet_cli.py runs the
    # same through chmod when not root.
    store.create("alice", PW, light_kdf=True)

    def denied(*_a: object, **_k: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "listdir", denied)
    with pytest.raises(WalletError, match=r"cannot list wallet directory '.*': permission "
                                          r"denied$"):
        store.scan()
    monkeypatch.undo()
    monkeypatch.setattr(os, "lstat", denied)
    with pytest.raises(WalletError, match=r"cannot read wallet 'alice': '.*alice.json': "
                                          r"permission denied$"):
        store.info("alice")
    with pytest.raises(WalletError, match="permission denied"):
        store.exists("alice")
    monkeypatch.undo()
    real_open = os.open

    def open_denied(path: object, flags: int, *a: object) -> int:
        if str(path).endswith("alice.json"):
            denied()
        return real_open(path, flags, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_denied)
    good, bad = store.scan()
    assert good == [] and "permission denied" in bad[0][1]


def test_non_utf8_names_are_reported_and_printable(tmp_path: Path) -> None:
    directory = Path(os.fsdecode(bytes(tmp_path) + b"/h\xff[red]x/wallets"))
    store = WalletStore(directory)
    info = store.import_secret("a", b"\x11" * 32, PW, light_kdf=True)
    (directory / os.fsdecode(b"b\xfe.json")).write_text("{}")
    good, bad = store.scan()
    assert good == [info]
    [(_file, reason)] = bad
    assert "\\xfe" in reason and "\\xff" in reason and "no valid wallet name" in reason
    reason.encode("utf-8")  # printable: the undecodable bytes are escaped, not surrogates
    with pytest.raises(WalletError) as err:
        store.info("missing")
    str(err.value).encode("utf-8")


@pytest.mark.parametrize("umask", [0o022, 0o277, 0o000])
def test_new_directories_are_exactly_0700(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        store = WalletStore(tmp_path / "home" / "wallets")
        store.import_secret("x", b"\x11" * 32, PW, light_kdf=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.file_of("x").stat().st_mode) == 0o600


def test_existing_directories_are_never_chmodded(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o755)
    store = WalletStore(home / "wallets")
    store.import_secret("x", b"\x11" * 32, PW, light_kdf=True)
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # not ours: left alone
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700  # ours: private
    store.directory.chmod(0o750)
    store.import_secret("y", b"\x12" * 32, PW, light_kdf=True)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o750


def test_phrase_is_saved_before_the_keystore(store: WalletStore) -> None:
    seen: list[str] = []

    def save(phrase: str) -> None:
        assert not store.exists("a")  # the keystore does not exist yet
        seen.append(phrase)

    info, phrase = store.create("a", PW, light_kdf=True, save_phrase=save)
    assert seen == [phrase]
    assert store.import_mnemonic("b", phrase, PW, light_kdf=True).address == info.address

    def fail(_phrase: str) -> None:
        raise WalletError("disk full")

    with pytest.raises(WalletError, match="disk full"):
        store.create("c", PW, light_kdf=True, save_phrase=fail)
    assert not store.exists("c")  # no wallet whose phrase was never saved


def test_write_new_private_file(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "phrase"
        write_new_private_file(target, b"words\n", "--mnemonic-out")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"words\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(WalletError, match="already exists"):
        write_new_private_file(target, b"other\n", "--mnemonic-out")
    assert target.read_bytes() == b"words\n"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")  # dangling: O_EXCL must not follow it
    with pytest.raises(WalletError, match="already exists"):
        write_new_private_file(link, b"x", "--mnemonic-out")
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(WalletError, match="does not exist"):
        write_new_private_file(tmp_path / "no" / "p", b"x", "--mnemonic-out")
