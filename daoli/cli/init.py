"""``daoli init``: create a node home (config, keys, genesis), by default for a dev chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    examples,
    parse_path,
    report_error,
    resolve_home,
    say,
    warn,
)
from daoli.core.address import address_of
from daoli.core.units import format_dlc
from daoli.errors import ConfigError, DaoliError
from daoli.files import show
from daoli.node.config import NodeConfig, check_multiaddr, parse_host_port
from daoli.node.home import DEV_WALLET, DEV_WALLET_FUNDS, Home, InitReport


def init(
    home: HomeOpt = None,
    genesis: Annotated[
        Path | None,
        typer.Option("--genesis", parser=parse_path,
                     help="Join the chain of this genesis.toml (validated, then copied byte "
                     "for byte). Without it: a one-node development chain."),
    ] = None,
    chain_id: Annotated[
        str | None, typer.Option("--chain-id", help="Chain id of the dev chain: 1-63 of "
                                 "a-z, 0-9 and '-'.", show_default="daoli-dev"),
    ] = None,
    p2p_listen: Annotated[
        str | None, typer.Option("--p2p-listen",
                                 help="libp2p listen multiaddr, /ip4|ip6|dns/HOST/tcp/PORT in "
                                 "canonical form. A dev chain's genesis names it as its "
                                 "trustee's address (0.0.0.0 as 127.0.0.1; port 0 refused).",
                                 show_default="/ip4/127.0.0.1/tcp/26656"),
    ] = None,
    api_listen: Annotated[
        str | None, typer.Option("--api-listen", help="host:port of the local API ([::1]:PORT "
                                 "for IPv6).", show_default="127.0.0.1:26657"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the config, keys and genesis of an "
                           "initialised home, all together or not at all (wallets are kept)."),
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

    A home init creates is mode 0700; an existing directory keeps its mode. An initialised
    home is never overwritten without --force, and an existing data/ directory is never
    deleted without --reset-data as well. With --force the new files replace the old ones
    all together: if any write fails, the home is left as it was. Keys are made fresh on
    --force; wallets are never deleted: a dev chain re-made with --force reuses the 'dev'
    wallet (if dev.password unlocks it), so its address stays the same.

    node_key is the libp2p identity; signer_key is the secp256k1 key the node signs tickets,
    proposals and votes with as miner, sponsor and trustee. Neither is a user wallet.

    Warnings (a --genesis that leaves parameters to their defaults, e.g. a file cut short;
    an existing home others can read) are printed on stderr, one line each.

    --json prints {"home", "chain_id", "genesis_id", "genesis_time_ms", "genesis_file",
    "config_file", "signer_pubkey", "signer_address", "node_key_file", "signer_key_file",
    "dev_wallet": {"name", "address", "amount", "password_file"} or null,
    "replaced", "data_reset", "warnings": [one line each]}.
    """
    try:
        path = resolve_home(home)
        config = _config(p2p_listen, api_listen)
        report = Home.create(path, genesis_file=genesis, chain_id=chain_id, config=config,
                             force=force, reset_data=reset_data)
    except DaoliError as exc:
        raise typer.Exit(report_error(exc, as_json)) from None
    for line in report.warnings:
        warn(line)
    data = _report_dict(report)
    emit(as_json, data, lambda: _show(report, data))


init.__doc__ = (init.__doc__ or "") + examples(
    "daoli init",
    "daoli init --home ./node1 --chain-id my-dev --p2p-listen /ip4/0.0.0.0/tcp/4001",
    "daoli init --home ./node2 --genesis devnet.toml --api-listen 127.0.0.1:4002",
    "daoli --json init --force --reset-data",
)


def _config(p2p_listen: str | None, api_listen: str | None) -> NodeConfig:
    """The node settings from the options, each checked under the option's own name."""
    defaults = NodeConfig()
    if p2p_listen is not None:
        check_multiaddr(p2p_listen, "--p2p-listen", listen=True)
    if api_listen is not None:
        try:
            parse_host_port(api_listen)
        except ConfigError as exc:
            raise ConfigError(f"--api-listen {exc}") from None
    return NodeConfig(p2p_listen=defaults.p2p_listen if p2p_listen is None else p2p_listen,
                      api_listen=defaults.api_listen if api_listen is None else api_listen)


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
        "warnings": list(r.warnings),
    }


def _show(r: InitReport, d: dict[str, Any]) -> None:
    kind = "development chain" if r.dev_wallet_address else "chain"
    verb = "Re-initialised" if r.replaced else "Initialised"
    say(f"{verb} node home ", (show(d["home"]), "bold"), f" for {kind} ",
        (show(d["chain_id"]), "bold"))
    say("  genesis id   ", d["genesis_id"])
    trustee = any(t.pubkey == r.signer_pubkey for t in r.genesis.trustees)
    say("  signer       ", d["signer_address"], " (a genesis trustee)" if trustee else "")
    if r.data_reset:
        say("  chain data   deleted (--reset-data)")
    if d["dev_wallet"] is not None:
        say("  dev wallet   ", d["dev_wallet"]["address"], " holds ",
            format_dlc(DEV_WALLET_FUNDS), "; password in ",
            show(d["dev_wallet"]["password_file"]))
