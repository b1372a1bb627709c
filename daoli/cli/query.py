"""``daoli block|tx|payroll|trustee``: read the chain from a running node, and join or leave
the trustee consortium.

Every command talks to the node's API through :func:`daoli.cli.node.connect` and decodes
the protocol objects from their ``raw`` encodings (``daoli.client`` checks the ids), so
what is shown is what the chain holds. ``--json`` objects reuse a few shapes:

- ticket: ``{"id", "miner", "miner_pubkey", "sponsor", "sponsor_pubkey", "cycle", "nonce",
  "time_ms"}``;
- block: ``{"height", "id", "parent_id", "cycle", "time_ms", "proposer", "proposer_pubkey",
  "winner": ticket, "payroll": [ticket], "txs": [id], "n_txs", "state_root", "size",
  "certificate": {"round", "signers": [pubkey]} | null}`` plus ``"raw"`` with ``--raw``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any

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
    one_line,
    say,
    state,
    stdout,
)
from daoli.cli.node import check_seconds, connect, iso_ms, kv_table
from daoli.cli.wallet import PasswordFileOpt, amount_text, unlock_wallet
from daoli.core.address import ADDRESS_LEN, address_of, encode_address
from daoli.core.encoding import ProtocolObject
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import EXIT_FAILED
from daoli.files import show

if TYPE_CHECKING:
    from daoli.client import BlockInfo, Client, TicketInfo, TxStatus
    from daoli.core.tx import Body, Transaction

MAX_LIST = 10_000
"""Most blocks one ``block list`` prints (fetched 100 at a time)."""
HELP = {"help_option_names": ["-h", "--help"]}


def _group_app(help_text: str) -> typer.Typer:
    app = typer.Typer(help=help_text, rich_markup_mode="markdown", context_settings=HELP)

    @app.callback(invoke_without_command=True)
    def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
        group_options(ctx, as_json, home)

    return app


block_app = _group_app(
    "Show finalized blocks from the node, or follow them live."
    + examples("daoli block show", "daoli block list --from 100 --to 120",
               "daoli block watch --count 5"))
tx_app = _group_app("Show a transaction, pooled or final." + examples("daoli tx show 3fa2..."))
payroll_app = _group_app(
    "Show a block's winner and payroll, or the miners lined up at the tip."
    + examples("daoli payroll show", "daoli payroll lineup"))
trustee_app = _group_app(
    "List the trustee consortium, and join or leave it (a bond is locked while joined)."
    + examples("daoli trustee list", "daoli trustee join --wallet signer --bond 1000DLC",
               "daoli trustee leave --wallet signer"))

RefArg = Annotated[str, typer.Argument(metavar="[HEIGHT|ID|latest]",
                                       help="A height, a 64-hex block id, or latest.")]
RawOpt = Annotated[bool, typer.Option("--raw", help="Add \"raw\": the hex of the canonical "
                                      "encoding (--json only).")]


# --- JSON shapes ---------------------------------------------------------------------------------


def ticket_dict(t: TicketInfo) -> dict[str, Any]:
    return {"id": t.ticket.id.hex(), "miner": t.miner, "miner_pubkey": t.miner_pubkey.hex(),
            "sponsor": t.sponsor, "sponsor_pubkey": t.sponsor_pubkey.hex(), "cycle": t.cycle,
            "nonce": t.nonce, "time_ms": t.time_ms}


def block_dict(b: BlockInfo, raw: bool = False) -> dict[str, Any]:
    h = b.block.header
    d: dict[str, Any] = {
        "height": b.height, "id": b.id.hex(), "parent_id": h.parent_id.hex(),
        "cycle": h.cycle, "time_ms": h.time_ms, "proposer": address_of(h.proposer_pubkey),
        "proposer_pubkey": h.proposer_pubkey.hex(), "winner": ticket_dict(b.winner),
        "payroll": [ticket_dict(t) for t in b.payroll], "txs": [i.hex() for i in b.tx_ids],
        "n_txs": len(b.block.payload), "state_root": h.state_root.hex(), "size": b.size,
        "certificate": None if b.certificate is None else {
            "round": b.certificate.round,
            "signers": [s.hex() for s in b.certificate.signers]},
    }
    if raw:
        d["raw"] = b.block.encoded.hex()
    return d


def _value(name: str, value: Any) -> Any:
    if isinstance(value, ProtocolObject):
        return {"id": value.id.hex(), "raw": value.encoded.hex()}
    if isinstance(value, bytes):
        return encode_address(value) if name == "to" and len(value) == ADDRESS_LEN \
            else value.hex()
    return value


def body_dict(body: Body) -> dict[str, Any]:
    """A body's fields by name: bytes as hex, the recipient as an address, amounts in li."""
    return {f.name: _value(f.name, getattr(body, f.name)) for f in fields(body)}  # type: ignore[arg-type]


def tx_dict(s: TxStatus, raw: bool = False) -> dict[str, Any]:
    tx: Transaction = s.tx.tx
    d: dict[str, Any] = {
        "id": s.id.hex(), "status": s.status, "height": s.height, "index": s.index,
        "block_id": s.block_id.hex() if s.block_id is not None else None,
        "type": tx.body.NAME, "sender": address_of(tx.sender_pubkey),
        "sender_pubkey": tx.sender_pubkey.hex(), "nonce": tx.nonce, "fee": tx.fee,
        "fee_dlc": format_dlc(tx.fee, grouping=False, unit=False),
        "body": body_dict(tx.body),
    }
    if raw:
        d["raw"] = tx.encoded.hex()
    return d


def _short(hex_text: str, keep: int = 16) -> str:
    return hex_text if len(hex_text) <= keep else hex_text[:keep] + "..."


def _tickets_table(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table("#", "miner", "sponsor", "cycle", "nonce", title=Text(title, style="bold"),
                  title_justify="left")
    for i, t in enumerate(rows):
        table.add_row(str(i), Text(show(t["miner"])), Text(show(t["sponsor"])),
                      str(t["cycle"]), str(t["nonce"]))
    stdout.print(table)


# --- block -------------------------------------------------------------------------------------


@block_app.command("show")
def block_show(
    ref: RefArg = "latest",
    raw: RawOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one finalized block: header, winner, payroll, transactions and certificate.

    --json: the block object (see 'daoli block --help'); "raw" with --raw.
    """
    from daoli.client import block_ref

    target = block_ref(ref)
    with connect(home) as node:
        b = node.block(target)
    d = block_dict(b, raw)

    def human() -> None:
        kv_table([
            ("height", f"{d['height']:,}"), ("id", d["id"]), ("parent", d["parent_id"]),
            ("cycle", str(d["cycle"])), ("time", f"{iso_ms(d['time_ms'])}"),
            ("proposer", d["proposer"]), ("winner", d["winner"]["miner"]),
            ("state root", d["state_root"]), ("size", f"{d['size']:,} bytes"),
            ("certificate", "(none stored)" if d["certificate"] is None else
             f"round {d['certificate']['round']}, {len(d['certificate']['signers'])} "
             "signers"),
            ("transactions", str(d["n_txs"])),
        ])
        for tx_id in d["txs"][:50]:
            say("  ", tx_id)
        if d["n_txs"] > 50:
            say(f"  ... and {d['n_txs'] - 50} more (--json lists all)")
        if d["payroll"]:
            _tickets_table(f"payroll ({len(d['payroll'])})", d["payroll"])

    emit(as_json, d, human)


block_show.__doc__ = (block_show.__doc__ or "") + examples(
    "daoli block show", "daoli block show 42", "daoli --json block show latest --raw")


@block_app.command("list")
def block_list(
    from_: Annotated[int | None, typer.Option(
        "--from", min=0, help="First height.", show_default="the tip minus 9")] = None,
    to: Annotated[int | None, typer.Option(
        "--to", min=0, help="Last height (capped at the tip).",
        show_default="--from plus 9, or the tip")] = None,
    raw: RawOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List finalized blocks from --from to --to (at most 10,000; fetched 100 at a time).

    --json: {"from", "to", "blocks": [block object]} ("to" is the last height listed).
    """
    if from_ is not None and to is not None and to < from_:
        fail("--to is below --from")
    with connect(home) as node:
        if from_ is None or to is None:
            tip = node.status().height
            if from_ is None:
                from_ = max(0, (tip if to is None else min(to, tip)) - 9)
            if to is None:
                to = min(from_ + 9, tip)
        if to - from_ + 1 > MAX_LIST:
            fail(f"at most {MAX_LIST:,} blocks at a time")
        found: list[BlockInfo] = []
        start = from_
        while start <= to:
            page = node.blocks(start, min(to, start + 99))
            page = [b for b in page if start <= b.height <= to]
            if not page:
                break
            found += page
            start = page[-1].height + 1
    d: dict[str, Any] = {"from": from_, "to": found[-1].height if found else None,
         "blocks": [block_dict(b, raw) for b in found]}

    def human() -> None:
        if not found:
            say(f"no blocks from height {from_} to {to}")
            return
        table = Table("height", "id", "time", "txs", "payroll", "winner")
        for b in d["blocks"]:
            table.add_row(f"{b['height']:,}", _short(b["id"]), iso_ms(b["time_ms"]),
                          str(b["n_txs"]), str(len(b["payroll"])),
                          Text(show(b["winner"]["miner"])))
        stdout.print(table)

    emit(as_json, d, human)


block_list.__doc__ = (block_list.__doc__ or "") + examples(
    "daoli block list", "daoli block list --from 100 --to 199",
    "daoli --json block list --from 0 --to 5")


@block_app.command("watch")
def block_watch(
    count: Annotated[int | None, typer.Option(
        "--count", min=1, max=10**9, help="Stop after this many blocks.",
        show_default="no limit")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Exit 4 when no block arrives for this many seconds.",
        show_default="no limit")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print blocks as the node finalizes them, one line each, until Ctrl-C (exit 0),
    --count blocks, or --timeout seconds without one (exit 4).

    --json prints one JSON object per line and block: {"height", "id", "time_ms", "n_txs",
    "txs": [id]}.
    """
    from daoli.client import BlockEvent

    idle = check_seconds(timeout, "--timeout")
    json_lines = as_json or state().json
    seen = 0
    with connect(home) as node:
        stream = node.events(idle_timeout=idle)
        try:
            with contextlib.closing(stream):
                for event in stream:
                    if not isinstance(event, BlockEvent):
                        continue
                    if json_lines:
                        sys.stdout.write(json.dumps({
                            "height": event.height, "id": event.id.hex(),
                            "time_ms": event.time_ms, "n_txs": event.n_txs,
                            "txs": [t.hex() for t in event.txs]}, sort_keys=True) + "\n")
                        sys.stdout.flush()
                    else:
                        say(("block ", "bold"), f"{event.height:,}", "  ", event.id.hex(),
                            f"  {iso_ms(event.time_ms)}  {event.n_txs} txs")
                    seen += 1
                    if count is not None and seen >= count:
                        break
        except KeyboardInterrupt:
            return


block_watch.__doc__ = (block_watch.__doc__ or "") + examples(
    "daoli block watch", "daoli block watch --count 1 --timeout 30",
    "daoli --json block watch | jq -c '{height, n_txs}'")


# --- tx ----------------------------------------------------------------------------------------


@tx_app.command("show")
def tx_show(
    tx_id: Annotated[str, typer.Argument(metavar="ID", help="Transaction id, 64 hex "
                                         "characters.")],
    raw: RawOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a transaction the node holds in its mempool (pending) or in a block (final);
    exit 1 if it knows neither.

    --json: {"id", "status" (pending|final), "height", "index", "block_id" (null while
    pending), "type", "sender", "sender_pubkey", "nonce", "fee", "fee_dlc", "body": {field:
    value} (bytes as hex, the recipient as an address, amounts in li)}; "raw" with --raw.
    """
    from daoli.client import tx_ref

    ref = tx_ref(tx_id)
    with connect(home) as node:
        s = node.tx(ref)
    d = tx_dict(s, raw)

    def human() -> None:
        where = (f"final at height {d['height']:,} (index {d['index']})" if s.final
                 else "pending (in the mempool)")
        rows: list[tuple[str, str | Text]] = [
            ("id", d["id"]), ("status", where), ("type", d["type"]), ("sender", d["sender"]),
            ("nonce", str(d["nonce"])), ("fee", amount_text(d["fee"]))]
        for name, value in d["body"].items():
            shown = amount_text(value) if name in ("amount", "bond") and type(value) is int \
                else json.dumps(value) if isinstance(value, dict) else str(value)
            rows.append((name, Text(show(shown))))
        kv_table(rows)

    emit(as_json, d, human)


tx_show.__doc__ = (tx_show.__doc__ or "") + examples(
    "daoli tx show 3fa24c...e01b", "daoli --json tx show 3fa24c...e01b | jq .status")


# --- payroll -----------------------------------------------------------------------------------


@payroll_app.command("show")
def payroll_show(
    ref: RefArg = "latest",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a block's winner ticket and payroll (the draw's later time ties, in lot order).

    --json: {"height", "block_id", "winner": ticket, "payroll": [ticket]}.
    """
    from daoli.client import block_ref

    target = block_ref(ref)
    with connect(home) as node:
        p = node.payroll(target)
    d: dict[str, Any] = {
        "height": p.height, "block_id": p.block_id.hex(), "winner": ticket_dict(p.winner),
         "payroll": [ticket_dict(t) for t in p.payroll]}

    def human() -> None:
        say(("height ", "bold"), f"{p.height:,}", "  block ", p.block_id.hex())
        _tickets_table("winner and payroll", [d["winner"], *d["payroll"]])

    emit(as_json, d, human)


payroll_show.__doc__ = (payroll_show.__doc__ or "") + examples(
    "daoli payroll show", "daoli payroll show 42", "daoli --json payroll show latest")


@payroll_app.command("lineup")
def payroll_lineup(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the miners lined up at the tip (SPEC 5), lowest "until" last, with what each
    offers on the resource market: offers whose provider key is the miner's key are matched
    first while the miner is lined up (SPEC 6).

    --json: {"height", "lineup": [{"miner", "miner_pubkey", "sponsor", "since", "until",
    "offers": [{"id", "cpu_millicores", "mem_mib", "disk_gib", "net_mbps",
    "price_per_block", "price_per_block_dlc", "capacity", "active"}]}]} (at most 1,000
    offers in all).
    """
    from daoli.client import NotFound

    with connect(home) as node:
        lu = node.lineup()
        try:
            market = node.offers(lined_up=True, limit=1000).offers if lu.lineup else ()
        except NotFound:  # a node from before the market API
            market = ()
    by_miner: dict[bytes, list[dict[str, Any]]] = {}
    for o in market:
        by_miner.setdefault(o.provider_pubkey, []).append({
            "id": o.id.hex(), "cpu_millicores": o.cpu_millicores, "mem_mib": o.mem_mib,
            "disk_gib": o.disk_gib, "net_mbps": o.net_mbps,
            "price_per_block": o.price_per_block,
            "price_per_block_dlc": format_dlc(o.price_per_block, grouping=False, unit=False),
            "capacity": o.capacity, "active": o.active})
    rows: list[dict[str, Any]] = [
        {"miner": e.miner, "miner_pubkey": e.miner_pubkey.hex(), "sponsor": e.sponsor,
         "since": e.since, "until": e.until, "offers": by_miner.get(e.miner_pubkey, [])}
        for e in lu.lineup]
    d = {"height": lu.height, "lineup": rows}

    def offers_text(items: list[dict[str, Any]]) -> str:
        from daoli.cli.resource_units import format_cpu, format_mem

        if not items:
            return "-"
        first = items[0]  # cheapest: the API lists offers in book order
        text = (f"{format_cpu(first['cpu_millicores'])} cpu, {format_mem(first['mem_mib'])} "
                f"at {format_dlc(first['price_per_block'])}/block")
        return text if len(items) == 1 else f"{text} (+{len(items) - 1} more)"

    def human() -> None:
        if not lu.lineup:
            say(f"no miners lined up at height {lu.height:,}")
            return
        table = Table("miner", "sponsor", "since", "until", "offers",
                      title=Text(f"lineup at height {lu.height:,}", style="bold"),
                      title_justify="left")
        for e, row in zip(lu.lineup, rows, strict=True):
            table.add_row(Text(show(e.miner)), Text(show(e.sponsor)), str(e.since),
                          str(e.until), offers_text(row["offers"]))
        stdout.print(table)

    emit(as_json, d, human)


payroll_lineup.__doc__ = (payroll_lineup.__doc__ or "") + examples(
    "daoli payroll lineup", "daoli --json payroll lineup | jq '.lineup | length'")


# --- trustee -----------------------------------------------------------------------------------


@trustee_app.command("list")
def trustee_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the trustee records at the tip: bond, address peers dial, status.

    --json: {"height", "epoch", "trustees": [{"pubkey", "address", "bond" (li), "bond_dlc",
    "multiaddr", "status", "active", "join_height"}]}.
    """
    with connect(home) as node:
        ts = node.trustees()
    d = {"height": ts.height, "epoch": ts.epoch, "trustees": [
        {"pubkey": t.pubkey.hex(), "address": t.address, "bond": t.bond,
         "bond_dlc": format_dlc(t.bond, grouping=False, unit=False), "multiaddr": t.multiaddr,
         "status": t.status, "active": t.active, "join_height": t.join_height}
        for t in ts.trustees]}

    def human() -> None:
        active = sum(t.active for t in ts.trustees)
        table = Table("address", "bond", "status", "joined", "multiaddr",
                      title=Text(f"trustees at height {ts.height:,} (epoch {ts.epoch}): "
                                 f"{active} active", style="bold"), title_justify="left")
        for t in ts.trustees:
            table.add_row(Text(show(t.address)), format_dlc(t.bond),
                          Text(show(t.status) + ("" if t.active else " (inactive)")),
                          str(t.join_height), Text(show(t.multiaddr)))
        stdout.print(table)

    emit(as_json, d, human)


trustee_list.__doc__ = (trustee_list.__doc__ or "") + examples(
    "daoli trustee list", "daoli --json trustee list | jq '.trustees[] | select(.active)'")


WalletOpt = Annotated[str, typer.Option("--wallet", help="The wallet that signs: its key "
                                        "becomes (or was) the trustee key.")]
FeeOpt = Annotated[str | None, typer.Option("--fee", help="Fee, li or DLC.",
                                            show_default="the default min_fee, 1000 li")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Return once the transaction is final; "
                                       "exit 4 after --timeout.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")]


def submit_tx(node: Client, tx: Transaction, wait: bool, timeout: float
              ) -> tuple[str, int | None]:
    """Submit; the node's refusal is exit 1. With ``wait``: the final status and height."""
    result = node.submit(tx)
    if not result.ok:
        fail(f"the node refused transaction {tx.id.hex()}: "
             f"{one_line(result.reason or 'no reason given')}", EXIT_FAILED)
    if not wait:
        return result.status, None
    final = node.wait_for_tx(tx.id, timeout)
    return final.status, final.height


def fee_arg(fee: str | None) -> int:
    """--fee in li (li or DLC text), the chain's default min_fee when not given."""
    from daoli.core.params import ChainParams
    from daoli.errors import ConfigError

    if fee is None:
        return ChainParams().min_fee
    try:
        return parse_amount(fee)
    except ConfigError as exc:
        raise ConfigError(f"--fee: {exc}") from None


def _dialable(listen: tuple[str, ...], peer_id: str) -> str | None:
    """The node's first listen address others can dial, with its /p2p/ id."""
    for addr in listen:
        if "/ip4/0.0.0.0/" in addr or "/ip6/::/" in addr or "/tcp/0" in addr.split("/p2p/")[0]:
            continue
        return addr if "/p2p/" in addr else f"{addr}/p2p/{peer_id}"
    return None


@trustee_app.command("join")
def trustee_join(
    wallet: WalletOpt,
    bond: Annotated[str, typer.Option("--bond", help="Bond to lock, li or DLC (at least the "
                                      "chain's min_bond).")],
    multiaddr: Annotated[str | None, typer.Option(
        "--multiaddr", help="Where peers dial this trustee, /ip4|ip6|dns/HOST/tcp/PORT"
        "[/p2p/PEER_ID].", show_default="the node's first dialable listen address")] = None,
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the wallet's key as a trustee, locking --bond from its balance.

    A node votes with its signer key (<home>/signer_key), so import that key as a wallet
    ('daoli wallet import signer --key-file <home>/signer_key') to make the node itself a
    trustee.

    --json: {"tx_id", "trustee" (address), "pubkey", "bond" (li), "bond_dlc", "multiaddr",
    "fee", "nonce", "status" (accepted|known|final), "height" (when final, else null)}.
    """
    from daoli.cli.wallet import _store
    from daoli.client import trustee_join_body
    from daoli.node.config import check_multiaddr

    bond_li = parse_amount(bond)
    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    if multiaddr is not None:
        check_multiaddr(multiaddr, "--multiaddr")
    info = _store(home).info(wallet)
    with connect(home) as node:
        if multiaddr is None:
            st = node.status()
            multiaddr = _dialable(st.listen, st.peer_id)
            if multiaddr is None:
                fail("the node has no listen address others can dial: give --multiaddr")
            check_multiaddr(multiaddr, "the node's listen address")
        nonce = node.next_nonce(info.address)
        chain_id = node.chain_id()
        _, secret = unlock_wallet(wallet, password_file, home)
        tx = _sign(chain_id, secret, trustee_join_body(bond_li, multiaddr), fee_li, nonce)
        status, height = submit_tx(node, tx, wait, timeout)
    d = {"tx_id": tx.id.hex(), "trustee": info.address, "pubkey": info.pubkey.hex(),
         "bond": bond_li, "bond_dlc": format_dlc(bond_li, grouping=False, unit=False),
         "multiaddr": multiaddr, "fee": fee_li, "nonce": nonce, "status": status,
         "height": height}
    emit(as_json, d, lambda: say_tx("join as trustee", d, f"bond {amount_text(bond_li)}"))


trustee_join.__doc__ = (trustee_join.__doc__ or "") + examples(
    "daoli trustee join --wallet signer --bond 1000DLC --wait",
    "daoli trustee join --wallet signer --bond 1000DLC --multiaddr /dns/node.example/tcp/26656",
)


@trustee_app.command("leave")
def trustee_leave(
    wallet: WalletOpt,
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Leave the trustee consortium; the bond is returned as the chain's rules say.

    --json: {"tx_id", "trustee" (address), "pubkey", "fee", "nonce", "status", "height"}.
    """
    from daoli.cli.wallet import _store
    from daoli.core.tx import TrusteeLeave

    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    info = _store(home).info(wallet)
    with connect(home) as node:
        nonce = node.next_nonce(info.address)
        chain_id = node.chain_id()
        _, secret = unlock_wallet(wallet, password_file, home)
        tx = _sign(chain_id, secret, TrusteeLeave(), fee_li, nonce)
        status, height = submit_tx(node, tx, wait, timeout)
    d = {"tx_id": tx.id.hex(), "trustee": info.address, "pubkey": info.pubkey.hex(),
         "fee": fee_li, "nonce": nonce, "status": status, "height": height}
    emit(as_json, d, lambda: say_tx("leave the trustees", d, ""))


trustee_leave.__doc__ = (trustee_leave.__doc__ or "") + examples(
    "daoli trustee leave --wallet signer", "daoli --json trustee leave --wallet signer --wait")


def _sign(chain_id: str, secret: bytes, body: Body, fee: int, nonce: int) -> Transaction:
    from daoli.client import sign_transaction

    return sign_transaction(chain_id, secret, body, fee, nonce)


def say_tx(what: str, d: dict[str, Any], extra: str = "") -> None:
    say((what, "bold"), f": {extra}" if extra else "", f" (fee {amount_text(d['fee'])}, "
        f"nonce {d['nonce']})")
    say(("tx ", "bold"), d["tx_id"], "  ",
        (f"final at height {d['height']}" if d["height"] is not None else d["status"],
         "green"))


__all__ = ["block_app", "block_dict", "fee_arg", "payroll_app", "say_tx", "submit_tx",
           "ticket_dict", "trustee_app", "tx_app", "tx_dict"]
