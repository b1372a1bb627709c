"""Conventions every ``daoli`` command follows, in one place so new commands inherit them.

- Global options ``--json``, ``--home``, ``--node`` and ``--no-color`` are *parsed*, not
  sniffed: they work before the subcommand (``daoli --json --home X wallet list``, as
  ``bitcoin-cli -datadir`` users expect), after it (``daoli wallet list --json``), or from
  the environment (``DAOLI_OUTPUT=json``, ``DAOLI_HOME``, ``DAOLI_NODE``, ``NO_COLOR``).
  Each invocation's values live in one :class:`CliState` on the root click context: no
  module-level mutable state.
- ``--json`` prints exactly one JSON object on stdout, with a stable schema per command;
  errors then print ``{"error": {"message": ..., "exit_code": ...}}`` on stdout as well.
- Errors are one red line on stderr and an exit code from :mod:`daoli.errors`:
  0 ok, 1 the operation failed, 2 bad usage or input, 3 node unreachable, 4 timed out.
- Nothing a user typed or a file held is ever interpreted as rich markup: the consoles have
  markup off, styles are applied with :class:`rich.text.Text`, and user text goes through
  :func:`daoli.files.show` (control characters and undecodable bytes escaped).
- User mistakes never show a Python traceback; only bugs do.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from daoli.cli._click import Context, get_current_context
from daoli.errors import EXIT_FAILED, EXIT_USAGE, ConfigError, DaoliError
from daoli.files import safe_resolve, show

DEFAULT_HOME = Path("~/.daoli")
OUTPUT_ENV = "DAOLI_OUTPUT"
NODE_ENV = "DAOLI_NODE"
HOME_ENV = "DAOLI_HOME"
DEFAULT_NODE = "http://127.0.0.1:26657"


@dataclass
class CliState:
    """What the global options said, for one invocation (kept on the root click context)."""

    json: bool = False
    home: Path | None = None
    node: str | None = None
    no_color: bool = False
    version: bool = False


def state(ctx: Context | None = None) -> CliState:
    """This invocation's :class:`CliState` (made on first use, e.g. under a test runner)."""
    if ctx is None:
        ctx = get_current_context(silent=True)
        if ctx is None:
            return CliState()
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def _json_callback(ctx: typer.Context, value: bool) -> bool:
    st = state(ctx)
    if value:
        st.json = True
    return st.json


def _home_callback(ctx: typer.Context, value: Path | None) -> Path | None:
    st = state(ctx)
    if value is not None:
        st.home = value
    return st.home


def _no_color_callback(ctx: typer.Context, value: bool) -> bool:
    st = state(ctx)
    if value:
        st.no_color = True
    return st.no_color


def parse_path(text: str) -> Path:
    """A file or directory argument; refuses the empty string, which ``Path('')`` would
    silently turn into the current directory, and NUL bytes, which no path can hold."""
    if isinstance(text, Path):
        return text
    if text == "":
        raise typer.BadParameter("the path is empty")
    if "\x00" in text:
        raise typer.BadParameter("the path contains a NUL byte")
    return Path(text)


JsonOpt = Annotated[
    bool, typer.Option("--json", callback=_json_callback,
                       help="Print one JSON object with a stable schema (also: "
                       "DAOLI_OUTPUT=json).")
]
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", callback=_home_callback, parser=parse_path,
                 help="Node home directory.",
                 show_default="$DAOLI_HOME or ~/.daoli"),
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", callback=_no_color_callback,
                       help="Plain output without colours (also: NO_COLOR=1).")
]


def apply_root_options(ctx: typer.Context, *, as_json: bool, home: Path | None,
                       node: str | None, no_color: bool) -> CliState:
    """Fold the root's options and the environment into the invocation's state."""
    st = state(ctx)
    output = os.environ.get(OUTPUT_ENV, "")
    if output not in ("", "json", "text"):
        st.json = False
        raise ConfigError(f"${OUTPUT_ENV} must be 'json' or 'text', got {show(output)!r}")
    st.json = st.json or as_json or output == "json"
    if home is None:
        env_home = os.environ.get(HOME_ENV)
        home = Path(env_home) if env_home else None
        if env_home == "":
            home = None
    st.home = home if home is not None else st.home
    st.node = node if node is not None else os.environ.get(NODE_ENV) or st.node
    if st.node is not None:
        st.node = check_node_url(st.node)
    st.no_color = st.no_color or no_color
    return st


def check_node_url(text: str) -> str:
    """A node API address: ``http://host:port`` (or ``host:port``); never a bare path."""
    from daoli.node.config import parse_host_port  # light: stdlib only

    value = text.strip()
    rest = value
    for scheme in ("http://", "https://"):
        if value.lower().startswith(scheme):
            rest = value[len(scheme):]
            break
    else:
        value = "http://" + value
    rest = rest.rstrip("/")
    try:
        parse_host_port(rest)
    except ConfigError as exc:
        raise ConfigError(f"--node / ${NODE_ENV}: {exc}") from None
    return value.rstrip("/")


# --- consoles ----------------------------------------------------------------------------------


class _ConsoleProxy:
    """A rich Console made afresh when its stream, width or colour setting changes.

    A module-level Console would freeze the terminal width and stream it saw at import time;
    this one follows ``COLUMNS``, redirected streams (test runners, pipes) and ``--no-color``
    as they are when the command prints. Markup, emoji codes and highlighting are off: user
    text is printed as it is, and styles come only from :class:`rich.text.Text`.
    """

    def __init__(self, to_stderr: bool) -> None:
        self._to_stderr = to_stderr
        self._key: tuple[int, str | None, bool] | None = None
        self._console: Console | None = None

    def _current(self) -> Console:
        stream = sys.stderr if self._to_stderr else sys.stdout
        no_color = state().no_color or bool(os.environ.get("NO_COLOR"))
        key = (id(stream), os.environ.get("COLUMNS"), no_color)
        if self._console is None or key != self._key:
            self._console = Console(stderr=self._to_stderr, soft_wrap=True, markup=False,
                                    emoji=False, highlight=False, no_color=no_color)
            self._key = key
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


def live_console(to_stderr: bool) -> Console:
    """A real Console for live displays (progress bars, dashboards), which need one of their
    own: markup, emoji and highlighting off, ``--no-color`` and NO_COLOR kept."""
    no_color = state().no_color or bool(os.environ.get("NO_COLOR"))
    return Console(stderr=to_stderr, markup=False, emoji=False, highlight=False,
                   no_color=no_color)


stdout: Console = _ConsoleProxy(False)  # type: ignore[assignment]
stderr: Console = _ConsoleProxy(True)  # type: ignore[assignment]

Part = str | tuple[str, str]


def styled(*parts: Part) -> Text:
    """Text from plain strings and (text, style) pairs; no string is parsed as markup."""
    return Text.assemble(*parts)


def say(*parts: Part) -> None:
    """One line on stdout, built from plain text and (text, style) pairs."""
    stdout.print(styled(*parts))


def warn(message: str) -> None:
    """A one-line warning on stderr (the JSON on stdout is unaffected)."""
    stderr.print(styled(("warning: ", "yellow"), show(message)))


def resolve_home(home: Path | None) -> Path:
    """The home directory as an absolute path (``~`` expanded, links resolved)."""
    if home is None:
        home = state().home
    return safe_resolve(home if home is not None else DEFAULT_HOME, "--home")


def emit(as_json: bool, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
    """Print a command's result: JSON for scripts, or ``human()`` (rich) for people."""
    if as_json or state().json:
        sys.stdout.write(json.dumps(data, sort_keys=True, allow_nan=False) + "\n")
        sys.stdout.flush()
    elif human is not None:
        human()
    else:
        for key, value in data.items():
            say((f"{key}", "bold"), ": ", show(value))


def fail(message: str, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with a one-line error (used for mistakes found by the CLI itself)."""
    raise CliFailure(message, exit_code)


class CliFailure(DaoliError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(message: str) -> str:
    """The first non-empty line of a message, made safe to print."""
    for line in message.splitlines():
        if line.strip():
            return show(line.strip())
    return ""


def report_error(exc: DaoliError, as_json: bool, no_color: bool = False) -> int:
    """Print ``exc`` as the error object (with --json) and one red line on stderr.

    ``no_color`` is for callers outside the click context (the entry point, after the
    command's context is gone), where ``--no-color`` can no longer be looked up.
    """
    message = one_line(str(exc)) or type(exc).__name__
    if as_json:
        sys.stdout.write(json.dumps({"error": {"message": message,
                                               "exit_code": exc.exit_code}}) + "\n")
        sys.stdout.flush()
    line = styled(("error: ", "red"), message)
    if no_color:
        Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False,
                no_color=True).print(line)
    else:
        stderr.print(line)
    return exc.exit_code


def prompt_secret(label: str, *, confirm: bool) -> str:
    """Ask for a secret on the terminal; Ctrl-C and Ctrl-D are one-line errors, not aborts."""
    try:
        value = getpass.getpass(f"{label}: ", stream=sys.stderr)
        if confirm and getpass.getpass(f"Repeat {label.lower()}: ", stream=sys.stderr) != value:
            fail(f"the two {label.lower()}s differ")
    except EOFError:
        sys.stderr.write("\n")
        fail(f"no {label.lower()} given (end of input)")
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        fail("interrupted", EXIT_FAILED)
    return value


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal (default no)."""
    try:
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        fail("interrupted", EXIT_FAILED)
    if answer == "":
        sys.stderr.write("\n")
        fail("no answer given (end of input)")
    return answer.strip().lower() in ("y", "yes")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def examples(*lines: str) -> str:
    """An ``Examples`` section for a command's help (markdown: one code line each)."""
    return "\n\n**Examples**\n\n" + "\n\n".join(f"`{line}`" for line in lines)


def group_options(ctx: Context, as_json: bool, home: Path | None) -> None:
    """Body of every command group's callback: the group-level --json/--home were folded in
    by their callbacks; a group named without a subcommand shows its help (exit 0), or, under
    --json, is a usage error (help text is not a JSON object)."""
    del as_json, home
    if ctx.invoked_subcommand is None:
        if state(ctx).json:
            from daoli.cli._click import UsageError

            raise UsageError("missing command", ctx)
        sys.stdout.write(ctx.get_help() or "")
        raise typer.Exit(0)
