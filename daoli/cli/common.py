"""Conventions every ``daoli`` command follows.

- ``--home`` / ``DAOLI_HOME`` names the node home (default ``~/.daoli``).
- ``--json`` prints exactly one JSON object on stdout, with a stable schema per command;
  errors then print ``{"error": {"message": ..., "exit_code": ...}}`` on stdout as well.
- Errors are one red line on stderr and an exit code from :mod:`daoli.errors`:
  0 ok, 1 the operation failed, 2 bad usage or input, 3 node unreachable, 4 timed out.
- User mistakes never show a Python traceback; only bugs do.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from daoli.errors import EXIT_USAGE, DaoliError

DEFAULT_HOME = Path("~/.daoli")

HomeOpt = Annotated[
    Path,
    typer.Option("--home", envvar="DAOLI_HOME", help="Node home directory.",
                 show_default="~/.daoli (or $DAOLI_HOME)"),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object with a stable schema.")
]

class _ConsoleProxy:
    """A rich Console made afresh on each use.

    A module-level Console would freeze the terminal width and stream it saw at import time;
    this one follows ``COLUMNS`` and redirected streams (test runners, pipes) as they are when
    the command prints.
    """

    def __init__(self, to_stderr: bool) -> None:
        self._to_stderr = to_stderr
        self._key: tuple[int, str | None] | None = None
        self._console: Console | None = None

    def _current(self) -> Console:
        # one Console per (stream, width): live displays (progress bars) keep their state
        stream = sys.stderr if self._to_stderr else sys.stdout
        key = (id(stream), os.environ.get("COLUMNS"))
        if self._console is None or key != self._key:
            self._console = Console(stderr=self._to_stderr, soft_wrap=True)
            self._key = key
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


stdout: Console = _ConsoleProxy(False)  # type: ignore[assignment]
stderr: Console = _ConsoleProxy(True)  # type: ignore[assignment]


def resolve_home(home: Path | None) -> Path:
    """The home directory as an absolute path (``~`` expanded)."""
    return (home or DEFAULT_HOME).expanduser().resolve()


def emit(as_json: bool, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
    """Print a command's result: JSON for scripts, or ``human()`` (rich) for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, sort_keys=True, allow_nan=False) + "\n")
        sys.stdout.flush()
    elif human is not None:
        human()
    else:
        for key, value in data.items():
            stdout.print(f"[bold]{key}[/bold]: {value}")


def fail(message: str, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with a one-line error (used for mistakes found by the CLI itself)."""
    raise CliFailure(message, exit_code)


class CliFailure(DaoliError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def report_error(exc: DaoliError, as_json: bool) -> int:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if as_json:
        sys.stdout.write(json.dumps({"error": {"message": message,
                                               "exit_code": exc.exit_code}}) + "\n")
    stderr.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return exc.exit_code


def read_secret_file(path: Path, what: str) -> str:
    """First line of a password or key file, without its newline."""
    try:
        data = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} file {str(path)!r}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{what} file {str(path)!r} is not UTF-8 text")
    lines = data.splitlines()
    return lines[0] if lines else ""


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")
