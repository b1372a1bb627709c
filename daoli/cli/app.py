"""Entry point of the ``daoli`` command; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from daoli import __version__
from daoli.cli import chain, init, sim, wallet
from daoli.cli.common import CliFailure, report_error
from daoli.errors import DaoliError

try:  # typer >= 0.2x vendors click; its errors derive from TyperException
    from typer import TyperException as _UsageErrors
except ImportError:  # pragma: no cover - older typer on the real click
    from click import ClickException as _UsageErrors  # type: ignore[assignment]

app = typer.Typer(
    name="daoli",
    help="DaoliCloud: consensus of luck, incentive BFT, and a peer-to-peer resource market.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(wallet.app, name="wallet")
app.add_typer(chain.app, name="chain")
app.command("init")(init.init)
app.command("sim")(sim.sim)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"daoli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """DaoliCloud toolkit."""


def main() -> None:
    """Run the CLI; DaoliErrors become one red line and their exit code, not a traceback."""
    as_json = "--json" in sys.argv[1:]
    try:
        if not as_json:
            app()
            return
        # Scripts asking for JSON get the error object for usage errors too, which click
        # (standalone) would only print as a help box on stderr.
        try:
            code = app(standalone_mode=False)
        except _UsageErrors as exc:
            code = report_error(CliFailure(exc.format_message(), exc.exit_code), True)
        except typer.Abort:
            code = 1
        sys.exit(code if isinstance(code, int) else 0)
    except DaoliError as exc:
        sys.exit(report_error(exc, as_json))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
