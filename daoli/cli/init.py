"""``daoli init``: create a node home (config, keys, genesis), by default for a dev chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from daoli.cli.common import HomeOpt, JsonOpt, emit, report_error, resolve_home, stdout
from daoli.core.address import address_of
from daoli.errors import DaoliError
from daoli.node.config import NodeConfig
from daoli.node.home import DEV_WALLET, DEV_WALLET_FUNDS, Home, InitReport


def init(
    home: HomeOpt = None,  # type: ignore[assignment]
    genesis: Annotated[
        Path | None,
        typer.Option("--genesis", help="Join the chain of this genesis.toml (validated, then "
                     "copied byte for byte). Without it: a one-node development chain."),
    ] = None,
    chain_id: Annotated[
        str | None, typer.Option("--chain-id", help="Chain id of the dev chain.",
                                 show_default="daoli-dev"),
    ] = None,
    p2p_listen: Annotated[
        str | None, typer.Option("--p2p-listen", help="libp2p listen multiaddr.",
                                 show_default="/ip4/127.0.0.1/tcp/26656"),
    ] = None,
    api_listen: Annotated[
        str | None, typer.Option("--api-listen", help="host:port of the local API.",
                                 show_default="127.0.0.1:26657"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the config, keys and genesis of an "
                           "initialised home (wallets are kept)."),
    ] = False,
    reset_data: Annotated[
        bool, typer.Option("--reset-data", help="With --force: also delete the home's "
                           "chain data (data/)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a node home: config.toml, node_key, signer_key and genesis.toml.

    Without --genesis this starts a one-node development chain (like anvil or geth --dev):
    chain id daoli-dev, genesis time now (whole seconds), default parameters, this node's
    signer key the only trustee (bond = min_bond), and a wallet 'dev' in `<home>/wallets`
    prefunded with 1,000,000 DLC whose password is in `<home>/dev.password`.

    An initialised home is never overwritten without --force, and an existing data/
    directory is never deleted without --reset-data as well. Keys are made fresh on --force;
    wallets are never deleted: a dev chain re-made with --force reuses the 'dev' wallet
    (if dev.password unlocks it), so its address stays the same.

    node_key is the libp2p identity; signer_key is the secp256k1 key the node signs tickets,
    proposals and votes with as miner, sponsor and trustee. Neither is a user wallet.

    --json prints {"home", "chain_id", "genesis_id", "genesis_time_ms", "genesis_file",
    "config_file", "signer_pubkey", "signer_address", "node_key_file", "signer_key_file",
    "dev_wallet": {"name", "address", "amount", "password_file"} or null,
    "replaced", "data_reset"}.
    """
    try:
        path = resolve_home(home)
        defaults = NodeConfig()
        config = NodeConfig(p2p_listen=p2p_listen or defaults.p2p_listen,
                            api_listen=api_listen or defaults.api_listen)
        report = Home.create(path, genesis_file=genesis, chain_id=chain_id, config=config,
                             force=force, reset_data=reset_data)
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    data = _report_dict(report)
    emit(as_json, data, lambda: _show(report, data))


def _report_dict(r: InitReport) -> dict[str, Any]:
    h = r.home
    dev = None
    if r.dev_wallet_address is not None:
        dev = {"name": DEV_WALLET, "address": r.dev_wallet_address, "amount": DEV_WALLET_FUNDS,
               "password_file": str(h.dev_password_file)}
    return {
        "home": str(h.path),
        "chain_id": r.genesis.chain_id,
        "genesis_id": r.genesis.id.hex(),
        "genesis_time_ms": r.genesis.genesis_time_ms,
        "genesis_file": str(h.genesis_file),
        "config_file": str(h.config_file),
        "node_key_file": str(h.node_key_file),
        "signer_key_file": str(h.signer_key_file),
        "signer_pubkey": r.signer_pubkey.hex(),
        "signer_address": address_of(r.signer_pubkey),
        "dev_wallet": dev,
        "replaced": r.replaced,
        "data_reset": r.data_reset,
    }


def _show(r: InitReport, d: dict[str, Any]) -> None:
    kind = "development chain" if r.dev_wallet_address else "chain"
    verb = "Re-initialised" if r.replaced else "Initialised"
    stdout.print(f"{verb} node home [bold]{d['home']}[/bold] for {kind} "
                 f"[bold]{d['chain_id']}[/bold]")
    stdout.print(f"  genesis id   {d['genesis_id']}")
    trustee = any(t.pubkey == r.signer_pubkey for t in r.genesis.trustees)
    stdout.print(f"  signer       {d['signer_address']}"
                 + (" (a genesis trustee)" if trustee else ""))
    if r.data_reset:
        stdout.print("  chain data   deleted (--reset-data)")
    if d["dev_wallet"] is not None:
        stdout.print(f"  dev wallet   {d['dev_wallet']['address']} holds "
                     f"{DEV_WALLET_FUNDS // 100_000_000:,} DLC; "
                     f"password in {d['dev_wallet']['password_file']}")
