"""Entry point of the ``daoli`` command; each command group lives in its own module.

:func:`main` owns the CLI contract at the outermost level: click runs in non-standalone
mode so that *every* way out (usage error, prompt aborted, Ctrl-C, broken pipe, a
:class:`~daoli.errors.DaoliError`) becomes one line on stderr, an exit code in 0-4, and,
under ``--json``, exactly one JSON object on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer
from typer.main import get_command

from daoli import __version__
from daoli.cli import (
    chain,
    cloud,
    completion,
    devnet,
    init,
    mine,
    node,
    query,
    resource,
    sim,
    units,
    wallet,
)
from daoli.cli._click import (
    Abort,
    ClickException,
    Command,
    Group,
    NoArgsIsHelpError,
    Option,
    UsageError,
)
from daoli.cli.common import (
    HOME_ENV,
    NODE_ENV,
    OUTPUT_ENV,
    CliFailure,
    CliState,
    HomeOpt,
    JsonOpt,
    NoColorOpt,
    apply_root_options,
    examples,
    group_options,
    report_error,
    state,
)
from daoli.errors import EXIT_FAILED, EXIT_USAGE, DaoliError

app = typer.Typer(
    name="daoli",
    help="DaoliCloud: consensus of luck, incentive BFT, and a peer-to-peer resource market."
    "\n\nGlobal options (--json, --home, --node, --no-color) go before or after the "
    f"subcommand. Environment: {HOME_ENV}, {NODE_ENV}, {OUTPUT_ENV}=json, "
    "DAOLI_PASSWORD, DAOLI_PASSWORD_FILE, NO_COLOR.\n\n"
    "Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 node unreachable, 4 timed out."
    + examples("daoli init", "daoli --json wallet list", "daoli sim --heights 50",
               "daoli units 1.5DLC"),
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(wallet.app, name="wallet")
app.add_typer(chain.app, name="chain")
app.add_typer(node.app, name="node")
app.add_typer(devnet.app, name="devnet")
app.add_typer(query.block_app, name="block")
app.add_typer(query.tx_app, name="tx")
app.add_typer(query.payroll_app, name="payroll")
app.add_typer(query.trustee_app, name="trustee")
app.add_typer(resource.app, name="resource")
app.add_typer(cloud.provider_app, name="provider")
app.add_typer(cloud.cloud_app, name="cloud")
app.command("mine")(mine.mine)
app.command("init")(init.init)
app.command("sim")(sim.sim)
app.command("units")(units.units)
app.command("completion")(completion.completion)


def _version_callback(ctx: typer.Context, value: bool) -> bool:
    if value:
        state(ctx).version = True
    return value


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
    node: Annotated[
        str | None, typer.Option("--node", help="Node API address, http://host:port (for "
                                 "commands that talk to a node).",
                                 show_default=f"${NODE_ENV} or 127.0.0.1:26657"),
    ] = None,
    no_color: NoColorOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                           help="Print the version and exit (with --json: {\"version\"}).")
    ] = False,
) -> None:
    """DaoliCloud toolkit."""
    st = apply_root_options(ctx, as_json=as_json, home=home, node=node, no_color=no_color)
    if st.version:
        if st.json:
            sys.stdout.write(json.dumps({"version": __version__}) + "\n")
        else:
            sys.stdout.write(f"daoli {__version__}\n")
        raise typer.Exit(0)
    group_options(ctx, st.json, home)


def _takes_value(cmd: Command, name: str) -> int:
    """How many following tokens option ``name`` of ``cmd`` consumes (0 for flags)."""
    for param in cmd.params:
        if isinstance(param, Option) and (name in param.opts
                                                or name in param.secondary_opts):
            return 0 if param.is_flag or param.count else max(param.nargs, 1)
    return 0


def json_requested(root: Command, args: Sequence[str]) -> bool:
    """Whether ``args`` ask for --json, read as click would parse them.

    Only for reporting errors that stop click before it has parsed ``--json`` itself: it
    follows the command tree and skips option values, so ``--home --json`` (a home named
    ``--json``) is not taken as a request for JSON.
    """
    if os.environ.get(OUTPUT_ENV) == "json":
        return True
    cmd = root
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return False
        if token == "--json":
            return True
        if token.startswith("-") and token != "-":
            if "=" not in token:
                i += _takes_value(cmd, token)
        elif isinstance(cmd, Group) and token in cmd.commands:
            cmd = cmd.commands[token]
        i += 1
    return False


def _usage_message(exc: UsageError) -> str:
    message = " ".join(exc.format_message().split())
    if isinstance(exc, NoArgsIsHelpError):
        message = "missing command"
    path = exc.ctx.command_path if exc.ctx is not None else "daoli"
    return f"{message} (see '{path} --help')"


def run(args: Sequence[str] | None = None) -> int:
    """Run the CLI on ``args`` and return the exit code; never raises for user mistakes."""
    argv = list(sys.argv[1:] if args is None else args)
    if os.environ.get(completion.COMPLETE_VAR):
        completion.completion_init()  # a shell asking for completions (daoli completion)
    root = get_command(app)
    st = CliState()

    def as_json() -> bool:
        return st.json or json_requested(root, argv)

    try:
        try:
            code = root.main(args=argv, prog_name="daoli", standalone_mode=False, obj=st)
        except NoArgsIsHelpError as exc:
            if as_json():
                raise
            # a bare group (``daoli``, ``daoli wallet``) shows its help, as git does
            sys.stdout.write(exc.format_message() + "\n")
            return 0
        except UsageError as exc:
            raise CliFailure(_usage_message(exc), EXIT_USAGE) from None
        except ClickException as exc:
            raise CliFailure(" ".join(exc.format_message().split()),
                             exc.exit_code or EXIT_FAILED) from None
        except Abort:
            raise CliFailure("aborted", EXIT_FAILED) from None
        except KeyboardInterrupt:
            raise CliFailure("interrupted", EXIT_FAILED) from None
        code = code if isinstance(code, int) else 0
        if code == 130:  # typer turns a KeyboardInterrupt into Exit(130)
            raise CliFailure("interrupted", EXIT_FAILED)
        return code
    except NoArgsIsHelpError as exc:
        return report_error(CliFailure(_usage_message(exc), EXIT_USAGE), True, st.no_color)
    except DaoliError as exc:
        return report_error(exc, as_json(), st.no_color)


def _sane_terminal_size() -> None:
    """Drop ``COLUMNS`` / ``LINES`` that are not a plausible size: rich prints nothing at
    width 0 (the error line would vanish) and overflows on a 400-digit width."""
    for name in ("COLUMNS", "LINES"):
        value = os.environ.get(name)
        if value is not None and not (value.isascii() and value.isdigit()
                                      and 1 <= len(value) <= 4 and int(value) >= 20):
            del os.environ[name]


def main() -> NoReturn:
    """The console script: :func:`run`, with unusable output reported, not a traceback."""
    _sane_terminal_size()
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_FAILED  # `daoli ... | head`: the reader left, nothing to report
    except OSError as exc:  # stdout is full or broken (e.g. >/dev/full)
        reason = (exc.strerror or type(exc).__name__).lower()
        with contextlib.suppress(OSError):
            os.write(2, f"error: cannot write the output: {reason}\n".encode())
        code = EXIT_FAILED
    if code == EXIT_FAILED:
        # later flushes at interpreter exit would fail again: point stdout at /dev/null
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


__all__ = ["app", "json_requested", "main", "run"]

if __name__ == "__main__":
    main()
