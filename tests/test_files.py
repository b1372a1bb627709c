"""daoli.files: every read is bounded, typed and fails with one line, whatever the path is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daoli.errors import ConfigError, WalletError
from daoli.files import (
    MAX_NESTING,
    nesting_exceeds,
    os_error_text,
    parse_json,
    parse_toml,
    quote,
    read_bytes,
    read_secret_line,
    read_text,
    safe_resolve,
    show,
)


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_reads_a_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    assert read_bytes(f, "file", max_bytes=5) == b"hello"
    assert read_text(f, "file", max_bytes=10) == "hello"
    f.write_bytes(b"pw with spaces \r\nsecond line\n")
    assert read_secret_line(f, "password") == "pw with spaces "
    f.write_bytes(b"")
    assert read_secret_line(f, "password") == ""


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "big"
    with f.open("wb") as fh:
        fh.truncate(1 << 40)  # a sparse terabyte: reading it would never finish
    with pytest.raises(ConfigError) as exc:
        read_bytes(f, "genesis file", max_bytes=1 << 20)
    assert "larger than 1,048,576 bytes" in one_line(exc)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_or_bounded(tmp_path: Path, target: str) -> None:
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ConfigError) as exc:
        read_bytes(link, "key file", max_bytes=100)
    assert "not a regular file" in one_line(exc)
    # a secret file may be a device or pipe (process substitution), but only up to the limit
    with pytest.raises(ConfigError) as exc:
        read_bytes(link, "key file", max_bytes=100, allow_special=True)
    assert "larger than 100 bytes" in one_line(exc)


def test_fifo_without_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as exc:
        read_bytes(fifo, "keystore", max_bytes=100)
    assert "not a regular file" in one_line(exc)
    # allowed: with no writer it reads as empty instead of blocking
    assert read_bytes(fifo, "password file", max_bytes=100, allow_special=True) == b""


@pytest.mark.parametrize(("make", "needle"), [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.symlink_to(p), "symbolic link loop"),
])
def test_path_problems_are_one_line(tmp_path: Path, make: object, needle: str) -> None:
    p = tmp_path / "x"
    make(p)  # type: ignore[operator]
    with pytest.raises(ConfigError) as exc:
        read_bytes(p, "genesis file", max_bytes=100)
    assert needle in one_line(exc)


def test_component_not_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(ConfigError) as exc:
        read_bytes(f / "y", "config file", max_bytes=100)
    assert "not a directory" in one_line(exc)


def test_error_class_is_the_callers(tmp_path: Path) -> None:
    with pytest.raises(WalletError):
        read_bytes(tmp_path / "nope", "keystore", max_bytes=10, error=WalletError)


def test_non_utf8_content_and_names(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xff\x1b[31mname")
    f = tmp_path / name
    f.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as exc:
        read_text(f, "genesis file", max_bytes=100)
    msg = one_line(exc)
    assert "not UTF-8" in msg and "\\xff" in msg and "\x1b" not in msg
    msg.encode("utf-8")  # printable: no lone surrogates


def test_stdin(tmp_path: Path) -> None:
    code = ("from daoli.files import read_secret_line; "
            "print(repr(read_secret_line('-', 'password')))")
    out = subprocess.run([sys.executable, "-c", code], input=b"pw\r\nsecond\n",
                         capture_output=True, timeout=60, check=True)
    assert out.stdout.strip() == b"'pw'"
    big = subprocess.run([sys.executable, "-c", code], input=b"x" * 10_000,
                         capture_output=True, timeout=60, check=False)
    assert b"larger than 4,096 bytes" in big.stderr


def test_show_escapes_what_a_terminal_would_interpret() -> None:
    assert show("a\x1b[31mb\x07\n") == "a\\x1b[31mb\\x07\\n"
    assert show(os.fsdecode(b"\xff")) == "\\xff"
    assert show("\u0085") == "\\x85"
    assert show("ok [bold]x[/bold] é") == "ok [bold]x[/bold] é"
    assert quote("a'b") == "'a'b'"


@given(st.text())
def test_show_is_one_printable_line(text: str) -> None:
    out = show(text)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    out.encode("utf-8")


def test_nesting_bounds() -> None:
    deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    ok = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert nesting_exceeds(deep) and not nesting_exceeds(ok)
    assert not nesting_exceeds('"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["')
    with pytest.raises(ConfigError, match="nested more than"):
        parse_toml(("a = " + "[" * 100_000).encode(), "g.toml")
    with pytest.raises(ConfigError, match="nested more than"):
        parse_json("[" * 100_000, "w.json")
    assert parse_toml(b"a = [[1]]", "x") == {"a": [[1]]}


def test_json_refuses_nan_and_garbage() -> None:
    for bad in ("NaN", "[Infinity]", "{", "\xff"):
        with pytest.raises(ConfigError, match="not valid JSON"):
            parse_json(bad, "w.json")


def test_toml_errors_are_one_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_toml(b"a = \n= b\n[[", "c.toml")
    assert one_line(exc).startswith("c.toml: bad TOML:")
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_toml(b"a = '\xff'", "c.toml")


def test_safe_resolve(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match="symbolic link loop"):
        safe_resolve(loop / "x", "--home")
    with pytest.raises(ConfigError, match="empty"):
        safe_resolve("", "--home")
    assert safe_resolve(tmp_path / "a" / ".." / "b") == (tmp_path / "b").resolve()


def test_os_error_text() -> None:
    assert os_error_text(PermissionError(13, "Permission denied")) == "permission denied"
    assert os_error_text(OSError(5, "Input/output error")) == "input/output error"


def test_closed_stdin_is_one_line() -> None:
    code = ("from daoli.files import read_secret_line\n"
            "try:\n    read_secret_line('-', 'password')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60, check=True, close_fds=True,
                         preexec_fn=lambda: os.close(0))
    assert out.stdout.decode().strip() == "ConfigError password file: standard input is closed"


def test_toml_integer_past_the_conversion_limit() -> None:
    with pytest.raises(ConfigError, match="too many digits"):
        parse_toml(b"a = " + b"9" * 5000, "g.toml")
