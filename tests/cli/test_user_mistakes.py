"""User mistakes through the real entry point: one error line, the documented exit code, the
JSON error object with --json, no traceback, and nothing on disk changed."""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Genesis, GenesisTrustee
from daoli.core.params import ChainParams
from daoli.node.config import dump_genesis_toml
from daoli.node.home import Home

ROOT = Path(__file__).resolve().parents[2]
PUB = pubkey_from_secret(b"\x05" * 32)


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


NOBODY = _nobody()


def drop_to_nobody() -> None:
    """preexec_fn: become 'nobody' (we are root), so file modes apply to the CLI."""
    assert NOBODY is not None
    os.setgroups([])
    os.setgid(NOBODY.pw_gid)
    os.setuid(NOBODY.pw_uid)


@functools.cache
def nobody_python() -> tuple[tuple[str, ...], str] | None:
    """(argv prefix, PYTHONPATH) with which 'nobody' runs Python on this checkout, or None.

    This interpreter if 'nobody' may execute it; else (a virtualenv whose base Python lives
    under a private /root) the system interpreter of the same minor version, without site
    directories (-S) and with this environment's site-packages on PYTHONPATH.
    """
    if os.geteuid() != 0 or NOBODY is None:
        return None
    site = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [((sys.executable,), str(ROOT))]
    for directory in ("/usr/bin", "/usr/local/bin", "/bin"):
        system = shutil.which(version, path=directory)
        if system:
            candidates.append(((system, "-S"), os.pathsep.join((str(ROOT), site))))
    for argv, pythonpath in candidates:
        try:
            probe = subprocess.run([*argv, "-c", "import daoli.cli.app"], cwd="/",
                                   env={**os.environ, "PYTHONPATH": pythonpath},
                                   preexec_fn=drop_to_nobody, capture_output=True,
                                   timeout=120, check=False)
        except OSError:
            continue
        if probe.returncode == 0:
            return argv, pythonpath
    return None


as_nobody = pytest.mark.skipif(
    nobody_python() is None,
    reason="needs root, a user 'nobody' and a Python interpreter 'nobody' may run")


def daoli(*args: str | bytes, env: dict[str, str] | None = None,
          envb: dict[bytes, bytes] | None = None,
          user: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m daoli.cli.app ARGS`` (bytes arguments for non-UTF-8 file names), as
    'nobody' when ``user`` says so."""
    full: dict[bytes, bytes] = {**os.environb, **(envb or {})}
    full.update({k.encode(): v.encode() for k, v in (env or {}).items()})
    full[b"PYTHONDONTWRITEBYTECODE"] = b"1"
    full[b"PYTHONPATH"] = os.fsencode(ROOT)
    python: tuple[str, ...] = (sys.executable,)
    if user is not None:
        assert user == "nobody"
        found = nobody_python()
        assert found is not None
        python, pythonpath = found
        full[b"PYTHONPATH"] = os.fsencode(pythonpath)
        full[b"HOME"] = b"/nonexistent"
    return subprocess.run([*python, "-m", "daoli.cli.app", *args], env=full,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                          check=False, cwd="/" if user else ROOT,
                          preexec_fn=drop_to_nobody if user else None)


def assert_error(result: subprocess.CompletedProcess[bytes], code: int,
                 as_json: bool = False) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    assert result.returncode == code, err
    assert len(err.strip().splitlines()) == 1, err
    if as_json:
        doc = json.loads(result.stdout)
        assert set(doc) == {"error"} and set(doc["error"]) == {"message", "exit_code"}
        assert doc["error"]["exit_code"] == code
    return err


@pytest.mark.parametrize("args", [
    ["sim", "--trustees", "abc"],
    ["wallet", "new"],
    ["wallet", "new", "x", "--account", "-1"],
    ["chain", "new-genesis"],
])
def test_usage_errors_with_json_give_the_error_object(args: list[str]) -> None:
    assert_error(daoli(*args, "--json"), 2, as_json=True)


@pytest.mark.parametrize("option", ["--latency-ms", "--jitter-ms", "--loss", "--tx-rate"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_sim_refuses_non_finite_numbers(option: str, value: str) -> None:
    result = daoli("sim", "--heights", "1", option, value, "--json")
    assert option in assert_error(result, 2, as_json=True)


def test_new_genesis_out_unwritable_is_exit_2(tmp_path: Path) -> None:
    directory = tmp_path / "adir"
    directory.mkdir()
    (directory / "keep").write_text("x")
    assert_error(daoli("chain", "new-genesis", "--out", str(directory), "--force", "--json"),
                 2, as_json=True)
    assert (directory / "keep").read_text() == "x"
    assert_error(daoli("chain", "new-genesis", "--out", str(tmp_path / "no" / "g.toml")), 2)


def test_init_home_under_a_file_is_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_error(daoli("init", "--home", str(blocker / "home"), "--json"), 2, as_json=True)
    assert blocker.read_text() == "x"


def test_non_utf8_password_env_is_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = daoli("wallet", "new", "a", "--light-kdf", "--json",
                   envb={b"DAOLI_HOME": bytes(home), b"DAOLI_PASSWORD": b"p\xe9w"})
    assert "UTF-8" in assert_error(result, 2, as_json=True)
    assert not (home / "wallets" / "a.json").exists()


def test_genesis_time_beyond_u64_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "g.toml"
    assert_error(daoli("chain", "new-genesis", "--out", str(out), "--genesis-time-ms",
                       str(1 << 64), "--json"), 2, as_json=True)
    assert not out.exists()
    text = dump_genesis_toml(Genesis("net-1", 0, ChainParams()))
    out.write_text(text.replace("genesis_time_ms = 0", f"genesis_time_ms = {1 << 64}"))
    assert "genesis_time_ms" in assert_error(daoli("chain", "genesis", "--file", str(out)), 2)
    home = tmp_path / "n1"
    assert_error(daoli("init", "--home", str(home), "--genesis", str(out)), 2)
    assert not home.exists()


def test_wallet_list_survives_a_deeply_nested_file(tmp_path: Path) -> None:
    wallets = tmp_path / "home" / "wallets"
    wallets.mkdir(parents=True)
    (wallets / "deep.json").write_text("[" * 100_000)  # RecursionError or a segfault
    result = daoli("wallet", "list", "--json", env={"DAOLI_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr.decode()
    doc = json.loads(result.stdout)
    assert doc["wallets"] == [] and len(doc["unreadable"]) == 1


# --- hostile files, homes and paths: init, chain genesis, chain new-genesis --------------------


def write_genesis(path: Path, **changes: object) -> Genesis:
    fields: dict[str, object] = {"chain_id": "net-7", "genesis_time_ms": 1_700_000_000_000,
                                 "params": ChainParams(), "allocations": (), "trustees": ()}
    fields.update(changes)
    g = Genesis(**fields)  # type: ignore[arg-type]
    path.write_text(dump_genesis_toml(g))
    return g


def tree(path: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry under ``path``: mode, owner, inode and bytes (a link's target)."""
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            data = os.readlink(p).encode()
        elif stat.S_ISREG(st.st_mode):
            data = p.read_bytes()
        else:
            data = b""
        out[str(p.relative_to(path))] = (st.st_mode, st.st_uid, st.st_ino, data)
    return out


def one_json_error(result: subprocess.CompletedProcess[bytes], code: int = 2) -> str:
    """The one stderr line (without 'error: '), checked against the JSON error object."""
    err = assert_error(result, code, as_json=True)
    message = json.loads(result.stdout)["error"]["message"]
    assert err.strip() == f"error: {message}"
    return message


def make_hostile(path: Path, kind: str) -> None:
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")  # would be read for ever without a bound
    elif kind == "fifo":
        os.mkfifo(path)  # would hang a blocking open or read
    elif kind == "directory":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "huge":
        with path.open("wb") as f:  # sparse: over every limit, no disk used
            f.truncate((64 << 20) + 1)
    elif kind == "non-utf8":
        path.write_bytes(b'chain_id = "a\xff"\ngenesis_time_ms = 0\n')
    elif kind == "nested":
        path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "huge-int":
        path.write_text('chain_id = "a"\ngenesis_time_ms = ' + "9" * 5000 + "\n")
    elif kind == "wrong-type":
        path.write_text('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = [1, 2]\n')
    else:
        raise AssertionError(kind)


HOSTILE = {"dev-zero": "is not a regular file", "fifo": "is not a regular file",
           "directory": "is a directory", "loop": "symbolic link loop",
           "huge": "larger than 67,108,864 bytes", "non-utf8": "not UTF-8",
           "nested": "nested more than 32 levels", "huge-int": "too many digits",
           "wrong-type": "params.min_fee must be an integer, got an array"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_genesis_file_is_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "g.toml"
    make_hostile(bad, kind)
    for args in (["chain", "genesis", "--file", str(bad)],
                 ["init", "--home", str(tmp_path / "h"), "--genesis", str(bad)]):
        message = one_json_error(daoli(*args, "--json"))
        assert str(bad) in message and HOSTILE[kind] in message, message
    assert not (tmp_path / "h").exists()


def test_devices_are_not_genesis_files() -> None:
    for device in ("/dev/zero", "/dev/urandom", "/dev/null"):
        message = one_json_error(daoli("chain", "genesis", "--file", device, "--json"))
        assert f"genesis file '{device}'" in message and "not a regular file" in message


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_genesis_in_a_home_is_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "h"
    write_genesis(tmp_path / "g.toml")
    Home.create(home, genesis_file=tmp_path / "g.toml")
    make_hostile(home / "genesis.toml", kind)
    message = one_json_error(daoli("chain", "genesis", "--json", env={"DAOLI_HOME": str(home)}))
    assert str(home / "genesis.toml") in message and HOSTILE[kind] in message, message


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "loop", "huge"])
def test_init_force_with_a_hostile_dev_password_changes_nothing(tmp_path: Path,
                                                                 kind: str) -> None:
    pytest.importorskip("daoli.wallet.keystore")
    home = tmp_path / "h"
    Home.create(home)
    make_hostile(home / "dev.password", kind)
    before = tree(home)
    message = one_json_error(daoli("init", "--home", str(home), "--force", "--json"))
    assert str(home / "dev.password") in message, message
    assert ("is a directory" if kind == "directory" else "rename or delete that wallet"
            ) in message, message
    assert tree(home) == before


def test_home_that_is_a_symlink_loop_or_a_file(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    for args in (["init"], ["chain", "genesis"]):
        assert "symbolic link loop" in one_json_error(
            daoli(*args, "--home", str(loop), "--json"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "is not a directory" in one_json_error(
        daoli("chain", "genesis", "--home", str(blocker), "--json"))
    assert "not an initialised node home" in one_json_error(
        daoli("chain", "genesis", "--home", str(tmp_path / "none"), "--json"))


def test_non_utf8_paths(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    missing = base + b"/g\xff.toml"
    for args in (["chain", "genesis", "--file", missing],
                 ["init", "--home", base + b"/h0", "--genesis", missing]):
        message = one_json_error(daoli(*args, "--json"))
        assert "/g\\xff.toml'" in message and message.endswith("does not exist"), message
    good = base + b"/g\xfe.toml"
    g = write_genesis(Path(os.fsdecode(good)))
    result = daoli("chain", "genesis", "--file", good, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["genesis_id"] == g.id.hex()
    home = base + b"/home\xff"
    result = daoli("init", "--home", home, "--genesis", good, "--json")
    assert result.returncode == 0, result.stderr
    assert os.fsencode(json.loads(result.stdout)["home"]) == home
    assert os.path.isfile(home + b"/genesis.toml")
    result = daoli("chain", "genesis", "--json", envb={b"DAOLI_HOME": home})
    assert result.returncode == 0 and json.loads(result.stdout)["chain_id"] == "net-7"
    # human output shows the undecodable byte escaped, and nothing else goes wrong
    result = daoli("init", "--home", base + b"/dev\xff")
    assert result.returncode == 0, result.stderr
    assert "dev\\xff" in result.stdout.decode() and result.stderr == b""
    again = daoli("init", "--home", home, "--genesis", good)
    assert "home\\xff' is already initialised" in assert_error(again, 2)


@pytest.mark.parametrize("args", [
    ["init", "--home", ""],
    ["init", "--home", "", "--json"],
    ["init", "--genesis", "", "--json"],
    ["chain", "genesis", "--file", "", "--json"],
    ["chain", "new-genesis", "--out", "", "--json"],
])
def test_empty_paths_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "daoli.cli.app", *args], cwd=tmp_path,
                            env={**os.environ, "DAOLI_HOME": str(tmp_path / "env"),
                                 "PYTHONPATH": str(ROOT)},
                            capture_output=True, timeout=120, check=False)
    assert "empty" in assert_error(result, 2, as_json="--json" in args)
    assert list(tmp_path.iterdir()) == []  # not the current directory, not $DAOLI_HOME


def test_init_keeps_the_mode_of_an_existing_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o751)
    result = daoli("init", "--home", str(shared), "--json")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o751
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and "keeps its mode 0751" in warnings[0]
    assert result.stderr.decode().splitlines() == [f"warning: {warnings[0]}"]
    made = tmp_path / "new" / "home"
    result = daoli("init", "--home", str(made), env={"DAOLI_HOME": "x"})
    assert result.returncode == 0 and result.stderr == b""
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


def test_truncated_genesis_warns_on_stderr_and_in_json(tmp_path: Path) -> None:
    full = tmp_path / "full.toml"
    write_genesis(full)
    text = full.read_text()
    cut = tmp_path / "cut.toml"
    cut.write_text(text[:text.index("max_drift_ms")])  # cut short inside [params]
    for command in (["chain", "genesis", "--file", str(cut)],
                    ["init", "--genesis", str(cut), "--home"]):
        home = [str(tmp_path / "h")] if command[0] == "init" else []
        result = daoli(*command, *home, "--json")
        assert result.returncode == 0, result.stderr
        warnings = json.loads(result.stdout)["warnings"]
        assert len(warnings) == 1 and "leaves 18 parameter(s) to their defaults" in warnings[0]
        assert result.stderr.decode().splitlines() == [f"warning: {warnings[0]}"]
        home = [str(tmp_path / "h2")] if command[0] == "init" else []
        human = daoli(*command, *home)
        assert human.returncode == 0, human.stderr
        assert human.stderr.decode().splitlines() == [f"warning: {warnings[0]}"]
    for args in (["chain", "genesis", "--file", str(full), "--json"],
                 ["chain", "new-genesis", "--out", str(tmp_path / "new.toml"), "--json"]):
        result = daoli(*args)
        assert result.returncode == 0 and result.stderr == b""
        assert json.loads(result.stdout)["warnings"] == []


@pytest.mark.parametrize(("args", "needle"), [
    (["--p2p-listen", "/ip4/999.1.1.1/tcp/1"], "--p2p-listen '/ip4/999.1.1.1/tcp/1' is not a "
     "valid multiaddr"),
    (["--p2p-listen", "/ip4/1.2.3.4/tcp/70000"], "--p2p-listen"),
    (["--p2p-listen", "/ip4/1.2.3.4/tcp/1/garbage"], "--p2p-listen"),
    (["--p2p-listen", "/ip4/1.2.3.4/tcp/01"], "canonical form; write '/ip4/1.2.3.4/tcp/1'"),
    (["--p2p-listen", "1.2.3.4:1"], "--p2p-listen '1.2.3.4:1' is not a multiaddr"),
    (["--p2p-listen", "/ip4/127.0.0.1/tcp/0"], "port cannot be 0"),
    (["--api-listen", "999.999.999.999:0"], "--api-listen '999.999.999.999:0': "
     "'999.999.999.999' is not an IPv4 address"),
    (["--api-listen", "127.0.0.1:65536"], "--api-listen"),
    (["--api-listen", "127.0.0.1:80x"], "--api-listen"),
    (["--api-listen", "[::1]"], "--api-listen"),
    (["--chain-id", "a" * 500], "chain_id 'aaaa"),
    (["--chain-id", "net\n"], "chain_id 'net\\n'"),
])
def test_init_refuses_bad_listen_addresses(tmp_path: Path, args: list[str], needle: str) -> None:
    home = tmp_path / "h"
    message = one_json_error(daoli("init", "--home", str(home), *args, "--json"))
    assert needle in message and len(message) < 300, message
    assert not home.exists()


@pytest.mark.parametrize(("trustee", "needle"), [
    ("=/ip4/1.2.3.4/tcp/1", "66 hex digits"),
    ("{pub}=/ip4/999.1.1.1/tcp/1", "--trustee multiaddr '/ip4/999.1.1.1/tcp/1' is not a valid"),
    ("{pub}=/ip4/1.2.3.4/tcp/65536", "not a valid multiaddr"),
    ("{pub}=/ip4/1.2.3.4/tcp/1/junk", "not a valid multiaddr"),
    ("{pub}=/ip4/1.2.3.4/tcp/1/", "canonical form"),
    ("{pub}=/ip4/0.0.0.0/tcp/1", "only for listening"),
    ("{pub}=/ip4/1.2.3.4/tcp/0", "port 0"),
    ("{pub}=/dns/Host.example/tcp/1", "lower case"),
    ("{pub}=1.2.3.4:1", "not a multiaddr"),
    ("{pub}", "expected PUBKEY_HEX="),
    ("{spaced}=/ip4/1.2.3.4/tcp/1", "66 hex digits"),
])
def test_new_genesis_refuses_bad_trustees(tmp_path: Path, trustee: str, needle: str) -> None:
    out = tmp_path / "g.toml"
    value = trustee.format(pub=PUB.hex(), spaced=" ".join(PUB.hex()[i:i + 2]
                                                          for i in range(0, 66, 2)))
    message = one_json_error(daoli("chain", "new-genesis", "--out", str(out), "--trustee",
                                   value, "--json"))
    assert needle in message, message
    assert not out.exists()


def test_new_genesis_out_rules(tmp_path: Path) -> None:
    out = tmp_path / "g.toml"
    ok = daoli("chain", "new-genesis", "--out", str(out), "--trustee",
               f"{PUB.hex()}=/dns/node-1.example.org/tcp/26656", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["trustees"][0]["address"] == address_of(PUB)
    before = out.read_bytes()
    assert "exists; use --force" in one_json_error(
        daoli("chain", "new-genesis", "--out", str(out), "--json"))
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "nowhere")
    assert "exists; use --force" in one_json_error(
        daoli("chain", "new-genesis", "--out", str(link), "--json"))
    assert "is a directory" in one_json_error(
        daoli("chain", "new-genesis", "--out", str(tmp_path), "--force", "--json"))
    assert out.read_bytes() == before


def test_user_text_is_never_markup(tmp_path: Path) -> None:
    home = tmp_path / "a[" / "x] [bold]y"  # the path's text holds "[/x]" and "[bold]"
    result = daoli("init", "--home", str(home), env={"COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    assert f"node home {home} for development chain daoli-dev" in result.stdout.decode()
    again = daoli("init", "--home", str(home))
    assert f"'{home}' is already initialised" in assert_error(again, 2)
    g = tmp_path / "[red]g.toml"
    write_genesis(g, trustees=(GenesisTrustee(PUB, ChainParams().min_bond,
                                              "/dns/x-y.example/tcp/1"),))
    shown = daoli("chain", "genesis", "--file", str(g), env={"COLUMNS": "300"})
    assert shown.returncode == 0 and "/dns/x-y.example/tcp/1" in shown.stdout.decode()
    written = daoli("chain", "new-genesis", "--out", str(tmp_path / "[i]n.toml"))
    assert written.returncode == 0 and "[i]n.toml" in written.stdout.decode()


@pytest.mark.parametrize("command", [["init"], ["chain", "genesis"], ["chain", "new-genesis"]])
def test_help_has_examples(command: list[str]) -> None:
    result = daoli(*command, "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0 and "Examples" in result.stdout.decode()
    assert "daoli " + " ".join(command) in result.stdout.decode()


# --- as an unprivileged user -----------------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory 'nobody' can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="daoli-nobody-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


@as_nobody
def test_unreadable_files_and_homes_as_nobody(shared_tmp: Path) -> None:
    g = shared_tmp / "g.toml"
    write_genesis(g)
    os.chmod(g, 0o600)
    message = one_json_error(daoli("chain", "genesis", "--file", str(g), "--json",
                                   user="nobody"))
    assert f"genesis file '{g}'" in message and message.endswith("permission denied")
    assert "permission denied" in one_json_error(
        daoli("init", "--home", str(shared_tmp / "n"), "--genesis", str(g), "--json",
              user="nobody"))
    os.chmod(g, 0o644)
    home = shared_tmp / "home"
    assert daoli("init", "--home", str(home), "--genesis", str(g)).returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700  # nobody may not look inside
    message = one_json_error(daoli("chain", "genesis", "--home", str(home), "--json",
                                   user="nobody"))
    assert "permission denied" in message and str(home) in message
    # a home under a directory nobody may not write: nothing is created
    message = one_json_error(daoli("init", "--home", str(shared_tmp / "a" / "b"), "--genesis",
                                   str(g), "--json", user="nobody"))
    assert "permission denied" in message and not (shared_tmp / "a").exists()


@as_nobody
@pytest.mark.parametrize("name", ["genesis.toml", "config.toml", "node_key", "signer_key",
                                  "dev.password"])
def test_every_home_file_unreadable_as_nobody(shared_tmp: Path, name: str) -> None:
    home = shared_tmp / "home"
    assert daoli("init", "--home", str(home)).returncode == 0
    os.chmod(home, 0o755)
    os.chmod(home / "genesis.toml", 0o644)
    os.chmod(home / "config.toml", 0o644)
    os.chmod(home / name, 0o600)  # root's: unreadable to nobody
    reader = {"genesis.toml": "load_genesis", "config.toml": "load_config",
              "node_key": "node_secret", "signer_key": "signer_secret",
              "dev.password": "dev_password"}[name]
    code = ("import pathlib, sys\n"
            "from daoli.errors import ConfigError\n"
            "from daoli.node.home import Home\n"
            "try:\n"
            f"    Home(pathlib.Path(sys.argv[1])).{reader}()\n"
            "except ConfigError as exc:\n"
            "    print(exc)\n"
            "    sys.exit(2)\n")
    found = nobody_python()
    assert found is not None
    result = subprocess.run([*found[0], "-c", code, str(home)], capture_output=True,
                            timeout=120, check=False, cwd="/", preexec_fn=drop_to_nobody,
                            env={**os.environ, "PYTHONPATH": found[1],
                                 "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 2, result.stderr
    printed = result.stdout.decode().strip()
    assert f"'{home / name}'" in printed and printed.endswith("permission denied"), printed
    if name == "dev.password":  # and init --force, which reads it to reuse the dev wallet
        os.chmod(home, 0o777)
        os.chmod(home / "wallets", 0o755)
        message = one_json_error(daoli("init", "--home", str(home), "--force", "--json",
                                       user="nobody"))
        assert "permission denied" in message and "dev.password" in message


def _protected_hardlinks() -> bool:
    try:
        return Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1"
    except OSError:
        return False


@as_nobody
@pytest.mark.skipif(not _protected_hardlinks(), reason="needs fs.protected_hardlinks = 1")
def test_force_as_nobody_rolls_back_when_the_system_refuses_a_rename(shared_tmp: Path) -> None:
    """No monkeypatching: in a sticky directory (like /tmp) nobody may replace its own files
    but not root's config.toml, so the third of the four renames fails for real."""
    g = shared_tmp / "g.toml"
    write_genesis(g)
    home = shared_tmp / "home"
    assert daoli("init", "--home", str(home), "--genesis", str(g)).returncode == 0
    assert NOBODY is not None
    for name in ("node_key", "signer_key", "genesis.toml"):
        os.chown(home / name, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(home, 0o1777)
    before = tree(home)
    message = one_json_error(daoli("init", "--home", str(home), "--genesis", str(g), "--force",
                                   "--json", user="nobody"))
    assert message == f"cannot replace '{home / 'config.toml'}': permission denied"
    assert tree(home) == before  # the same files (inodes), byte for byte; no leftovers
