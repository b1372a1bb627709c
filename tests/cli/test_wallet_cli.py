"""``daoli wallet ...``: commands, --json schemas, exit codes, and files left untouched.

Most tests go through the real entry point (``python -m daoli.cli.app`` in a subprocess) to
check the contract: one line on stderr, the documented exit code, exactly one JSON object
under --json, no traceback, nothing on disk changed by a failure. Terminal behaviour (the
recovery-phrase panel, prompts, Ctrl-C and Ctrl-D) runs on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_keyfile import create_keyfile_json, decode_keyfile_json
from typer.testing import CliRunner

from daoli.cli.app import app, run
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.errors import DaoliError
from daoli.wallet import secret_from_mnemonic
from daoli.wallet.hd import default_path

DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_ADDRESS = "dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq"
WALLET_KEYS = {"name", "address", "pubkey", "path", "file", "created"}
PW = "s3cret pass"
COMMANDS = ["new", "import", "list", "show", "address", "export", "delete"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ----- running the CLI -----------------------------------------------------------------------


def base_env(home: Path, password: str | None = PW, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DAOLI_PASSWORD", "DAOLI_PASSWORD_FILE", "DAOLI_OUTPUT", "NO_COLOR")}
    env.update({"DAOLI_HOME": str(home), "COLUMNS": "120", **extra})
    if password is not None:
        env["DAOLI_PASSWORD"] = password
    return env


def daoli(home: Path, *args: str, password: str | None = PW, stdin: bytes | None = None,
          env: dict[str, str] | None = None, timeout: float = 60,
          ) -> subprocess.CompletedProcess[str]:
    """``daoli wallet ARGS`` through the real entry point, stdin closed unless given."""
    full = base_env(home, password, **(env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "daoli.cli.app", "wallet", *args], env=full,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, timeout=timeout, check=False)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Like :func:`daoli` but in this process, through :func:`daoli.cli.app.run` (what
    ``main()`` runs): the same exit codes and output, without an interpreter start-up per
    call. stdin is not a terminal, so no prompt can hang; secrets on stdin need
    :func:`daoli`."""

    def call(home: Path, *args: str, password: str | None = PW,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for key in ("DAOLI_PASSWORD", "DAOLI_PASSWORD_FILE", "DAOLI_OUTPUT", "NO_COLOR"):
                m.delenv(key, raising=False)
            for key, value in base_env(home, password, **(env or {})).items():
                m.setenv(key, value)
            code = run(["wallet", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["daoli", "wallet", *args], code, out, err)

    return call


def ok_json(result: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)  # exactly one object
    assert isinstance(doc, dict)
    return doc


def assert_error(result: subprocess.CompletedProcess[str], code: int = 2,
                 as_json: bool = False) -> str:
    """The contract for a failure: one stderr line, the exit code, the JSON error object."""
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == code, (result.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if as_json:
        doc = json.loads(result.stdout)
        assert set(doc) == {"error"} and set(doc["error"]) == {"message", "exit_code"}
        assert doc["error"]["exit_code"] == code
        assert doc["error"]["message"] == lines[0][len("error: "):]
    else:
        assert result.stdout == "", result.stdout
    return lines[0]


class Tty:
    """``daoli wallet ARGS`` with stdout (or stdin) on a pseudo-terminal, no controlling
    terminal (so getpass reads the pty, never the developer's terminal)."""

    def __init__(self, home: Path, *args: str, password: str | None = PW,
                 tty_stdin: bool = False, env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        full = base_env(home, password, NO_COLOR="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daoli.cli.app", "wallet", *args], env=full,
            stdin=slave if tty_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if tty_stdin else slave,
            stderr=subprocess.PIPE, start_new_session=True)
        os.close(slave)
        self.deadline = time.monotonic() + 60
        self.stderr = b""

    def wait_stderr(self, needle: bytes) -> None:
        """Read stderr until ``needle`` appears (the prompt is written after the terminal
        is set up, so input sent afterwards is not flushed away)."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while needle not in self.stderr:
            ready, _, _ = select.select([fd], [], [], self.deadline - time.monotonic())
            assert ready, f"no {needle!r} on stderr: {self.stderr!r}"
            chunk = os.read(fd, 4096)
            assert chunk, f"stderr closed before {needle!r}: {self.stderr!r}"
            self.stderr += chunk

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self) -> tuple[int, str, str]:
        """Exit code, output (terminal or stdout, ANSI codes removed) and stderr."""
        out = b""
        if self.proc.stdout is not None:  # stdin is the pty: stdout is a pipe
            out, err = self.proc.communicate(timeout=60)
        else:
            while True:
                ready, _, _ = select.select([self.master], [], [],
                                            self.deadline - time.monotonic())
                assert ready, "the command hung"
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            _, err = self.proc.communicate(timeout=60)
        os.close(self.master)
        text = ANSI.sub("", out.decode().replace("\r\n", "\n"))
        return self.proc.returncode, text, (self.stderr + err).decode()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def wallet_file(home: Path, name: str) -> Path:
    return home / "wallets" / f"{name}.json"


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def new_wallet(runner, home: Path, name: str, *extra: str,  # type: ignore[no-untyped-def]
               password: str | None = PW) -> dict:  # type: ignore[type-arg]
    return ok_json(runner(home, "new", name, "--light-kdf", "--discard-mnemonic", "--json",
                          *extra, password=password))


# ----- wallet new: where the recovery phrase goes ---------------------------------------------


@pytest.mark.parametrize("args", [["--json"], []])
def test_new_without_a_phrase_destination_is_refused_before_anything(
        home: Path, args: list[str]) -> None:
    # stdout is a pipe here, and --json never carries the phrase: refuse, create nothing
    result = daoli(home, "new", "alice", "--light-kdf", *args)
    message = assert_error(result, 2, as_json=bool(args))
    assert "--mnemonic-out" in message and "--discard-mnemonic" in message
    assert not home.exists()


def test_new_mnemonic_out_writes_a_private_file_first(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "alice.phrase"
    data = ok_json(daoli(home, "new", "alice", "--light-kdf", "--mnemonic-out", str(out),
                         "--json"))
    assert set(data) == WALLET_KEYS | {"mnemonic_file"}
    assert data["mnemonic_file"] == str(out)
    assert "mnemonic" not in data
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    phrase = out.read_text()
    assert phrase.endswith("\n") and len(phrase.split()) == 24
    # the phrase file restores the wallet's key; the phrase is not in the keystore
    secret = secret_from_mnemonic(phrase, default_path(0))
    assert address_of(pubkey_from_secret(secret)) == data["address"]
    file = Path(data["file"])
    assert phrase.strip() not in file.read_text()
    assert decode_keyfile_json(json.loads(file.read_text()), PW.encode()) == secret
    # the phrase never reaches the output of any later command
    for args in (["show", "alice"], ["list"], ["address", "alice"]):
        assert phrase.split()[0] + " " + phrase.split()[1] not in daoli(home, *args).stdout


def test_new_mnemonic_out_never_overwrites(home: Path, tmp_path: Path) -> None:
    existing = write(tmp_path / "precious", "do not touch\n")
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "target")
    for target in (existing, dangling):
        result = daoli(home, "new", "alice", "--light-kdf", "--mnemonic-out", str(target),
                       "--json")
        assert "already exists" in assert_error(result, 2, as_json=True)
    assert existing.read_text() == "do not touch\n"
    assert not (tmp_path / "target").exists()
    assert not home.exists()  # refused before the wallet directory was made
    for args in (["--mnemonic-out", str(tmp_path / "nodir" / "p")],
                 ["--mnemonic-out", "-"],
                 ["--mnemonic-out", str(tmp_path / "p"), "--discard-mnemonic"],
                 ["--mnemonic-out", ""]):
        assert_error(daoli(home, "new", "alice", "--light-kdf", *args, "--json"), 2,
                     as_json=True)
    assert not home.exists() and not (tmp_path / "p").exists()


def test_new_phrase_file_is_removed_when_no_wallet_was_written(home: Path,
                                                               tmp_path: Path) -> None:
    # the wallet directory is unwritable (a file): the phrase is written first, then
    # removed again because no wallet holds its key
    home.mkdir()
    write(home / "wallets", "not a directory")
    out = tmp_path / "p"
    assert_error(daoli(home, "new", "a", "--light-kdf", "--mnemonic-out", str(out)), 2)
    assert not out.exists()


def test_new_discard_mnemonic_json_and_human(cli, home: Path) -> None:
    data = new_wallet(cli, home, "alice")
    assert set(data) == WALLET_KEYS | {"mnemonic_file"} and data["mnemonic_file"] is None
    assert data["path"] == "m/44'/7771'/0'/0/0" and data["address"].startswith("dlc1")
    assert stat.S_IMODE(wallet_file(home, "alice").stat().st_mode) == 0o600
    result = cli(home, "new", "bob", "--light-kdf", "--discard-mnemonic", "--account", "2")
    assert result.returncode == 0, result.stderr
    assert "recovery phrase was discarded" in result.stderr
    assert "m/44'/7771'/0'/0/2" in result.stdout and "created wallet bob" in result.stdout
    # throwaway keys can still be exported
    assert len(ok_json(cli(home, "export", "bob", "--yes", "--json"))["private_key"]) == 64


def test_new_on_a_terminal_shows_the_phrase_panel(home: Path) -> None:
    code, out, err = Tty(home, "new", "alice", "--light-kdf", "--account", "1").finish()
    assert code == 0, err
    assert "Recovery phrase: shown only this once" in out
    assert "write it down offline" in out
    assert "[bold" not in out and "[/" not in out  # styles, never literal markup
    numbered = {int(n): w for n, w in re.findall(r"\b(\d+)\. ([a-z]+)", out)}
    assert sorted(numbered) == list(range(1, 25))  # shown in columns: 1-6, 7-12, ...
    phrase = " ".join(numbered[i] for i in range(1, 25))
    address = address_of(pubkey_from_secret(secret_from_mnemonic(phrase, default_path(1))))
    assert address in out and "created wallet alice" in out


def test_new_on_a_terminal_with_mnemonic_out_does_not_show_it(home: Path,
                                                              tmp_path: Path) -> None:
    out_file = tmp_path / "p"
    code, out, err = Tty(home, "new", "alice", "--light-kdf", "--mnemonic-out",
                         str(out_file)).finish()
    assert code == 0, err
    phrase = out_file.read_text().split()
    assert "recovery phrase written to" in out and "Recovery phrase:" not in out
    assert " ".join(phrase[:2]) not in out


# ----- import ------------------------------------------------------------------------------


def test_import_mnemonic_and_key_file(cli, home: Path, tmp_path: Path) -> None:
    phrase = write(tmp_path / "phrase", "  " + DEV_PHRASE.replace(" ", "\n") + "\n")
    data = ok_json(cli(home, "import", "dev", "--mnemonic-file", str(phrase),
                         "--light-kdf", "--json"))
    assert data["address"] == DEV_ADDRESS and set(data) == WALLET_KEYS
    data1 = ok_json(cli(home, "import", "dev1", "--mnemonic-file", str(phrase),
                          "--light-kdf", "--account", "1", "--json"))
    assert data1["path"] == "m/44'/7771'/0'/0/1" and data1["address"] != DEV_ADDRESS
    key = write(tmp_path / "key", "0x" + "11" * 32 + "\n")
    data = ok_json(cli(home, "import", "raw", "--key-file", str(key), "--light-kdf",
                         "--json"))
    assert data["path"] is None
    assert data["address"] == address_of(pubkey_from_secret(b"\x11" * 32))
    exported = ok_json(cli(home, "export", "raw", "--yes", "--json"))
    assert exported == {"name": "raw", "address": data["address"], "private_key": "11" * 32}


def test_import_secrets_from_stdin(home: Path) -> None:
    data = ok_json(daoli(home, "import", "m", "--mnemonic-file", "-", "--light-kdf",
                         "--json", stdin=DEV_PHRASE.encode()))
    assert data["address"] == DEV_ADDRESS
    data = ok_json(daoli(home, "import", "k", "--key-file", "-", "--light-kdf", "--json",
                         stdin=b"12" * 32 + b"\n"))
    assert data["address"] == address_of(pubkey_from_secret(b"\x12" * 32))
    # one secret per standard input
    for args, env in ((["--password-file", "-"], None),
                      ([], {"DAOLI_PASSWORD_FILE": "-"})):
        result = daoli(home, "import", "x", "--key-file", "-", *args, "--json",
                       stdin=b"13" * 32, env=env)
        assert "standard input" in assert_error(result, 2, as_json=True)
    # bounded: an endless stream is refused at the limit, not read to its end
    result = daoli(home, "import", "big", "--key-file", "-", stdin=b"1" * 100_000)
    assert "larger than" in assert_error(result, 2)


@pytest.mark.parametrize("args", [
    [],  # neither source
    ["--mnemonic-file", "PHRASE", "--key-file", "KEY"],  # two sources
    ["--key-file", "KEY", "--keystore", "STORE"],
    ["--key-file", "KEY", "--account", "1"],
    ["--keystore", "STORE", "--account", "1"],
    ["--key-file", "KEY", "--allow-costly-kdf"],
    ["--key-file", "BADKEY"],
    ["--key-file", "ZEROKEY"],
    ["--key-file", "/dev/zero"],
    ["--mnemonic-file", "BADPHRASE"],
    ["--mnemonic-file", "MISSING"],
    ["--mnemonic-file", "/dev/zero"],
    ["--mnemonic-file", "PHRASE", "--account", "-1"],
    ["--keystore", "BADPHRASE"],
    ["--keystore", "/dev/zero"],
])
def test_import_bad_input_exits_2(cli, home: Path, tmp_path: Path, args: list[str]) -> None:
    files = {"PHRASE": DEV_PHRASE, "KEY": "11" * 32, "BADKEY": "zz" * 32, "ZEROKEY": "00" * 32,
             "BADPHRASE": DEV_PHRASE.replace("junk", "test"), "STORE": "{}"}
    for name, text in files.items():
        write(tmp_path / name, text)
    args = [str(tmp_path / a) if a.isupper() else a for a in args]
    assert_error(cli(home, "import", "w", *args, "--light-kdf", "--json"), 2, as_json=True)
    assert not wallet_file(home, "w").exists()


def test_import_a_geth_keystore(cli, home: Path, tmp_path: Path) -> None:
    secret = b"\x21" * 32
    store = write(tmp_path / "UTC--2024-01-01T00-00-00Z--0a1b.json",
                  json.dumps(create_keyfile_json(secret, b"geth pw", kdf="scrypt",
                                                 iterations=4096)))
    result = cli(home, "import", "g", "--keystore", str(store), "--json",
                   password="not it")
    assert "wrong password for keystore file" in assert_error(result, 2, as_json=True)
    data = ok_json(cli(home, "import", "g", "--keystore", str(store), "--light-kdf",
                         "--json", password="geth pw"))
    assert set(data) == WALLET_KEYS and data["path"] is None
    assert data["address"] == address_of(pubkey_from_secret(secret))
    exported = ok_json(cli(home, "export", "g", "--yes", "--json", password="geth pw"))
    assert exported["private_key"] == secret.hex()
    stored = json.loads(wallet_file(home, "g").read_text())
    assert stored["crypto"]["kdfparams"]["n"] == 4096 and "daoli" in stored


def test_import_keystore_kdf_cap_and_override(cli, home: Path, tmp_path: Path) -> None:
    # pbkdf2 with c just above what `wallet new` spends: cheap enough to run in a test
    doc = create_keyfile_json(b"\x22" * 32, b"pw", kdf="pbkdf2", iterations=262145)
    store = write(tmp_path / "k.json", json.dumps(doc))
    message = assert_error(cli(home, "import", "k", "--keystore", str(store), "--json",
                                 password="pw"), 2, as_json=True)
    assert "pbkdf2 c=262,145" in message and "--allow-costly-kdf" in message
    data = ok_json(cli(home, "import", "k", "--keystore", str(store), "--light-kdf",
                         "--allow-costly-kdf", "--json", password="pw"))
    stored = json.loads(wallet_file(home, "k").read_text())
    assert stored["crypto"]["kdf"] == "scrypt"  # re-encrypted with our KDF
    assert ok_json(cli(home, "export", "k", "--yes", "--json", password="pw"))[
        "address"] == data["address"]


def test_costly_scrypt_refused_instantly_even_with_the_override(home: Path,
                                                                tmp_path: Path) -> None:
    doc = create_keyfile_json(b"\x23" * 32, b"pw", kdf="scrypt", iterations=4096)
    for n, r, p, allowed in ((1 << 23, 1, 16, False), (1 << 23, 8, 16, True)):
        doc["crypto"]["kdfparams"].update(n=n, r=r, p=p)
        store = write(tmp_path / "costly.json", json.dumps(doc))
        args = ["--allow-costly-kdf"] if allowed else []
        started = time.monotonic()
        result = daoli(home, "import", "c", "--keystore", str(store), *args, "--json",
                       password="pw", timeout=30)
        assert "the limit is" in assert_error(result, 2, as_json=True)
        assert time.monotonic() - started < 20  # minutes and a GiB if the KDF ran
    assert not wallet_file(home, "c").exists()


def test_wallet_file_with_costly_kdf_is_refused_instantly(cli, home: Path) -> None:
    new_wallet(cli, home, "a")
    file = wallet_file(home, "a")
    doc = json.loads(file.read_text())
    doc["crypto"]["kdfparams"].update(n=1 << 23, r=1, p=16)  # the 2 minutes, 1 GB
    file.write_text(json.dumps(doc))
    for args in (["export", "a", "--yes", "--json"], ["delete", "a", "--yes", "--json"],
                 ["show", "a", "--json"]):
        result = daoli(home, *args, timeout=30)
        message = assert_error(result, 2, as_json=True)
        assert "n=8388608, r=1, p=16" in message and "the limit is 256 MiB" in message
    listed = ok_json(daoli(home, "list", "--json"))
    assert listed["wallets"] == [] and "the limit is" in listed["unreadable"][0]["error"]


# ----- list, show, address, export, delete ---------------------------------------------------


def test_list_show_address_export_delete(cli, home: Path) -> None:
    assert ok_json(cli(home, "list", "--json")) == {"wallets": [], "unreadable": []}
    alice = new_wallet(cli, home, "alice")
    bob = new_wallet(cli, home, "bob")
    listed = ok_json(cli(home, "list", "--json"))
    assert [w["name"] for w in listed["wallets"]] == ["alice", "bob"]
    assert all(set(w) == WALLET_KEYS for w in listed["wallets"])
    result = cli(home, "list")
    assert result.returncode == 0 and alice["address"] in result.stdout
    assert bob["address"] in result.stdout

    shown = ok_json(cli(home, "show", "alice", "--json", password=None))
    assert shown == {k: alice[k] for k in WALLET_KEYS}
    result = cli(home, "show", "alice", password=None)  # no password needed
    assert result.returncode == 0 and alice["pubkey"] in result.stdout
    result = cli(home, "address", "alice", password=None)
    assert (result.returncode, result.stdout) == (0, alice["address"] + "\n")
    assert ok_json(cli(home, "address", "alice", "--json")) == {
        "name": "alice", "address": alice["address"]}

    result = cli(home, "export", "alice", "--yes")
    assert result.returncode == 0 and len(result.stdout.strip()) == 64
    assert "warning" in result.stderr
    secret = bytes.fromhex(result.stdout.strip())
    assert address_of(pubkey_from_secret(secret)) == alice["address"]

    deleted = ok_json(cli(home, "delete", "alice", "--yes", "--json"))
    assert deleted == {"deleted": "alice", "address": alice["address"],
                       "file": alice["file"]}
    assert not Path(alice["file"]).exists()
    assert [w["name"] for w in ok_json(cli(home, "list", "--json"))["wallets"]] == ["bob"]
    assert_error(cli(home, "show", "alice"), 2)


def test_export_refuses_a_non_terminal_without_yes(cli, home: Path) -> None:
    new_wallet(cli, home, "alice")
    for args in (["--json"], []):
        result = daoli(home, "export", "alice", *args)
        message = assert_error(result, 2, as_json=bool(args))
        assert "--yes" in message and "terminal" in message
        assert "private_key" not in result.stdout
    # refused before the password is even asked for
    assert "--yes" in assert_error(daoli(home, "export", "alice", password=None), 2)


def test_export_on_a_terminal_needs_no_yes(cli, home: Path) -> None:
    data = new_wallet(cli, home, "alice")
    code, out, err = Tty(home, "export", "alice").finish()
    assert code == 0, err
    secret = bytes.fromhex(out.strip())
    assert address_of(pubkey_from_secret(secret)) == data["address"]
    assert "anyone who sees this key" in err


def test_password_precedence(cli, home: Path, tmp_path: Path) -> None:
    file_pw = write(tmp_path / "pw", "from-file\nignored second line\n")
    env_file_pw = write(tmp_path / "envpw", "from-env-file\n")
    # --password-file beats $DAOLI_PASSWORD_FILE beats $DAOLI_PASSWORD
    new_wallet(cli, home, "a", "--password-file", str(file_pw))
    new_wallet(cli, home, "b", password="env-pw")
    ok_json(cli(home, "new", "c", "--light-kdf", "--discard-mnemonic", "--json",
                password="env-pw", env={"DAOLI_PASSWORD_FILE": str(env_file_pw)}))
    for name, password in (("a", b"from-file"), ("b", b"env-pw"), ("c", b"from-env-file")):
        doc = json.loads(wallet_file(home, name).read_text())
        assert len(decode_keyfile_json(doc, password)) == 32, name
    assert cli(home, "export", "a", "--yes", password="from-file").returncode == 0
    assert_error(cli(home, "export", "a", "--yes", password="env-pw"), 2)
    assert daoli(home, "export", "c", "--yes", "--password-file", "-",
                 stdin=b"from-env-file\n").returncode == 0
    assert daoli(home, "export", "c", "--yes", password=None, stdin=b"from-env-file\r\n",
                 env={"DAOLI_PASSWORD_FILE": "-"}).returncode == 0
    empty = write(tmp_path / "empty", "")
    for args, env in ((["--password-file", str(empty)], None),
                      (["--password-file", str(tmp_path / "nope")], None),
                      (["--password-file", "/dev/zero"], None),
                      ([], {"DAOLI_PASSWORD_FILE": str(empty)})):
        assert_error(cli(home, "export", "a", "--yes", *args, env=env), 2)
    # an error from the environment's file says where that file name came from
    message = assert_error(cli(home, "export", "a", "--yes",
                               env={"DAOLI_PASSWORD_FILE": str(tmp_path / "gone")}), 2)
    assert "does not exist (from $DAOLI_PASSWORD_FILE)" in message


def test_no_password_and_no_terminal_exits_2_at_once(home: Path) -> None:
    for args in (["new", "w", "--light-kdf", "--discard-mnemonic"],
                 ["import", "w", "--mnemonic-file", "-"]):
        result = daoli(home, *args, "--json", password=None, timeout=30,
                       stdin=DEV_PHRASE.encode() if "-" in args else None)
        message = assert_error(result, 2, as_json=True)
        assert "DAOLI_PASSWORD_FILE" in message and "no terminal" in message
    assert not wallet_file(home, "w").exists()


def test_prompt_reads_the_terminal(home: Path) -> None:
    tty = Tty(home, "new", "p", "--light-kdf", "--discard-mnemonic", "--json",
              password=None, tty_stdin=True)
    tty.wait_stderr(b"Password: ")
    tty.type(b"typed pw\n")
    tty.wait_stderr(b"Repeat password: ")
    tty.type(b"typed pw\n")
    code, out, err = tty.finish()
    assert code == 0, err
    assert json.loads(out)["name"] == "p"
    doc = json.loads(wallet_file(home, "p").read_text())
    assert len(decode_keyfile_json(doc, b"typed pw")) == 32


@pytest.mark.parametrize(("key", "code", "expected"), [
    (b"\x04", 2, "no password given (end of input)"),  # Ctrl-D
    (None, 1, "interrupted"),  # Ctrl-C (SIGINT)
])
def test_prompt_ctrl_d_and_ctrl_c_give_the_error_object(
        home: Path, tmp_path: Path, key: bytes | None, code: int, expected: str) -> None:
    out_file = tmp_path / "phrase"
    tty = Tty(home, "new", "w", "--light-kdf", "--mnemonic-out", str(out_file), "--json",
              password=None, tty_stdin=True)
    tty.wait_stderr(b"Password: ")
    if key is None:
        tty.proc.send_signal(signal.SIGINT)
    else:
        tty.type(key)
    exit_code, out, err = tty.finish()
    assert exit_code == code, err
    assert "Traceback" not in err
    assert json.loads(out) == {"error": {"message": expected, "exit_code": code}}
    assert err.strip().splitlines()[-1] == f"error: {expected}"
    assert not out_file.exists() and not wallet_file(home, "w").exists()


def test_delete_needs_password_or_force_and_confirmation(cli, home: Path) -> None:
    new_wallet(cli, home, "alice")
    file = wallet_file(home, "alice")
    before = snapshot(file)
    assert_error(daoli(home, "delete", "alice", "--yes", password="wrong"), 2)
    assert_error(daoli(home, "delete", "alice"), 2)  # no --yes, no terminal to confirm on
    assert snapshot(file) == before
    tty = Tty(home, "delete", "alice", password=PW, tty_stdin=True)
    tty.wait_stderr(b"[y/N]: ")
    tty.type(b"n\n")
    code, _, err = tty.finish()
    assert code == 1 and "not deleted" in err and snapshot(file) == before
    tty = Tty(home, "delete", "alice", password=PW, tty_stdin=True)
    tty.wait_stderr(b"[y/N]: ")
    tty.type(b"y\n")
    code, out, err = tty.finish()
    assert code == 0, err
    assert "deleted wallet alice" in out and not file.exists()


def test_errors_leave_files_untouched(cli, home: Path, tmp_path: Path) -> None:
    new_wallet(cli, home, "alice")
    file = wallet_file(home, "alice")
    before = snapshot(file)
    phrase = write(tmp_path / "phrase", DEV_PHRASE)
    for args, password in [
        (["new", "alice", "--light-kdf", "--discard-mnemonic"], PW),  # existing name
        (["import", "alice", "--mnemonic-file", str(phrase), "--light-kdf"], PW),
        (["export", "alice", "--yes"], "wrong"),
        (["delete", "alice", "--yes"], "wrong"),
        (["delete", "alice"], PW),  # no --yes and no terminal to confirm on
    ]:
        assert_error(cli(home, *args, password=password), 2)
        assert snapshot(file) == before, args

    # A corrupt file: every command fails with 2 and leaves it as it is.
    file.write_text('{"version": 3, "crypto": ')
    before = snapshot(file)
    for args in (["show", "alice"], ["address", "alice"], ["export", "alice", "--yes"],
                 ["delete", "alice", "--yes"]):
        assert_error(cli(home, *args, "--json"), 2, as_json=True)
        assert snapshot(file) == before, args
    listed = ok_json(cli(home, "list", "--json"))
    assert listed["wallets"] == [] and listed["unreadable"][0]["file"] == str(file)
    # --force deletes even a corrupt file (its password cannot be checked).
    assert ok_json(cli(home, "delete", "alice", "--yes", "--force", "--json")) == {
        "deleted": "alice", "address": None, "file": str(file)}
    assert not file.exists()


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["crypto"]["kdfparams"].pop("salt"), "crypto.kdfparams.salt is missing"),
    (lambda d: d.update(crypto="abc"), "crypto is not an object"),
    (lambda d: d["crypto"].update(cipherparams="[/x]"), "crypto.cipherparams is not an obj"),
    (lambda d: d["daoli"].update(pubkey=7), "daoli.pubkey is not a string"),
])
def test_corrupt_wallet_messages_name_the_field(cli, home: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    new_wallet(cli, home, "alice")
    file = wallet_file(home, "alice")
    doc = json.loads(file.read_text())
    edit(doc)
    file.write_text(json.dumps(doc))
    for args in (["show", "alice"], ["export", "alice", "--yes"]):
        message = assert_error(cli(home, *args, "--json"), 2, as_json=True)
        assert message.startswith(f"error: wallet file '{file}' is corrupt: {expected}"), \
            message
        for leak in ("string indices", "'salt'", "KeyError", "TypeError"):
            assert leak not in message


@pytest.mark.parametrize("name", ["", "a b", "../evil", "x" * 65, "dot.json", "é", "[/x]",
                                  "[bold red]hi"])
def test_bad_names_exit_2(cli, home: Path, name: str) -> None:
    for args in (["new", name, "--light-kdf", "--discard-mnemonic"],
                 ["import", name, "--key-file", "k"], ["show", name], ["address", name],
                 ["export", name, "--yes"], ["delete", name, "--yes"]):
        message = assert_error(cli(home, *args, "--json"), 2, as_json=True)
        assert "invalid wallet name" in message
        if name.startswith("["):
            assert name in message  # shown as typed, never taken as markup
    assert not (home / "wallets").exists()


def test_through_main_one_line_errors(cli, home: Path) -> None:
    new_wallet(cli, home, "alice")
    file = wallet_file(home, "alice")
    before = snapshot(file)
    wrong = daoli(home, "export", "alice", "--yes", password="bad")
    assert assert_error(wrong, 2) == "error: wrong password for wallet 'alice'"
    dup = daoli(home, "new", "alice", "--light-kdf", "--discard-mnemonic", "--json")
    assert "already exists" in assert_error(dup, 2, as_json=True)
    no_pw = daoli(home, "export", "alice", "--yes", password="")
    assert "--password-file" in assert_error(no_pw, 2)
    markup = daoli(home, "show", "[/x]", "--json")  # once crashed the error printer
    assert "'[/x]'" in assert_error(markup, 2, as_json=True)
    assert snapshot(file) == before


# ----- hostile wallet directories ------------------------------------------------------------


def test_list_survives_fifo_dev_zero_and_huge_files(cli, home: Path) -> None:
    good = new_wallet(cli, home, "good")
    wallets = home / "wallets"
    os.mkfifo(wallets / "x.json")  # a blocking read would hang for ever
    (wallets / "z.json").symlink_to("/dev/zero")  # a read would never end
    with open(wallets / "sparse.json", "wb") as f:
        f.truncate(1 << 40)
    (wallets / "deep.json").write_text("[" * 100_000)
    listed = ok_json(daoli(home, "list", "--json", timeout=30))
    assert [w["name"] for w in listed["wallets"]] == ["good"]
    assert listed["wallets"][0]["address"] == good["address"]
    errors = {Path(u["file"]).name: u["error"] for u in listed["unreadable"]}
    assert set(errors) == {"x.json", "z.json", "sparse.json", "deep.json"}
    assert "not a regular file" in errors["x.json"] and "not a regular file" in errors["z.json"]
    result = daoli(home, "list", timeout=30)
    assert result.returncode == 0 and "good" in result.stdout
    assert result.stderr.count("warning: skipped") == 4
    for name in ("x", "z", "sparse"):
        assert_error(daoli(home, "show", name, timeout=30), 2)


def test_odd_wallet_directories_are_one_line(cli, tmp_path: Path) -> None:
    loop_home = tmp_path / "loop"
    loop_home.mkdir()
    (loop_home / "wallets").symlink_to(loop_home / "wallets")
    file_home = tmp_path / "filehome"
    file_home.mkdir()
    write(file_home / "wallets", "x")
    fifo_home = tmp_path / "fifo"
    os.mkfifo(fifo_home)
    cases = [(loop_home, "symbolic link loop"), (file_home, "not a directory"),
             (fifo_home, "not a directory")]
    key = write(tmp_path / "key", "11" * 32)
    for home, expected in cases:
        for args in (["list"], ["show", "a"], ["new", "a", "--light-kdf",
                                               "--discard-mnemonic"],
                     ["import", "a", "--key-file", str(key)], ["delete", "a", "--force"]):
            result = cli(home, *args, "--json")
            assert expected in assert_error(result, 2, as_json=True), (home, args)
    # and through the real entry point, with the key on stdin
    result = daoli(loop_home, "import", "a", "--key-file", "-", "--json", stdin=b"11" * 32)
    assert "symbolic link loop" in assert_error(result, 2, as_json=True)
    assert (file_home / "wallets").read_text() == "x"


def test_non_utf8_and_markup_paths_print_safely(cli, tmp_path: Path) -> None:
    home = Path(os.fsdecode(bytes(tmp_path) + b"/h\xff[red]x[/]"))
    data = new_wallet(cli, home, "w")
    assert data["file"] == str(home / "wallets" / "w.json")
    result = cli(home, "list")
    assert result.returncode == 0, result.stderr
    result = cli(home, "show", "w")
    assert result.returncode == 0 and "\\xff[red]x[/]" in result.stdout
    (home / "wallets" / os.fsdecode(b"b\xfe.json")).write_text("{}")
    listed = ok_json(cli(home, "list", "--json"))
    assert len(listed["wallets"]) == 1 and len(listed["unreadable"]) == 1
    assert "\\xfe" in listed["unreadable"][0]["error"]
    result = cli(Path(str(home) + "2"), "list")
    assert result.returncode == 0 and "\\xff[red]x[/]2" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes; keystore tests "
                    "inject the same errors in-process")
def test_permission_denied_is_one_line(cli, home: Path) -> None:  # pragma: no cover - non-root
    new_wallet(cli, home, "alice")
    wallets = home / "wallets"
    try:
        wallets.chmod(0o000)
        assert "permission denied" in assert_error(daoli(home, "list", "--json"), 2,
                                                   as_json=True)
        assert "permission denied" in assert_error(daoli(home, "show", "alice"), 2)
        wallets.chmod(0o700)
        wallet_file(home, "alice").chmod(0o000)
        listed = ok_json(daoli(home, "list", "--json"))
        assert "permission denied" in listed["unreadable"][0]["error"]
    finally:
        wallets.chmod(0o700)
        wallet_file(home, "alice").chmod(0o600)


def test_new_creates_home_0700_and_leaves_existing_dirs_alone(cli, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "home"
    ok_json(cli(fresh, "new", "a", "--light-kdf", "--discard-mnemonic", "--json"))
    for directory in (tmp_path / "fresh", fresh, fresh / "wallets"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    key = write(tmp_path / "key", "11" * 32)
    ok_json(cli(shared, "import", "b", "--key-file", str(key), "--light-kdf", "--json"))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "wallets").stat().st_mode) == 0o700


# ----- help and start-up ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_wallet_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(app, ["wallet", *command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Examples" in text and "daoli " in text.split("Examples", 1)[1]
    assert "**" not in text and "[/" not in text


def test_help_documents_the_new_options() -> None:
    def help_of(*args: str) -> str:
        result = CliRunner().invoke(app, ["wallet", *args, "--help"], env={"COLUMNS": "200"})
        return " ".join(result.stdout.split())

    assert "--mnemonic-out" in help_of("new") and "--discard-mnemonic" in help_of("new")
    assert '"mnemonic_file"' in help_of("new")
    text = help_of("import")
    assert "--keystore" in text and "--allow-costly-kdf" in text and "2 GiB" in text
    assert "--yes" in help_of("export")
    assert "DAOLI_PASSWORD_FILE" in help_of()


def test_wallet_cli_source_has_no_markup_strings() -> None:
    source = (Path(__file__).resolve().parents[2] / "daoli" / "cli" / "wallet.py").read_text()
    assert not re.search(r"\[/?(bold|red|yellow|green|dim|cyan|blue|italic)\b", source)


def test_help_start_up_does_not_import_eth_keyfile() -> None:
    code = ("import sys; from daoli.cli.app import run; run(['wallet', '--help']); "
            "sys.stderr.write(str(sorted(m for m in sys.modules if m.startswith("
            "('eth_keyfile', 'py_ecc')))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stderr.strip() == "[]", result.stderr


# ----- in-process runner (for coverage of the typer wiring) -----------------------------------


def test_in_process_runner_matches_the_entry_point(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"DAOLI_HOME": str(tmp_path / "h"), "DAOLI_PASSWORD": PW,
           "DAOLI_PASSWORD_FILE": None}
    result = runner.invoke(app, ["wallet", "new", "a", "--light-kdf", "--discard-mnemonic",
                                 "--json"], env=env)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mnemonic_file"] is None
    result = runner.invoke(app, ["wallet", "new", "b", "--light-kdf"],
                           env=env)  # type: ignore[arg-type]
    assert isinstance(result.exception, DaoliError) and result.exception.exit_code == 2
