"""``daoli chain``: look at a chain's genesis, and write genesis files for devnets."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    fail,
    group_options,
    report_error,
    resolve_home,
    stdout,
)
from daoli.core.address import address_of, decode_address
from daoli.core.crypto import check_pubkey
from daoli.core.encoding import MAX_U64
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import ChainParams
from daoli.core.tx import MAX_MULTIADDR
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import ConfigError, DaoliError
from daoli.node.config import dump_genesis_toml, load_genesis_file
from daoli.node.home import DEV_CHAIN_ID, Home, write_file

app = typer.Typer(help="Inspect the chain: genesis and parameters.",
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


def genesis_dict(g: Genesis) -> dict[str, Any]:
    """The JSON schema of ``daoli chain genesis --json``."""
    return {
        "chain_id": g.chain_id,
        "genesis_time_ms": g.genesis_time_ms,
        "genesis_id": g.id.hex(),
        "params": g.params.to_dict(),
        "allocations": [{"address": a["address"], "amount": a["amount"]}
                        for a in g.to_dict()["allocations"]],
        "trustees": [{"pubkey": t.pubkey.hex(), "address": address_of(t.pubkey),
                      "bond": t.bond, "multiaddr": t.multiaddr} for t in g.trustees],
    }


@app.command("genesis")
def genesis_cmd(
    home: HomeOpt = None,  # type: ignore[assignment]
    file: Annotated[
        Path | None, typer.Option("--file", help="Inspect this genesis.toml instead of the "
                                  "home's."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a genesis: chain id, time, genesis id, parameters, allocations and trustees.

    Validates the file as a node would (exit 2 with one line naming the problem).

    --json prints {"chain_id", "genesis_time_ms", "genesis_id" (hex), "params": {name: int},
    "allocations": [{"address", "amount"}], "trustees": [{"pubkey" (hex), "address",
    "bond", "multiaddr"}]}; amounts and bonds in li.
    """
    try:
        g = load_genesis_file(file) if file is not None else Home(resolve_home(home)).load_genesis()
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    data = genesis_dict(g)
    emit(as_json, data, lambda: _show_genesis(g, data))


@app.command("new-genesis")
def new_genesis(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    chain_id: Annotated[str, typer.Option("--chain-id", help="Chain id.")] = DEV_CHAIN_ID,
    genesis_time_ms: Annotated[
        int | None, typer.Option("--genesis-time-ms", min=0, max=MAX_U64,
                                 help="Unix ms.", show_default="now, whole seconds"),
    ] = None,
    trustee: Annotated[
        list[str] | None, typer.Option("--trustee", metavar="PUBKEY=MULTIADDR",
                                       help="A genesis trustee (bond = min_bond); repeatable."),
    ] = None,
    alloc: Annotated[
        list[str] | None, typer.Option("--alloc", metavar="ADDRESS=AMOUNT",
                                       help="Prefund an address; AMOUNT in li, or with a DLC "
                                       "suffix (e.g. 1000DLC); repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a genesis.toml with default parameters, for a devnet or to edit by hand.

    Every node then runs 'daoli init --genesis FILE'. --json prints the same object as
    'daoli chain genesis --json' plus "file".
    """
    try:
        if out.exists() and not force:
            fail(f"{out} exists; use --force to overwrite it")
        params = ChainParams()
        trustees = tuple(_parse_trustee(t, params.min_bond) for t in trustee or [])
        allocations = tuple(_parse_alloc(a) for a in alloc or [])
        if genesis_time_ms is None:
            genesis_time_ms = int(time.time()) * 1000
        g = Genesis(chain_id, genesis_time_ms, params, allocations, trustees)
        write_file(out, dump_genesis_toml(g).encode())
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    data = {**genesis_dict(g), "file": str(out)}
    emit(as_json, data, lambda: stdout.print(
        f"Wrote genesis of [bold]{g.chain_id}[/bold] to {out} (genesis id {g.id.hex()})"))


def _parse_trustee(text: str, bond: int) -> GenesisTrustee:
    pubkey_hex, sep, multiaddr = text.partition("=")
    if not sep or not multiaddr.startswith("/") or len(multiaddr) > MAX_MULTIADDR:
        raise ConfigError(f"--trustee {text!r}: expected PUBKEY_HEX=/ip4/.../tcp/PORT")
    try:
        pubkey = check_pubkey(bytes.fromhex(pubkey_hex))
    except ValueError:
        raise ConfigError(f"--trustee {text!r}: the public key is not hex") from None
    except DaoliError as exc:
        raise ConfigError(f"--trustee {text!r}: {exc}") from None
    return GenesisTrustee(pubkey, bond, multiaddr)


def _parse_alloc(text: str) -> Allocation:
    addr, sep, amount = text.partition("=")
    if not sep:
        raise ConfigError(f"--alloc {text!r}: expected ADDRESS=AMOUNT")
    try:
        return Allocation(decode_address(addr), parse_amount(amount))
    except DaoliError as exc:
        raise ConfigError(f"--alloc: {exc}") from None


def _iso(ms: int) -> str:
    try:
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    except (OverflowError, ValueError, OSError):
        return "(out of range)"
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _show_genesis(g: Genesis, d: dict[str, Any]) -> None:
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("chain id", g.chain_id)
    head.add_row("genesis time", f"{_iso(g.genesis_time_ms)} ({g.genesis_time_ms} ms)")
    head.add_row("genesis id", d["genesis_id"])
    supply = sum(a.amount for a in g.allocations) + sum(t.bond for t in g.trustees)
    head.add_row("supply", f"{format_dlc(supply)} (allocations + bonds)")
    stdout.print(head)

    params = Table(title="params", title_justify="left")
    params.add_column("name")
    params.add_column("value", justify="right")
    for name, value in d["params"].items():
        params.add_row(name, f"{value:,}")
    stdout.print(params)

    allocs = Table(title=f"allocations ({len(g.allocations)})", title_justify="left")
    allocs.add_column("address", overflow="fold")
    allocs.add_column("amount", justify="right", no_wrap=True)
    for a in d["allocations"]:
        allocs.add_row(a["address"], format_dlc(a["amount"]))
    stdout.print(allocs)

    trustees = Table(title=f"trustees ({len(g.trustees)})", title_justify="left")
    trustees.add_column("address", overflow="fold")
    trustees.add_column("pubkey", overflow="fold")
    trustees.add_column("bond", justify="right", no_wrap=True)
    trustees.add_column("multiaddr", overflow="fold")
    for t in d["trustees"]:
        trustees.add_row(t["address"], t["pubkey"], format_dlc(t["bond"]), t["multiaddr"])
    stdout.print(trustees)
