"""``daoli provider start`` and ``daoli cloud put|get|ls|run``: the services of daoli.cloud on
leases the chain holds.

The provider is the wallet whose key made the offers: it serves storage and compute to the
buyers of its active leases over libp2p (its peer id is derived from that key, so the
``--endpoint`` published in an offer stays valid across restarts), checks each lease on
the chain through the node's API, and submits the usage receipts buyers sign as
``UsageReceipt`` transactions, which pay it from the lease's escrow. The buyer side finds
the provider from the lease's offer (its endpoint) and signs receipts for what it was
served.
"""

from __future__ import annotations

import hashlib
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    examples,
    fail,
    group_options,
    say,
    state,
    stdout,
)
from daoli.cli.wallet import PasswordFileOpt
from daoli.errors import EXIT_FAILED, DaoliError
from daoli.files import show

PEER_TAG = b"daoli/provider-peer/v1"
"""Domain tag of the provider's libp2p identity: sha256(tag || provider secret)."""

provider_app = typer.Typer(
    help="Serve the leases of your offers: storage and compute over libp2p, receipts "
    "submitted on chain." + examples(
        "daoli provider start --wallet alice",
        "daoli resource offer --cpu 1 --mem 1Gi --disk 1Gi --price 0.001DLC/block "
        "--unit-price 10 --endpoint \"$(daoli --json provider id --wallet alice | jq -r "
        ".endpoint)\" --wallet alice --wait"),
    rich_markup_mode="markdown", context_settings={"help_option_names": ["-h", "--help"]})
cloud_app = typer.Typer(
    help="Use a lease: store files on the provider, run commands there." + examples(
        "daoli cloud put LEASE report.pdf --wallet bob",
        "daoli cloud ls LEASE --wallet bob",
        "daoli cloud run LEASE --wallet bob -- python3 -c 'print(6*7)'"),
    rich_markup_mode="markdown", context_settings={"help_option_names": ["-h", "--help"]})


@provider_app.callback(invoke_without_command=True)
def _provider_group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


@cloud_app.callback(invoke_without_command=True)
def _cloud_group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


WalletOpt = Annotated[str, typer.Option("--wallet", help="The wallet whose key signs.")]
LeaseArg = Annotated[str, typer.Argument(metavar="LEASE", help="Lease id (64 hex: the id of "
                                         "the order that opened it).")]
ProviderOpt = Annotated[str | None, typer.Option(
    "--provider", metavar="MULTIADDR", help="Where the provider listens "
    "(/ip4/HOST/tcp/PORT/p2p/ID).", show_default="the endpoint of the lease's offer")]


def _json() -> bool:
    return state().json


def peer_secret(provider_secret: bytes) -> bytes:
    """The provider's libp2p identity: fixed by its key, so an offer's endpoint holds."""
    return hashlib.sha256(PEER_TAG + provider_secret).digest()


def _lease_id(text: str) -> bytes:
    t = text.strip().lower()
    if len(t) != 64 or any(c not in "0123456789abcdef" for c in t):
        fail(f"LEASE must be 64 hex digits, got {show(text)}")
    return bytes.fromhex(t)


@provider_app.command("id")
def provider_id(
    wallet: WalletOpt,
    listen: Annotated[str, typer.Option("--listen", help="The multiaddr to listen on.")
                      ] = "/ip4/127.0.0.1/tcp/26660",
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The provider's peer id and the endpoint to publish in offers ('resource offer
    --endpoint'). --json: {"peer_id", "endpoint", "provider"}."""
    from daoli.cli.wallet import unlock_wallet
    from daoli.core.peerid import peer_id_of_secret
    from daoli.node.config import check_multiaddr

    check_multiaddr(listen, "--listen", listen=True)
    info, secret = unlock_wallet(wallet, password_file, home)
    pid = peer_id_of_secret(peer_secret(secret))
    d = {"peer_id": pid, "endpoint": f"{listen}/p2p/{pid}", "provider": info.address}
    emit(as_json, d, lambda: say("endpoint: ", show(d["endpoint"])))


@provider_app.command("start")
def provider_start(
    wallet: WalletOpt,
    listen: Annotated[str, typer.Option("--listen", help="The multiaddr to listen on.")
                      ] = "/ip4/127.0.0.1/tcp/26660",
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where leases' files and runs live.",
        show_default="<home>/provider")] = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve storage and compute to the buyers of your leases until Ctrl-C. Each caller
    proves it holds the lease's buyer key; the lease is checked on chain; use is metered
    and the buyer's signed receipts are submitted as UsageReceipt transactions (fee
    min_fee each), which pay you from the lease's escrow.

    Prints one JSON line when listening (with --json, else a sentence): {"event":
    "provider_started", "peer_id", "endpoint", "provider", "data_dir"}.
    """
    import trio

    from daoli.cli.common import resolve_home
    from daoli.cli.node import connect
    from daoli.cli.wallet import unlock_wallet
    from daoli.cloud.host import listen_addrs
    from daoli.cloud.provider import ProviderConfig, open_provider
    from daoli.cloud.service import ClientLeaseSource, LeaseView, Resources
    from daoli.core.params import ChainParams
    from daoli.core.peerid import peer_id_of_secret
    from daoli.core.tx import UsageReceipt
    from daoli.node.config import check_multiaddr

    check_multiaddr(listen, "--listen", listen=True)
    info, secret = unlock_wallet(wallet, password_file, home)
    client = connect(home)
    chain_id = client.chain_id()
    fee = ChainParams().min_fee
    directory = data_dir if data_dir is not None else resolve_home(home) / "provider"
    offers: dict[bytes, Resources] = {}

    def resources(lease: Any) -> Resources:
        """What the lease's offer sold (remembered: the offer may expire before the lease)."""
        if lease.offer_id not in offers:
            o = client.offer(lease.offer_id)
            offers[lease.offer_id] = Resources(o.cpu_millicores, o.mem_mib, o.disk_gib,
                                               o.net_mbps)
        return offers[lease.offer_id]

    leases = ClientLeaseSource(client.lease, lambda: client.status().height, resources)

    async def submit(lease: LeaseView, receipt: UsageReceipt) -> None:
        def send() -> None:
            tx = client.usage_receipt(secret, receipt, fee)
            result = client.submit(tx)
            if not result.ok:
                raise DaoliError(f"receipt {receipt.seq} of lease {lease.id.hex()[:12]} "
                                 f"refused: {result.reason}")
        await trio.to_thread.run_sync(send)

    config = ProviderConfig(chain_id, secret, peer_secret(secret), directory, listen)

    async def main() -> None:
        async with open_provider(config, leases, submit_receipt=submit) as provider:
            pid = peer_id_of_secret(config.node_secret)
            endpoint = next(iter(listen_addrs(provider.host)), f"{listen}/p2p/{pid}")
            line = {"event": "provider_started", "peer_id": pid, "endpoint": endpoint,
                    "provider": info.address, "data_dir": str(directory)}
            if as_json or _json():
                import json

                print(json.dumps(line, sort_keys=True), flush=True)
            else:
                say("provider ", show(info.address), " serving at ", show(endpoint))
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _sig in signals:  # Ctrl-C or SIGTERM: leave the block, settle
                    break

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    except DaoliError as exc:
        fail(str(exc), EXIT_FAILED)


def _buyer_call(lease_text: str, wallet: str, provider: str | None,
                password_file: Path | None, home: Path | None, action: Any) -> Any:
    """Look the lease up on chain, connect to its provider as its buyer, and run
    ``action(buyer)``; receipts for what was served are signed on the way."""
    import trio

    from daoli.cli.node import connect
    from daoli.cli.wallet import unlock_wallet
    from daoli.client.errors import NotFound
    from daoli.cloud.buyer import BuyerLease, open_buyer
    from daoli.cloud.proto import CloudError
    from daoli.node.config import check_multiaddr

    lease_id = _lease_id(lease_text)
    info, secret = unlock_wallet(wallet, password_file, home)
    client = connect(home)
    try:
        lease = client.lease(lease_id)
    except NotFound:
        fail(f"no active lease {lease_id.hex()} on chain")
    if lease.buyer_pubkey != info.pubkey:
        fail(f"lease {lease_id.hex()[:12]}... is not {show(wallet)}'s (its buyer is "
             f"{lease.buyer})")
    if provider is None:
        try:
            provider = client.offer(lease.offer_id).endpoint
        except NotFound:
            fail("the lease's offer is gone from the chain: give --provider MULTIADDR")
        if not provider:
            fail("the lease's offer publishes no endpoint: give --provider MULTIADDR")
    check_multiaddr(provider, "the provider's endpoint", peer_id=True)
    bl = BuyerLease(lease_id, secret, client.chain_id(), lease.provider_pubkey)

    async def main() -> Any:
        async with open_buyer(bl, provider) as buyer:
            result = await action(buyer)
        return result, list(buyer.signer.signed)  # leaving settled the last receipts

    try:
        return trio.run(main)
    except (CloudError, DaoliError, OSError) as exc:
        fail(f"{type(exc).__name__ if not str(exc) else ''}{exc}".strip(), EXIT_FAILED)


def _receipts(signed: list[Any]) -> list[dict[str, int]]:
    return [{"seq": r.seq, "units": r.units} for r in signed]


@cloud_app.command("put")
def cloud_put(
    lease: LeaseArg,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to store.")],
    wallet: WalletOpt,
    name: Annotated[str | None, typer.Option("--name", help="The name to store it under.",
                                             show_default="FILE's name")] = None,
    provider: ProviderOpt = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store FILE on the lease's provider (content-addressed; counts against the lease's
    disk). --json: {"name", "sha256", "size", "receipts": [{"seq", "units"}]}."""
    if not file.is_file():
        fail(f"FILE {show(file)} is not a readable file")
    stored, signed = _buyer_call(lease, wallet, provider, password_file, home,
                                 lambda b: b.put_file(name or file.name, file))
    d = {"name": stored.name, "sha256": stored.digest.hex(), "size": stored.size,
         "receipts": _receipts(signed)}
    emit(as_json, d, lambda: say("stored ", show(stored.name), f" ({stored.size:,} bytes, "
                                 f"sha256 {stored.digest.hex()[:16]}...)"))


@cloud_app.command("get")
def cloud_get(
    lease: LeaseArg,
    name: Annotated[str, typer.Argument(help="A stored name, or sha256:HEX.")],
    wallet: WalletOpt,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.",
                                                show_default="NAME in this directory")
                      ] = None,
    provider: ProviderOpt = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a stored file (checked against its sha256). --json: {"name", "sha256",
    "size", "path", "receipts"}."""
    target = output if output is not None else Path(Path(name).name or "download")
    if target.exists() and target.is_dir():
        fail(f"{show(target)} is a directory")
    stored, signed = _buyer_call(lease, wallet, provider, password_file, home,
                                 lambda b: b.get_file(name, target))
    d = {"name": stored.name, "sha256": stored.digest.hex(), "size": stored.size,
         "path": str(target), "receipts": _receipts(signed)}
    emit(as_json, d, lambda: say("fetched ", show(stored.name), f" ({stored.size:,} bytes) "
                                 "to ", show(target)))


@cloud_app.command("ls")
def cloud_ls(
    lease: LeaseArg,
    wallet: WalletOpt,
    provider: ProviderOpt = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the lease stores. --json: {"files": [{"name", "sha256", "size"}], "receipts"}."""
    items, signed = _buyer_call(lease, wallet, provider, password_file, home,
                                lambda b: b.ls())
    files = [{"name": s.name, "sha256": s.digest.hex(), "size": s.size} for s in items]

    def human() -> None:
        for f in files:
            stdout.print(f"{f['size']:>12,}  {f['sha256'][:16]}  {show(f['name'])}",
                         markup=False, highlight=False)

    emit(as_json, {"files": files, "receipts": _receipts(signed)}, human)


@cloud_app.command("run", context_settings={"allow_extra_args": True,
                                            "ignore_unknown_options": True})
def cloud_run(
    ctx: typer.Context,
    lease: LeaseArg,
    wallet: WalletOpt,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=86_400.0,
                                           help="Wall-clock seconds the run may take.")
                       ] = 60.0,
    provider: ProviderOpt = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a command on the provider, confined (its own directory, the lease's CPU and
    memory as limits): 'daoli cloud run LEASE --wallet W -- CMD ARGS...'. Its output is
    streamed back; CPU time is metered by the provider's kernel. The exit code is the
    command's (1 if it was killed). --json: {"code", "signal", "cpu_ms", "wall_ms",
    "reason", "truncated", "stdout", "stderr", "receipts"} (output as text)."""
    argv = list(ctx.args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        fail("give the command after --: daoli cloud run LEASE --wallet W -- CMD ARGS")
    jsonish = as_json or _json()

    async def out(fd: int, chunk: bytes) -> None:
        if not jsonish:
            (sys.stdout if fd == 1 else sys.stderr).buffer.write(chunk)
            (sys.stdout if fd == 1 else sys.stderr).flush()

    outcome, signed = _buyer_call(lease, wallet, provider, password_file, home,
                                  lambda b: b.run(argv, timeout, out))
    if jsonish:
        emit(True, {"code": outcome.code, "signal": outcome.signal, "cpu_ms": outcome.cpu_ms,
                    "wall_ms": outcome.wall_ms, "reason": outcome.reason,
                    "truncated": outcome.truncated,
                    "stdout": outcome.stdout.decode("utf-8", "replace"),
                    "stderr": outcome.stderr.decode("utf-8", "replace"),
                    "receipts": _receipts(signed)})
    code = outcome.code if outcome.code is not None else 1
    if code:
        raise typer.Exit(min(max(code, 1), 255))


def _examples(fn: Any, *lines: str) -> None:
    fn.__doc__ = (fn.__doc__ or "") + examples(*lines)


_examples(provider_id, "daoli provider id --wallet alice",
          "daoli --json provider id --wallet alice --listen /ip4/127.0.0.1/tcp/26661 | jq -r "
          ".endpoint")
_examples(provider_start, "daoli provider start --wallet alice",
          "daoli --json provider start --wallet alice --listen /ip4/127.0.0.1/tcp/26661 "
          "--data-dir /srv/daoli")
_examples(cloud_put, "daoli cloud put LEASE ./notes.txt --wallet bob",
          "daoli --json cloud put LEASE data.tar --name backup.tar --wallet bob | jq .sha256")
_examples(cloud_get, "daoli cloud get LEASE notes.txt --wallet bob",
          "daoli cloud get LEASE sha256:HEX -o out.bin --wallet bob")
_examples(cloud_ls, "daoli cloud ls LEASE --wallet bob",
          "daoli --json cloud ls LEASE --wallet bob | jq '.files[].name'")
_examples(cloud_run, "daoli cloud run LEASE --wallet bob -- python3 -c 'print(6*7)'",
          "daoli --json cloud run LEASE --wallet bob --timeout 10 -- uname -a | jq .cpu_ms")


__all__ = ["cloud_app", "peer_secret", "provider_app"]
