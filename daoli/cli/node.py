"""``daoli node``: start a node, ask a running one how it is, and show a home's identity.

Also the one place the other node-facing commands (``block``, ``tx``, ``payroll``,
``trustee``, ``wallet balance|send``, ``chain status``, ``mine``) get their
:class:`daoli.client.Client` from: :func:`connect` picks the node's URL (``--node``, else
``$DAOLI_NODE``, else the home's ``api_listen``, else ``127.0.0.1:26657``) and the API token
(``$DAOLI_API_TOKEN``, else ``<home>/api_token``). Client errors are
:class:`daoli.errors.DaoliError` subclasses with the contract's exit codes (3 unreachable,
4 timed out, 1 refused, 2 bad input), so the entry point prints them as one line.

``daoli.client`` (and with it httpx) is imported only inside the commands that talk to a
node, and ``daoli.node.service`` (and with it libp2p) only by ``node start``: the CLI's
start-up stays fast.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from daoli.cli.common import (
    DEFAULT_NODE,
    HomeOpt,
    JsonOpt,
    emit,
    examples,
    fail,
    group_options,
    resolve_home,
    say,
    state,
    stdout,
)
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.peerid import peer_id_of_secret
from daoli.errors import EXIT_FAILED, DaoliError
from daoli.files import show
from daoli.node.config import LOG_LEVELS, MAX_LOCAL_MINERS, check_multiaddr, parse_host_port
from daoli.node.home import Home

if TYPE_CHECKING:
    from daoli.client import Client, Status

TOKEN_ENV = "DAOLI_API_TOKEN"  # = daoli.client.TOKEN_ENV, without importing httpx here
MAX_SECONDS = 7 * 24 * 3600.0
"""Longest --timeout / --duration accepted: a week."""

app = typer.Typer(
    help="Run a node and look at a running one (its API: --node, $DAOLI_NODE, else the "
    "home's api_listen). The API token is $DAOLI_API_TOKEN, else <home>/api_token."
    + examples("daoli node start", "daoli node status", "daoli --json node peers",
               "daoli node id --home ./node1"),
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


# --- shared by every node-facing command ---------------------------------------------------------


def _home_api_url(home: Path) -> str | None:
    """``http://`` + the home's ``api_listen``, with a wildcard host made dialable."""
    try:
        h = Home(home)
        if not h.is_initialized():
            return None
        host, port = parse_host_port(h.load_config().api_listen)
    except DaoliError:
        return None  # the default then; a node with a broken config is not running anyway
    if host == "0.0.0.0":
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def node_url(home: Path | None = None) -> str:
    """The API address this invocation talks to (see the module docstring)."""
    st = state()
    if st.node:
        return st.node
    try:
        url = _home_api_url(resolve_home(home))
    except DaoliError:
        url = None
    return url or DEFAULT_NODE


def connect(home: Path | None = None, timeout: float = 10.0, url: str | None = None
            ) -> Client:
    """A :class:`daoli.client.Client` for this invocation's node."""
    from daoli.client import Client, token_from_home

    target = url or node_url(home)
    if os.environ.get(TOKEN_ENV):
        token = token_from_home(Path("."))  # the environment wins; no home needed
    else:
        token = token_from_home(resolve_home(home))
    return Client(target, token, timeout)


def check_seconds(value: float | None, option: str) -> float | None:
    """A --timeout or --duration: positive, finite, at most a week (typer lets inf and nan
    through a float option)."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        fail(f"{option} must be a number of seconds above 0 and at most {MAX_SECONDS:g}")
    return value


def status_dict(s: Status, url: str) -> dict[str, Any]:
    """The JSON schema of ``daoli node status`` and ``daoli chain status``."""
    return {
        "node": url, "chain_id": s.chain_id, "genesis_id": s.genesis_id.hex(),
        "height": s.height, "tip_id": s.tip_id.hex(), "tip_time_ms": s.tip_time_ms,
        "cycle": s.cycle, "gc_cycle_ms": s.gc_cycle_ms, "round": s.round, "peers": s.peers,
        "trustees": s.trustees, "trustee": s.trustee, "mempool": s.mempool,
        "peer_id": s.peer_id, "listen": list(s.listen), "syncing": s.syncing,
        "version": s.version,
    }


def iso_ms(ms: int) -> str:
    from daoli.cli.chain import iso_time

    return iso_time(ms)


def kv_table(rows: list[tuple[str, str | Text]]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(show(value)))
    stdout.print(table)


def show_status(d: dict[str, Any], *, chain_view: bool) -> None:
    gc = f"{d['gc_cycle_ms']} ms" if d["gc_cycle_ms"] is not None else "(too few blocks)"
    rows: list[tuple[str, str | Text]] = [
        ("chain id", d["chain_id"]), ("height", f"{d['height']:,}"), ("tip", d["tip_id"]),
        ("tip time", f"{iso_ms(d['tip_time_ms'])}"), ("cycle", str(d["cycle"])),
        ("observed cycle", gc), ("round", str(d["round"])),
        ("trustees", f"{d['trustees']} active"), ("mempool", f"{d['mempool']:,} txs"),
    ]
    if chain_view:
        rows.insert(1, ("genesis id", d["genesis_id"]))
        rows.append(("peers", str(d["peers"])))
    else:
        rows[:0] = [("node", d["node"]), ("peer id", d["peer_id"]),
                    ("version", d["version"])]
        rows += [("peers", str(d["peers"])), ("this node", "trustee" if d["trustee"]
                                               else "not a trustee"),
                 ("syncing", "yes" if d["syncing"] else "no"),
                 ("listen", " ".join(d["listen"]) or "(none)")]
    kv_table(rows)


# --- commands ------------------------------------------------------------------------------------


@app.command("start")
def start(
    listen: Annotated[str | None, typer.Option(
        "--listen", metavar="MULTIADDR", help="libp2p listen address (overrides the home's "
        "p2p_listen), e.g. /ip4/0.0.0.0/tcp/26656.", show_default=False)] = None,
    bootstrap: Annotated[list[str] | None, typer.Option(
        "--bootstrap", metavar="MULTIADDR", help="A peer to connect to, with its /p2p/ id; "
        "repeatable (added to the home's bootstrap_peers).", show_default=False)] = None,
    api: Annotated[str | None, typer.Option(
        "--api", metavar="HOST:PORT", help="Where the local API listens (overrides the home's "
        "api_listen).", show_default=False)] = None,
    trustee: Annotated[bool | None, typer.Option(
        "--trustee/--no-trustee", help="Vote when the signer key is an active trustee "
        "(overrides the home's trustee).",
        show_default="yes")] = None,
    mine: Annotated[int | None, typer.Option(
        "--mine", metavar="N", min=0, max=MAX_LOCAL_MINERS,
        help="Miner keys to mine with on this node (overrides the home's mine).",
        show_default="1 on a chain this home created, else 0")] = None,
    sponsor: Annotated[bool | None, typer.Option(
        "--sponsor/--no-sponsor", help="Accept tickets from light miners ('daoli mine') "
        "through the API (overrides the home's sponsor).", show_default="yes")] = None,
    log_level: Annotated[str | None, typer.Option(
        "--log-level", help="|".join(LOG_LEVELS), show_default="the home's log_level")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a node from its home until Ctrl-C or SIGTERM; the exit code is the node's.

    Options override the home's config.toml for this run only. Every address is checked
    before anything starts (exit 2, one line). --json prints the start-up line (peer id,
    listen addresses, API URL) as one JSON object; logs go to stderr.
    """
    from daoli.node.options import NodeOptions

    if listen is not None:
        check_multiaddr(listen, "--listen", listen=True)
    for peer in bootstrap or []:
        check_multiaddr(peer, "--bootstrap", peer_id=True)
    if api is not None:
        parse_host_port(api)
    if log_level is not None and log_level not in LOG_LEVELS:
        fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    where = resolve_home(home)
    Home(where).require_initialized()
    options = NodeOptions(listen=listen, bootstrap=tuple(bootstrap or ()), api=api,
                          trustee=trustee, mine=mine, sponsor=sponsor, log_level=log_level,
                          json_output=as_json or state().json)
    try:
        from daoli.node.service import run_node
    except ModuleNotFoundError as exc:
        if exc.name != "daoli.node.service":
            raise
        fail("this build of daoli has no node service (daoli.node.service is missing)",
             EXIT_FAILED)
    raise typer.Exit(run_node(where, options))


start.__doc__ = (start.__doc__ or "") + examples(
    "daoli node start",
    "daoli node start --home ./node2 --listen /ip4/0.0.0.0/tcp/26666 --api 127.0.0.1:26667 "
    "--bootstrap /ip4/10.0.0.1/tcp/26656/p2p/16Uiu2HAm...",
    "daoli node start --no-trustee --mine 0 --log-level debug",
)


@app.command("status")
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Ask the node how it is: chain tip, clock cycle, round, peers, trustees, mempool.

    --json: {"node" (URL), "chain_id", "genesis_id", "height", "tip_id", "tip_time_ms",
    "cycle", "gc_cycle_ms" (null with too few blocks), "round", "peers", "trustees",
    "trustee" (bool), "mempool", "peer_id", "listen": [multiaddr], "syncing", "version"}.
    """
    with connect(home) as node:
        d = status_dict(node.status(), node.url)
    emit(as_json, d, lambda: show_status(d, chain_view=False))


status.__doc__ = (status.__doc__ or "") + examples(
    "daoli node status", "daoli --node 127.0.0.1:26667 node status",
    "daoli --json node status | jq .height")


@app.command("peers")
def peers(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the peers the node is connected to.

    --json: {"count", "peers": [{"peer_id", "addrs": [multiaddr], "direction" (or null)}]}.
    """
    with connect(home) as node:
        found = node.peers()
    d = {"count": len(found), "peers": [{"peer_id": p.peer_id, "addrs": list(p.addrs),
                                         "direction": p.direction} for p in found]}

    def human() -> None:
        if not found:
            say("no peers connected")
            return
        table = Table("peer id", "direction", "addresses")
        for p in found:
            table.add_row(Text(show(p.peer_id)), Text(show(p.direction or "?")),
                          Text(show(" ".join(p.addrs))))
        stdout.print(table)

    emit(as_json, d, human)


peers.__doc__ = (peers.__doc__ or "") + examples("daoli node peers", "daoli --json node peers")


@app.command("id")
def id_(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the home's identities, without a running node: the libp2p peer id (from
    node_key) and the signer key's address and public key (from signer_key).

    Peers dial this node at its listen address followed by /p2p/PEER_ID.

    --json: {"home", "peer_id", "signer_address", "signer_pubkey" (hex)}.
    """
    where = resolve_home(home)
    h = Home(where)
    h.require_initialized()
    peer_id = peer_id_of_secret(h.node_secret())
    signer = pubkey_from_secret(h.signer_secret())
    d = {"home": str(where), "peer_id": peer_id, "signer_address": address_of(signer),
         "signer_pubkey": signer.hex()}
    emit(as_json, d, lambda: kv_table([
        ("home", str(where)), ("peer id", peer_id), ("signer address", d["signer_address"]),
        ("signer pubkey", d["signer_pubkey"])]))


id_.__doc__ = (id_.__doc__ or "") + examples(
    "daoli node id", "daoli --json node id --home ./node1 | jq -r .peer_id")


__all__ = ["app", "check_seconds", "connect", "node_url", "status_dict"]
