"""The conventions every command inherits (daoli/cli/common.py, app.py), through the real entry
point: global options parsed wherever they stand, one-line errors, one JSON object, no markup
interpretation of user text, and exit codes 0-4."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.main import get_command

from daoli import __version__
from daoli.cli.app import app, json_requested
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def daoli(*args: str | bytes, env: dict[str, str] | None = None, home: Path | None = None,
          stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    full["PYTHONPATH"] = str(ROOT)
    if home is not None:
        full["DAOLI_HOME"] = str(home)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "daoli.cli.app", *args], env=full,
                          capture_output=True, timeout=120, stdin=stdin, check=False)


def error_line(r: subprocess.CompletedProcess[bytes], code: int) -> str:
    err = r.stderr.decode("utf-8")
    assert "Traceback" not in err, err
    assert r.returncode == code, (r.returncode, err, r.stdout)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def one_object(r: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    doc = json.loads(r.stdout)
    assert isinstance(doc, dict)
    assert r.stdout.decode().count("\n") == 1
    return doc


@pytest.mark.parametrize("argv", [
    ["--json", "wallet", "list"],
    ["wallet", "--json", "list"],
    ["wallet", "list", "--json"],
    ["--home", "{home}", "--json", "wallet", "list"],
    ["--json", "--home", "{home}", "wallet", "list"],
    ["wallet", "list", "--home", "{home}", "--json"],
])
def test_global_options_before_or_after_the_subcommand(tmp_path: Path, argv: list[str]) -> None:
    home = tmp_path / "h"
    args = [a.replace("{home}", str(home)) for a in argv]
    r = daoli(*args, home=tmp_path / "not-this-one")
    assert r.returncode == 0, r.stderr
    doc = one_object(r)
    assert doc == {"wallets": [], "unreadable": []}


def test_home_from_root_reaches_the_command(tmp_path: Path) -> None:
    home = tmp_path / "h"
    r = daoli("--home", str(home), "init", "--json", home=tmp_path / "env-home")
    assert r.returncode == 0, r.stderr
    assert one_object(r)["home"] == str(home)
    assert (home / "genesis.toml").exists() and not (tmp_path / "env-home").exists()


def test_option_value_that_looks_like_json_flag_is_a_value(tmp_path: Path) -> None:
    # `--home --json` names a home called "--json": human output, not JSON
    r = daoli("--home", "--json", "wallet", "list", home=tmp_path)
    assert r.returncode == 0
    assert not r.stdout.startswith(b"{")
    root = get_command(app)
    assert not json_requested(root, ["--home", "--json", "wallet", "list"])
    assert json_requested(root, ["wallet", "list", "--json"])
    assert not json_requested(root, ["wallet", "--", "--json"])


def test_daoli_output_env(tmp_path: Path) -> None:
    r = daoli("wallet", "list", env={"DAOLI_OUTPUT": "json"}, home=tmp_path)
    assert one_object(r) == {"wallets": [], "unreadable": []}
    r = daoli("wallet", "list", "--bogus", env={"DAOLI_OUTPUT": "json"}, home=tmp_path)
    error_line(r, 2)
    assert one_object(r)["error"]["exit_code"] == 2  # type: ignore[index]
    r = daoli("wallet", "list", env={"DAOLI_OUTPUT": "yaml"}, home=tmp_path)
    assert "DAOLI_OUTPUT" in error_line(r, 2)


@pytest.mark.parametrize("argv", [["--version"], ["--version", "--json"],
                                  ["--json", "--version"]])
def test_version(argv: list[str]) -> None:
    r = daoli(*argv)
    assert r.returncode == 0
    if "--json" in argv:
        assert one_object(r) == {"version": __version__}
    else:
        assert r.stdout.decode() == f"daoli {__version__}\n"


@pytest.mark.parametrize("argv", [
    ["wallet", "list", "--bogus"],
    ["--bogus"],
    ["sim", "--trustees", "abc"],
    ["wallet", "nosuch"],
    ["units"],
])
def test_usage_errors_are_one_line(argv: list[str], tmp_path: Path) -> None:
    r = daoli(*argv, home=tmp_path)
    line = error_line(r, 2)
    assert "--help" in line
    rj = daoli(*argv, "--json", home=tmp_path)
    error_line(rj, 2)
    assert one_object(rj)["error"] == {"message": line.removeprefix("error: "),  # type: ignore[comparison-overlap]
                                        "exit_code": 2}


def test_bare_group_shows_help_or_json_error(tmp_path: Path) -> None:
    r = daoli("wallet", home=tmp_path)
    assert r.returncode == 0 and b"Usage" in r.stdout
    r = daoli("--json", "wallet", home=tmp_path)
    error_line(r, 2)
    assert one_object(r)["error"]["message"].startswith("missing command")  # type: ignore[index]


@pytest.mark.parametrize("hostile", ["[/x]", "[bold red]hi", "x\x1b[31mred\x07",
                                     os.fsdecode(b"\xff\xfe")])
def test_user_text_is_never_markup(hostile: str, tmp_path: Path) -> None:
    r = daoli("wallet", "show", hostile, home=tmp_path)
    line = error_line(r, 2)
    if hostile.startswith("["):
        assert hostile in line  # printed as typed, not eaten as a style
    assert "\x1b" not in line and "\x07" not in line
    rj = daoli("--json", "units", hostile)
    error_line(rj, 2)
    assert one_object(rj)["error"]["exit_code"] == 2  # type: ignore[index]


def test_no_color(tmp_path: Path) -> None:
    env = {"TERM": "xterm-256color", "FORCE_COLOR": "1"}
    r = daoli("wallet", "show", "nope", home=tmp_path, env=env)
    assert b"\x1b[" in r.stderr  # colour when forced
    r = daoli("--no-color", "wallet", "show", "nope", home=tmp_path, env=env)
    assert b"\x1b[" not in r.stderr
    r = daoli("wallet", "show", "nope", home=tmp_path, env={**env, "NO_COLOR": "1"})
    assert b"\x1b[" not in r.stderr


@pytest.mark.parametrize(("value", "ok"), [
    ("http://127.0.0.1:26657", True), ("127.0.0.1:1", True), ("https://node.example:443", True),
    ("[::1]:26657", True), ("999.999.999.999:1", False), ("127.0.0.1:99999", False),
    ("nope", False), ("", False),
])
def test_node_option_and_env(value: str, ok: bool, tmp_path: Path) -> None:
    for r in (daoli("--node", value, "wallet", "list", home=tmp_path),
              daoli("wallet", "list", home=tmp_path, env={"DAOLI_NODE": value})):
        if ok or (value == "" and "DAOLI_NODE" in str(r.args)):
            assert r.returncode == 0, r.stderr
        elif value == "" and r.returncode == 0:
            continue  # an empty DAOLI_NODE is unset
        else:
            assert "node" in error_line(r, 2).lower()


def test_closed_stdout_is_quiet() -> None:
    full = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "daoli.cli.app", "--help"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # like `daoli --help | head -0`
    err = p.stderr.read()
    assert p.wait(timeout=60) in (0, 1)
    assert b"Traceback" not in err


def test_interrupt_at_a_prompt_is_an_error_object(tmp_path: Path) -> None:
    """Ctrl-D at a hidden prompt: one error line, the JSON object, exit 2."""
    code = ("import sys; from daoli.cli.common import prompt_secret, report_error;"
            "from daoli.errors import DaoliError\n"
            "try:\n    prompt_secret('Password', confirm=False)\n"
            "except DaoliError as e:\n    sys.exit(report_error(e, True))\n")
    leader, follower = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-c", code], stdin=follower,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
        os.close(follower)
        follower = -1
        # getpass reads the controlling terminal: none here (new session), so it falls back
        # to stdin, the pty, and flushes its pending input: wait for the prompt first, then
        # Ctrl-D on an empty line is end of input
        assert p.stderr is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"Password: " not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stderr], [], [], 1.0)
            if ready:
                seen += os.read(p.stderr.fileno(), 4096)
        assert b"Password: " in seen, seen
        os.write(leader, b"\x04")
        out, err = p.communicate(timeout=60)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert p.returncode == 2, err
    assert json.loads(out)["error"]["message"].startswith("no password given")


@pytest.mark.parametrize(("text", "li"), [
    ("1.5DLC", 150_000_000), ("1.5 dlc", 150_000_000), ("150000000li", 150_000_000),
    ("0.00000001DLC", 1), ("1_000DLC", 100_000_000_000), ("92233720368.54775807DLC",
                                                            (1 << 63) - 1),
])
def test_units_parse(text: str, li: int) -> None:
    assert parse_amount(text, default_unit=None) == li


@pytest.mark.parametrize("text", ["inf", "nan", "1e308", "1e-308", "-1", "1.5", "1.5li",
                                  "0.000000001DLC", "92233720368.54775808DLC", "9" * 400,
                                  "1__0li", "_1li", "1_li", "DLC", "", " ", "1.5 DLCX",
                                  "0x10li", "١٢li"])
def test_units_refuse(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_amount(text, default_unit=None)


def test_units_command() -> None:
    assert daoli("units", "1.5DLC").stdout == b"150000000 li\n"
    assert daoli("units", "150000000li").stdout == b"1.5 DLC\n"
    assert daoli("units", "1DLC", "--to", "li").stdout == b"100000000\n"
    assert daoli("units", "1li", "--to", "dlc").stdout == b"0.00000001\n"
    assert one_object(daoli("--json", "units", "1.5DLC")) == {"li": 150_000_000, "dlc": "1.5"}
    assert "no unit" in error_line(daoli("units", "100"), 2)
    error_line(daoli("units", "1DLC", "--to", "wei"), 2)
    assert format_dlc((1 << 63) - 1) == "92,233,720,368.54775807 DLC"


def test_every_command_help_has_examples() -> None:
    root = get_command(app)
    missing = []

    def walk(cmd: object, path: list[str]) -> None:
        commands = getattr(cmd, "commands", None)
        if commands:
            for name, sub in commands.items():
                walk(sub, [*path, name])
            return
        if "Examples" not in (getattr(cmd, "help", None) or ""):
            missing.append(" ".join(path))

    walk(root, [])
    assert not missing, missing


def test_a_full_stdout_is_one_error_line() -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    full["PYTHONPATH"] = str(ROOT)
    with open("/dev/full", "wb") as out:
        r = subprocess.run([sys.executable, "-m", "daoli.cli.app", "units", "1DLC"], env=full,
                           stdout=out, stderr=subprocess.PIPE, timeout=120, check=False)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        "error: cannot write the output: no space left on device"]


def test_bare_daoli_under_json_is_one_object() -> None:
    r = daoli(env={"DAOLI_OUTPUT": "json"})
    error_line(r, 2)
    assert one_object(r)["error"]["message"].startswith("missing command")  # type: ignore[index]
    plain = daoli()
    assert plain.returncode == 0 and b"Usage" in plain.stdout


@pytest.mark.parametrize("columns", ["0", "-5", "abc", "9" * 400, "1e9"])
def test_odd_terminal_widths_keep_the_error_line(columns: str) -> None:
    r = daoli("units", "1", env={"COLUMNS": columns, "LINES": columns})
    assert "no unit" in error_line(r, 2)
    h = daoli("chain", env={"COLUMNS": columns})
    assert h.returncode == 0 and b"Traceback" not in h.stderr


def test_completion_script_and_requests() -> None:
    r = daoli("completion", "bash")
    assert r.returncode == 0 and b"_DAOLI_COMPLETE" in r.stdout
    assert one_object(daoli("--json", "completion", "fish"))["shell"] == "fish"
    error_line(daoli("completion", "tcsh"), 2)
    req = daoli(env={"_DAOLI_COMPLETE": "complete_bash", "COMP_WORDS": "daoli wal",
                     "COMP_CWORD": "1"})
    assert req.returncode == 0 and req.stdout.split() == [b"wallet"]
