"""``daoli chain``: look at a chain's genesis, and write genesis files for devnets."""

from __future__ import annotations

import os
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    examples,
    fail,
    group_options,
    parse_path,
    report_error,
    resolve_home,
    say,
    stdout,
    warn,
)
from daoli.core.address import address_of, decode_address
from daoli.core.crypto import check_pubkey
from daoli.core.encoding import MAX_U64
from daoli.core.genesis import CHAIN_ID_RE, Allocation, Genesis, GenesisTrustee
from daoli.core.params import ChainParams
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import ConfigError, DaoliError
from daoli.files import os_error_text, quote, show
from daoli.node.config import check_multiaddr, clip, dump_genesis_toml, load_genesis_file
from daoli.node.home import DEV_CHAIN_ID, Home, write_file

app = typer.Typer(help="Inspect the chain: genesis and parameters, and a running node's tip.",
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
    home: HomeOpt = None,
    file: Annotated[
        Path | None, typer.Option("--file", parser=parse_path,
                                  help="Inspect this genesis.toml instead of the home's."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a genesis: chain id, time, genesis id, parameters, allocations and trustees.

    Validates the file as a node would (exit 2 with one line naming the problem). A file
    that leaves parameters to their defaults (e.g. one cut short inside [params]) is valid
    but gets a warning on stderr.

    --json prints {"chain_id", "genesis_time_ms", "genesis_id" (hex), "params": {name: int},
    "allocations": [{"address", "amount"}], "trustees": [{"pubkey" (hex), "address",
    "bond", "multiaddr"}], "warnings": [one line each]}; amounts and bonds in li.
    """
    warnings: list[str] = []
    try:
        if file is not None:
            g = load_genesis_file(file, warnings)
        else:
            g = Home(resolve_home(home)).load_genesis(warnings)
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    for line in warnings:
        warn(line)
    data = {**genesis_dict(g), "warnings": warnings}
    emit(as_json, data, lambda: _show_genesis(g, data))


genesis_cmd.__doc__ = (genesis_cmd.__doc__ or "") + examples(
    "daoli chain genesis",
    "daoli chain genesis --file devnet.toml",
    "daoli --json chain genesis --home ./node1",
)


@app.command("new-genesis")
def new_genesis(
    out: Annotated[Path, typer.Option("--out", parser=parse_path, help="File to write.")],
    chain_id: Annotated[str, typer.Option("--chain-id", help="Chain id: 1-63 of a-z, 0-9 "
                                          "and '-'.")] = DEV_CHAIN_ID,
    genesis_time_ms: Annotated[
        int | None, typer.Option("--genesis-time-ms", min=0, max=MAX_U64,
                                 help="Unix ms.", show_default="now, whole seconds"),
    ] = None,
    trustee: Annotated[
        list[str] | None, typer.Option("--trustee", metavar="PUBKEY=MULTIADDR",
                                       help="A genesis trustee (bond = min_bond): its "
                                       "compressed public key in hex and the canonical "
                                       "multiaddr peers dial, /ip4|ip6|dns/HOST/tcp/PORT "
                                       "[/p2p/PEER_ID]; repeatable."),
    ] = None,
    alloc: Annotated[
        list[str] | None, typer.Option("--alloc", metavar="ADDRESS=AMOUNT",
                                       help="Prefund an address; AMOUNT in li, or with a DLC "
                                       "suffix (e.g. 1000DLC); repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a genesis.toml with every parameter at its default, for a devnet or to edit by
    hand.

    Every node then runs 'daoli init --genesis FILE'. --json prints the same object as
    'daoli chain genesis --json' ("warnings" is always empty: every parameter is written)
    plus "file".
    """
    try:
        _check_out(out, force)
        if not CHAIN_ID_RE.match(chain_id):
            fail(f"--chain-id {clip(chain_id)}: use 1-63 of a-z, 0-9 and '-'")
        params = ChainParams()
        trustees = tuple(_parse_trustee(t, params.min_bond) for t in trustee or [])
        allocations = tuple(_parse_alloc(a) for a in alloc or [])
        if genesis_time_ms is None:
            genesis_time_ms = int(time.time()) * 1000
        g = Genesis(chain_id, genesis_time_ms, params, allocations, trustees)
        write_file(out, dump_genesis_toml(g).encode())
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    data = {**genesis_dict(g), "file": str(out), "warnings": []}
    emit(as_json, data, lambda: say("Wrote genesis of ", (g.chain_id, "bold"), " to ",
                                    show(out), f" (genesis id {g.id.hex()})"))


new_genesis.__doc__ = (new_genesis.__doc__ or "") + examples(
    "daoli chain new-genesis --out devnet.toml --chain-id devnet-1",
    "daoli chain new-genesis --out devnet.toml --trustee 02ab...=/ip4/10.0.0.1/tcp/26656 "
    "--alloc dlc1...=1000DLC",
)


def _check_out(out: Path, force: bool) -> None:
    """--out may be replaced only with --force, and never when it is a directory."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        fail(f"--out {quote(out)}: {os_error_text(exc)}")
    if stat.S_ISDIR(st.st_mode):
        fail(f"--out {quote(out)} is a directory")
    if not force:
        fail(f"{quote(out)} exists; use --force to overwrite it")


_PUBKEY_HEX_RE = re.compile(r"[0-9a-fA-F]{66}")


def _parse_trustee(text: str, bond: int) -> GenesisTrustee:
    pubkey_hex, sep, multiaddr = text.partition("=")
    if not sep:
        raise ConfigError(f"--trustee {clip(text)}: expected PUBKEY_HEX=/ip4/HOST/tcp/PORT")
    if not _PUBKEY_HEX_RE.fullmatch(pubkey_hex):
        raise ConfigError(f"--trustee {clip(text)}: the public key must be 66 hex digits "
                          "(33 bytes, compressed)")
    try:
        pubkey = check_pubkey(bytes.fromhex(pubkey_hex))
    except DaoliError as exc:
        raise ConfigError(f"--trustee {clip(text)}: {exc}") from None
    check_multiaddr(multiaddr, "--trustee multiaddr")
    return GenesisTrustee(pubkey, bond, multiaddr)


def _parse_alloc(text: str) -> Allocation:
    addr, sep, amount = text.partition("=")
    if not sep:
        raise ConfigError(f"--alloc {clip(text)}: expected ADDRESS=AMOUNT")
    try:
        return Allocation(decode_address(addr), parse_amount(amount))
    except DaoliError as exc:
        raise ConfigError(f"--alloc {clip(text)}: {exc}") from None


def iso_time(ms: int) -> str:
    """Unix ms as ISO 8601 UTC with milliseconds, or "(out of range)"."""
    return _iso(ms)


def _iso(ms: int) -> str:
    try:
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    except (OverflowError, ValueError, OSError):
        return "(out of range)"
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> Text:
    """A table cell: user text as it is (escaped by show), never parsed as markup."""
    return Text(show(value))


def _show_genesis(g: Genesis, d: dict[str, Any]) -> None:
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("chain id", _text(g.chain_id))
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
        allocs.add_row(_text(a["address"]), format_dlc(a["amount"]))
    stdout.print(allocs)

    trustees = Table(title=f"trustees ({len(g.trustees)})", title_justify="left")
    trustees.add_column("address", overflow="fold")
    trustees.add_column("pubkey", overflow="fold")
    trustees.add_column("bond", justify="right", no_wrap=True)
    trustees.add_column("multiaddr", overflow="fold")
    for t in d["trustees"]:
        trustees.add_row(_text(t["address"]), t["pubkey"], format_dlc(t["bond"]),
                         _text(t["multiaddr"]))
    stdout.print(trustees)


@app.command("status")
def status_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Ask the node (--node, $DAOLI_NODE, else the home's api_listen) where its chain is:
    height and tip, clock cycle and observed cycle length, trustees, peers, mempool.

    --json: the object of 'daoli node status --json': {"node", "chain_id", "genesis_id",
    "height", "tip_id", "tip_time_ms", "cycle", "gc_cycle_ms" (null with too few blocks),
    "round", "peers", "trustees", "trustee", "mempool", "peer_id", "listen", "syncing",
    "version"}.
    """
    from daoli.cli.node import connect, show_status, status_dict

    with connect(home) as node:
        d = status_dict(node.status(), node.url)
    emit(as_json, d, lambda: show_status(d, chain_view=True))


status_cmd.__doc__ = (status_cmd.__doc__ or "") + examples(
    "daoli chain status", "daoli --json chain status | jq .height",
    "daoli --node 10.0.0.5:26657 chain status",
)
