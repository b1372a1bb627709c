"""Every file the CLI or a node reads goes through here: bounded, type-checked, one-line errors.

Why one module: each hand-written ``path.read_bytes()`` was a way to make ``daoli`` read
gigabytes (``/dev/zero``, or a symlink to it), hang (a FIFO), recurse until Python gives up
(deeply nested TOML or JSON) or print a raw ``OSError``. Here the size limit is enforced
*while* reading, only regular files are read unless the caller asks for more, FIFOs are
opened non-blocking so they cannot hang the open, and every failure is a :class:`ConfigError`
(or the error class the caller names) whose message fits on one line.

Paths shown in messages go through :func:`show`, which escapes control characters and the
undecodable bytes of non-UTF-8 file names, so a hostile name cannot garble a terminal or
crash an encoder.

Not part of ``daoli.core``: this does I/O. Any layer above core may use it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from daoli.errors import ConfigError, DaoliError

STDIN = "-"
"""The file name that means standard input, where a caller allows it (secret files)."""

MAX_SECRET_FILE = 4096
"""Password, key and mnemonic files: a line of text, with room for comments and CRLF."""
MAX_CONFIG_FILE = 1 << 20
"""config.toml: a few lines; 1 MiB is generous."""
MAX_GENESIS_FILE = 64 << 20
"""genesis.toml: up to about half a million allocations."""
MAX_KEYSTORE_FILE = 64 << 10
"""A Web3 v3 keystore is about 1 KiB."""
MAX_NESTING = 32
"""Deepest array/table nesting accepted in TOML or JSON a user hands us."""

_ERRNO_TEXT = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ELOOP: "has a symbolic link loop",
    errno.ENAMETOOLONG: "name too long",
    errno.ENXIO: "is a socket or device with no reader",
}


def show(value: object) -> str:
    """``value`` as text that is safe to print: control characters and undecodable bytes
    (the surrogates of a non-UTF-8 file name) become visible escapes, and it stays on one line.
    """
    text = os.fsdecode(value) if isinstance(value, (bytes, os.PathLike)) else str(value)
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: an undecodable byte of a file name
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF:
            out.append(repr(ch)[1:-1] if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def quote(value: object) -> str:
    """``show(value)`` in single quotes, for naming a file or value inside a message."""
    return "'" + show(value) + "'"


def os_error_text(exc: OSError) -> str:
    """A short, stable description of an OSError (no errno numbers, no Python repr)."""
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    return (exc.strerror or type(exc).__name__).lower()


def read_bytes(
    path: Path | str,
    what: str,
    *,
    max_bytes: int,
    allow_stdin: bool = False,
    allow_special: bool = False,
    error: type[DaoliError] = ConfigError,
) -> bytes:
    """At most ``max_bytes`` of ``path``, or ``error`` with one line saying why not.

    ``-`` is standard input when ``allow_stdin``. Only regular files are read unless
    ``allow_special`` (FIFOs and character devices, e.g. ``/dev/stdin`` or a pipe from a
    password manager); those are still read only up to the limit, never to their end.
    """
    if allow_stdin and str(path) == STDIN:
        # fd 0 itself: sys.stdin is None when the process was started with it closed
        return _read_limited(0, "standard input", what, max_bytes, error, stream=True)
    p = os.fspath(path)
    if p == "":
        raise error(f"{what}: the file name is empty")
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{what} {quote(p)}: {os_error_text(exc)}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{what} {quote(p)} is a directory")
        special = not stat.S_ISREG(st.st_mode)
        if special and not allow_special:
            raise error(f"{what} {quote(p)} is not a regular file")
        if not special and st.st_size > max_bytes:
            raise error(f"{what} {quote(p)} is larger than {max_bytes:,} bytes")
        if special:  # blocking reads from here on: a FIFO with no writer yet reads as empty
            os.set_blocking(fd, True)
        return _read_limited(fd, quote(p), what, max_bytes, error, stream=special)
    finally:
        os.close(fd)


def _read_limited(fd: int, name: str, what: str, max_bytes: int,
                  error: type[DaoliError], *, stream: bool) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except BlockingIOError:
        raise error(f"{what} {name} has nothing to read") from None
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise error(f"{what}: {name} is closed") from None
        raise error(f"cannot read {what} {name}: {os_error_text(exc)}") from None
    if total > max_bytes:
        raise error(f"{what} {name} is larger than {max_bytes:,} bytes"
                    + (" (read stopped there)" if stream else ""))
    return b"".join(chunks)


def read_text(path: Path | str, what: str, *, max_bytes: int, allow_stdin: bool = False,
              allow_special: bool = False, error: type[DaoliError] = ConfigError) -> str:
    """Like :func:`read_bytes`, decoded as UTF-8 (a BOM is refused like any other byte)."""
    raw = read_bytes(path, what, max_bytes=max_bytes, allow_stdin=allow_stdin,
                     allow_special=allow_special, error=error)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        name = "standard input" if allow_stdin and str(path) == STDIN else quote(path)
        raise error(f"{what} {name} is not UTF-8 text") from None


def read_secret_line(path: Path | str, what: str, *,
                     error: type[DaoliError] = ConfigError) -> str:
    """The first line of a password, key or mnemonic file, without its line ending.

    ``-`` reads standard input; FIFOs and ``/dev/stdin`` are allowed (process substitution,
    password managers), always bounded by :data:`MAX_SECRET_FILE`.
    """
    text = read_text(path, f"{what} file", max_bytes=MAX_SECRET_FILE, allow_stdin=True,
                     allow_special=True, error=error)
    lines = text.splitlines()
    return lines[0] if lines else ""


def nesting_exceeds(text: str | bytes, limit: int = MAX_NESTING) -> bool:
    """Whether JSON or TOML text nests ``[`` / ``{`` deeper than ``limit``.

    Brackets inside strings are counted too (this scanner does not know every TOML string
    form), which can only make it stricter: a legitimate genesis, config or keystore nests
    three levels at most. Running before the parser keeps recursion (and, for C JSON
    scanners, the C stack) out of reach of hostile input.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
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
            depth = max(0, depth - 1)
    return False


def parse_toml(data: bytes, source: str, *, error: type[DaoliError] = ConfigError
               ) -> dict[str, Any]:
    """TOML bytes to a dict; bad encoding, syntax or nesting is one line naming ``source``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{source}: not UTF-8 text") from None
    if nesting_exceeds(text):
        raise error(f"{source}: nested more than {MAX_NESTING} levels deep")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: bad TOML: {' '.join(str(exc).split())}") from None
    except ValueError:  # e.g. an integer of more than 4300 digits (int's conversion limit)
        raise error(f"{source}: bad TOML: an integer has too many digits") from None
    except RecursionError:  # pragma: no cover - the nesting scan comes first
        raise error(f"{source}: nested too deeply") from None


def parse_json(data: bytes | str, source: str, *, error: type[DaoliError] = ConfigError
               ) -> Any:
    """JSON to Python values; bad syntax, NaN/Infinity or deep nesting is one line."""
    if nesting_exceeds(data):
        raise error(f"{source}: nested more than {MAX_NESTING} levels deep")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(data, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise error(f"{source}: not valid JSON") from None


def safe_resolve(path: Path | str, what: str = "path") -> Path:
    """``path`` with ``~`` expanded, made absolute, symlinks resolved where they exist.

    Python's ``resolve`` raises RuntimeError or OSError on a symlink loop or an unreadable
    component; those become one ConfigError line.
    """
    text = os.fspath(path)
    if text == "":
        raise ConfigError(f"{what} is empty")
    if "\x00" in text:
        raise ConfigError(f"{what} {quote(text)} contains a NUL byte")
    try:
        return Path(text).expanduser().resolve()
    except RuntimeError:
        raise ConfigError(f"{what} {quote(text)} has a symbolic link loop") from None
    except OSError as exc:
        raise ConfigError(f"{what} {quote(text)}: {os_error_text(exc)}") from None


def write_all_and_sync(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (short writes retried), then fsync it: the one
    way every durable file of a node (keys, keystores, the signing record) is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def fsync_dir(path: Path, *, best_effort: bool = False) -> None:
    """fsync a directory, so a rename, link or unlink in it survives a crash.

    ``best_effort`` ignores failures (not every file system allows it) where the caller has
    nothing better to do than carry on.
    """
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        if not best_effort:
            raise
