"""``daoli wallet ...``: commands, --json schemas, exit codes, and files left untouched."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_keyfile import decode_keyfile_json
from typer.testing import CliRunner

from daoli.cli.app import app
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.errors import DaoliError

DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_ADDRESS = "dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq"
WALLET_KEYS = {"name", "address", "pubkey", "path", "file", "created"}
PW = "s3cret pass"


class Run:
    """Runs the CLI in-process; a DaoliError reaching the top counts as its exit code,
    as ``main()`` would make it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, password: str | None = PW, stdin: str | None = None,
                 ) -> tuple[int, str, str]:
        env = {"DAOLI_HOME": str(self.home), "DAOLI_PASSWORD": password or ""}
        result = self.runner.invoke(app, ["wallet", *args], env=env, input=stdin)
        code = result.exit_code
        if isinstance(result.exception, DaoliError):
            code = result.exception.exit_code
        elif result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return code, result.stdout, result.stderr

    def json(self, *args: str, **kw: str | None) -> dict:  # type: ignore[type-arg]
        code, out, err = self(*args, "--json", **kw)  # type: ignore[arg-type]
        assert code == 0, err
        data = json.loads(out)
        assert isinstance(data, dict)
        return data


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path / "home")


def wallet_file(run: Run, name: str) -> Path:
    return run.home / "wallets" / f"{name}.json"


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_new_shows_mnemonic_once_and_json_schema(run: Run) -> None:
    data = run.json("new", "alice", "--light-kdf")
    assert set(data) == WALLET_KEYS | {"mnemonic"}
    assert len(data["mnemonic"].split()) == 24
    assert data["path"] == "m/44'/7771'/0'/0/0" and data["address"].startswith("dlc1")
    file = wallet_file(run, "alice")
    assert data["file"] == str(file)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    secret = decode_keyfile_json(json.loads(file.read_text()), PW.encode())
    assert address_of(pubkey_from_secret(secret)) == data["address"]
    assert data["mnemonic"] not in file.read_text()
    # Re-importing the shown phrase restores the same address.
    phrase = tmp = run.home / "phrase.txt"
    tmp.write_text(data["mnemonic"] + "\n")
    again = run.json("import", "restored", "--mnemonic-file", str(phrase), "--light-kdf")
    assert again["address"] == data["address"] and set(again) == WALLET_KEYS
    # Never shown again.
    for cmd in (["show", "alice"], ["list"], ["address", "alice"]):
        assert data["mnemonic"] not in run(*cmd)[1]


def test_new_human_output_warns(run: Run) -> None:
    code, out, _ = run("new", "bob", "--light-kdf", "--account", "2")
    assert code == 0
    assert "shown only this once" in out and "24." in out
    assert "m/44'/7771'/0'/0/2" in out


def test_import_mnemonic_and_key_file(run: Run, tmp_path: Path) -> None:
    phrase = tmp_path / "phrase"
    phrase.write_text("  " + DEV_PHRASE.replace(" ", "\n") + "\n")
    data = run.json("import", "dev", "--mnemonic-file", str(phrase), "--light-kdf")
    assert data["address"] == DEV_ADDRESS
    data1 = run.json("import", "dev1", "--mnemonic-file", str(phrase), "--light-kdf",
                     "--account", "1")
    assert data1["path"] == "m/44'/7771'/0'/0/1" and data1["address"] != DEV_ADDRESS

    key = tmp_path / "key"
    key.write_text("0x" + "11" * 32 + "\n")
    data = run.json("import", "raw", "--key-file", str(key), "--light-kdf")
    assert data["path"] is None
    assert data["address"] == address_of(pubkey_from_secret(b"\x11" * 32))
    exported = run.json("export", "raw")
    assert exported == {"name": "raw", "address": data["address"], "private_key": "11" * 32}


@pytest.mark.parametrize("args", [
    [],  # neither source
    ["--mnemonic-file", "PHRASE", "--key-file", "KEY"],  # both
    ["--key-file", "KEY", "--account", "1"],
    ["--key-file", "BADKEY"],
    ["--key-file", "ZEROKEY"],
    ["--mnemonic-file", "BADPHRASE"],
    ["--mnemonic-file", "MISSING"],
    ["--mnemonic-file", "PHRASE", "--account", "-1"],
])
def test_import_bad_input_exits_2(run: Run, tmp_path: Path, args: list[str]) -> None:
    files = {"PHRASE": DEV_PHRASE, "KEY": "11" * 32, "BADKEY": "zz" * 32, "ZEROKEY": "00" * 32,
             "BADPHRASE": DEV_PHRASE.replace("junk", "test")}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a) if a.isupper() else a for a in args]
    code, out, err = run("import", "w", *args, "--light-kdf")
    assert code == 2, (out, err)
    assert not wallet_file(run, "w").exists()


def test_list_show_address_export_delete(run: Run) -> None:
    assert run.json("list") == {"wallets": [], "unreadable": []}
    alice = run.json("new", "alice", "--light-kdf")
    bob = run.json("new", "bob", "--light-kdf")
    listed = run.json("list")
    assert [w["name"] for w in listed["wallets"]] == ["alice", "bob"]
    assert all(set(w) == WALLET_KEYS for w in listed["wallets"])
    assert listed["wallets"][0]["address"] == alice["address"]
    code, out, _ = run("list")
    assert code == 0 and alice["address"] in out and bob["address"] in out

    shown = run.json("show", "alice")
    assert shown == {k: alice[k] for k in WALLET_KEYS}
    code, out, _ = run("show", "alice", password=None)  # no password needed
    assert code == 0 and alice["pubkey"] in out

    assert run("address", "alice", password=None)[:2] == (0, alice["address"] + "\n")
    assert run.json("address", "alice") == {"name": "alice", "address": alice["address"]}

    code, out, err = run("export", "alice")
    assert code == 0 and len(out.strip()) == 64 and "warning" in err
    secret = bytes.fromhex(out.strip())
    assert address_of(pubkey_from_secret(secret)) == alice["address"]

    deleted = run.json("delete", "alice", "--yes")
    assert deleted == {"deleted": "alice", "address": alice["address"],
                       "file": alice["file"]}
    assert not Path(alice["file"]).exists()
    assert [w["name"] for w in run.json("list")["wallets"]] == ["bob"]
    assert run("show", "alice")[0] == 2


def test_password_file_and_precedence(run: Run, tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    pwfile.write_text("from-file\nignored second line\n")
    run.json("new", "w", "--light-kdf", "--password-file", str(pwfile), password="env-pw")
    secret = decode_keyfile_json(json.loads(wallet_file(run, "w").read_text()), b"from-file")
    assert len(secret) == 32
    assert run("export", "w", password="from-file")[0] == 0
    assert run("export", "w", password="env-pw")[0] == 2
    empty = tmp_path / "empty"
    empty.write_text("")
    assert run("export", "w", "--password-file", str(empty))[0] == 2
    assert run("export", "w", "--password-file", str(tmp_path / "nope"))[0] == 2


def test_no_password_and_no_terminal_exits_2(run: Run) -> None:
    code, _, _ = run("new", "w", "--light-kdf", password=None)
    assert code == 2
    assert not (run.home / "wallets").exists() or not wallet_file(run, "w").exists()


def test_errors_leave_files_untouched(run: Run, tmp_path: Path) -> None:
    run.json("new", "alice", "--light-kdf")
    file = wallet_file(run, "alice")
    before = snapshot(file)
    phrase = tmp_path / "phrase"
    phrase.write_text(DEV_PHRASE)
    for args, password in [
        (["new", "alice", "--light-kdf"], PW),  # existing name
        (["import", "alice", "--mnemonic-file", str(phrase), "--light-kdf"], PW),
        (["export", "alice"], "wrong"),
        (["delete", "alice", "--yes"], "wrong"),
        (["delete", "alice"], PW),  # no --yes and no terminal to confirm on
    ]:
        code, _, _ = run(*args, password=password)
        assert code == 2, args
        assert snapshot(file) == before, args

    # Corrupt file: every command fails with 2 and leaves it as it is.
    file.write_text('{"version": 3, "crypto": ')
    before = snapshot(file)
    for args in (["show", "alice"], ["address", "alice"], ["export", "alice"],
                 ["delete", "alice", "--yes"]):
        assert run(*args)[0] == 2, args
        assert snapshot(file) == before, args
    listed = run.json("list")
    assert listed["wallets"] == [] and listed["unreadable"][0]["file"] == str(file)
    # --force deletes even a corrupt file (its password cannot be checked).
    assert run.json("delete", "alice", "--yes", "--force") == {
        "deleted": "alice", "address": None, "file": str(file)}
    assert not file.exists()


@pytest.mark.parametrize("name", ["", "a b", "../evil", "x" * 65, "dot.json", "é"])
def test_bad_names_exit_2(run: Run, name: str) -> None:
    for args in (["new", name, "--light-kdf"], ["import", name, "--key-file", "k"],
                 ["show", name], ["address", name], ["export", name],
                 ["delete", name, "--yes"]):
        assert run(*args)[0] == 2, args
    assert not (run.home / "wallets").exists()


def _daoli(home: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAOLI_HOME": str(home), "DAOLI_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "daoli.cli.app", "wallet", *args],
                          env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def test_through_main_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok = _daoli(home, "new", "alice", "--light-kdf", "--json", password=PW)
    assert ok.returncode == 0, ok.stderr
    file = home / "wallets" / "alice.json"
    before = snapshot(file)

    wrong = _daoli(home, "export", "alice", password="bad")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == ["error: wrong password for wallet 'alice'"]
    assert "Traceback" not in wrong.stderr and wrong.stdout == ""

    dup = _daoli(home, "new", "alice", "--light-kdf", "--json", password=PW)
    assert dup.returncode == 2 and len(dup.stderr.strip().splitlines()) == 1
    assert json.loads(dup.stdout)["error"]["exit_code"] == 2
    assert "already exists" in json.loads(dup.stdout)["error"]["message"]

    no_pw = _daoli(home, "export", "alice", password="")
    assert no_pw.returncode == 2 and "--password-file" in no_pw.stderr
    assert len(no_pw.stderr.strip().splitlines()) == 1
    assert snapshot(file) == before
