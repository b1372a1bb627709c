"""``daoli resource``: the resource market (SPEC 6) from the command line.

Providers offer CPU, memory, disk and network at a price per block (``offer``, ``cancel``);
buyers order what they need with a deposit held in escrow (``order``), and a matching offer
turns the order into a lease whose id is the order's id (``leases``, ``lease show``,
``close``). Quantities are written as Kubernetes users write them; parsing and printing
live in :mod:`daoli.cli.resource_units`.

Every command talks to the node through :func:`daoli.cli.node.connect`; transactions are
signed here with the wallet's key (:func:`daoli.cli.wallet.unlock_wallet`), after
everything that can be checked without the password has been. Exit codes: 2 for bad
quantities, prices and ids and for leases or offers the chain does not hold (or that are not
the wallet's); 1 when the node refuses the transaction; 3 node unreachable; 4 ``--wait``
timed out.

``--json`` objects reuse three shapes:

- offer: ``{"id", "provider", "provider_pubkey", "lined_up", "cpu_millicores", "mem_mib",
  "disk_gib", "net_mbps", "price_per_block", "price_per_block_dlc", "unit_price",
  "unit_price_dlc", "capacity", "active", "expires_height", "endpoint", "height"}``;
- order: ``{"id", "buyer", "buyer_pubkey", "cpu_millicores", "mem_mib", "disk_gib",
  "net_mbps", "max_price_per_block", "max_price_per_block_dlc", "duration_blocks",
  "deposit", "deposit_dlc", "height", "expires_height"}``;
- lease: ``{"id", "order_id", "offer_id", "provider", "provider_pubkey", "buyer",
  "buyer_pubkey", "price_per_block", "price_per_block_dlc", "unit_price", "unit_price_dlc",
  "start", "end", "duration_end", "as_of", "paid", "paid_dlc", "owed", "owed_dlc",
  "escrow_left", "escrow_left_dlc", "last_seq"}`` (amounts in li, settled to ``as_of``,
  the tip: ``paid + escrow_left`` is the deposit, ``owed`` the part of ``paid`` that moves
  to the provider when the lease is next touched).
"""

from __future__ import annotations

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
    say,
    stdout,
)
from daoli.cli.node import check_seconds, connect, kv_table
from daoli.cli.query import fee_arg, say_tx, submit_tx
from daoli.cli.resource_units import (
    format_cpu,
    format_disk,
    format_mem,
    format_net,
    format_price,
    parse_cpu,
    parse_disk,
    parse_mem,
    parse_net,
    parse_price,
)
from daoli.cli.wallet import PasswordFileOpt, amount_text, resolve_account, unlock_wallet
from daoli.core.encoding import MAX_AMOUNT, MAX_U64
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import EXIT_FAILED
from daoli.files import show

if TYPE_CHECKING:
    from daoli.client import Client, LeaseInfo, OfferInfo, OrderInfo
    from daoli.core.tx import Body, Transaction
    from daoli.wallet import WalletInfo

HELP = {"help_option_names": ["-h", "--help"]}
DEFAULT_EXPIRES = 100_000
"""Blocks an offer stays up by default (a little over a day at one block a second)."""
LINED_UP_MARK = "*"

app = typer.Typer(
    help="Rent out or rent CPU, memory, disk and network on the chain's resource market "
    "(SPEC 6).\n\nQuantities as in Kubernetes: cpu 2, 0.5 or 2000m; memory 512Mi, 4Gi, 4GiB "
    "or 4G (decimal G = 10^9 bytes, rounded up to MiB); disk 100Gi or 1Ti (rounded up to "
    "GiB); network 100Mbps or 1Gbps (megabits per second). Prices: 0.01DLC/block or li. A "
    "lease's id is the id of the order it came from."
    + examples("daoli resource offers",
               "daoli resource offer --cpu 2 --mem 4Gi --disk 100Gi --net 100Mbps "
               "--price 0.01DLC/block --wallet alice --wait",
               "daoli resource order --cpu 1 --mem 2Gi --max-price 0.02DLC/block --blocks 600 "
               "--wallet bob --wait",
               "daoli resource lease show 3fa2..."),
    rich_markup_mode="markdown", context_settings=HELP)
lease_app = typer.Typer(
    help="Show one lease, settled to the tip." + examples("daoli resource lease show 3fa2..."),
    rich_markup_mode="markdown", context_settings=HELP)


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


@lease_app.callback(invoke_without_command=True)
def _lease_group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


app.add_typer(lease_app, name="lease")

WalletOpt = Annotated[str, typer.Option("--wallet", help="The wallet that signs.")]
FeeOpt = Annotated[str | None, typer.Option("--fee", help="Fee, li or DLC.",
                                            show_default="the default min_fee, 1000 li")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Return once the transaction is final; "
                                       "exit 4 after --timeout.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")]
CpuOpt = Annotated[str, typer.Option("--cpu", help="CPU: cores (2, 0.5) or millicores "
                                     "(2000m).", show_default=False)]
MemOpt = Annotated[str, typer.Option("--mem", help="Memory: 512Mi, 4Gi, 4GiB; 4G is 4*10^9 "
                                     "bytes (rounded up to MiB).", show_default=False)]
DiskOpt = Annotated[str, typer.Option("--disk", help="Disk: 100Gi, 100GiB, 1Ti; 100G is "
                                      "100*10^9 bytes (rounded up to GiB).")]
NetOpt = Annotated[str, typer.Option("--net", help="Network: 100Mbps, 1Gbps (megabits per "
                                     "second); a bare number is Mbit/s.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="List at most this many.")]


# --- JSON shapes ---------------------------------------------------------------------------


def _dlc(li: int) -> str:
    return format_dlc(li, grouping=False, unit=False)


def offer_dict(o: OfferInfo) -> dict[str, Any]:
    return {"id": o.id.hex(), "provider": o.provider, "provider_pubkey": o.provider_pubkey.hex(),
            "lined_up": o.lined_up, "cpu_millicores": o.cpu_millicores, "mem_mib": o.mem_mib,
            "disk_gib": o.disk_gib, "net_mbps": o.net_mbps,
            "price_per_block": o.price_per_block, "price_per_block_dlc": _dlc(o.price_per_block),
            "unit_price": o.unit_price, "unit_price_dlc": _dlc(o.unit_price),
            "capacity": o.capacity, "active": o.active, "expires_height": o.expires_height,
            "endpoint": o.endpoint, "height": o.height}


def order_dict(o: OrderInfo) -> dict[str, Any]:
    r = o.record
    return {"id": o.id.hex(), "buyer": o.buyer, "buyer_pubkey": o.buyer_pubkey.hex(),
            "cpu_millicores": r.cpu_millicores, "mem_mib": r.mem_mib, "disk_gib": r.disk_gib,
            "net_mbps": r.net_mbps, "max_price_per_block": r.max_price_per_block,
            "max_price_per_block_dlc": _dlc(r.max_price_per_block),
            "duration_blocks": r.duration_blocks, "deposit": r.deposit,
            "deposit_dlc": _dlc(r.deposit), "height": r.height,
            "expires_height": r.expires_height}


def lease_dict(le: LeaseInfo) -> dict[str, Any]:
    return {"id": le.id.hex(), "order_id": le.order_id.hex(), "offer_id": le.offer_id.hex(),
            "provider": le.provider, "provider_pubkey": le.provider_pubkey.hex(),
            "buyer": le.buyer, "buyer_pubkey": le.buyer_pubkey.hex(),
            "price_per_block": le.price_per_block,
            "price_per_block_dlc": _dlc(le.price_per_block), "unit_price": le.unit_price,
            "unit_price_dlc": _dlc(le.unit_price), "start": le.start, "end": le.end,
            "duration_end": le.duration_end, "as_of": le.as_of, "paid": le.paid,
            "paid_dlc": _dlc(le.paid), "owed": le.owed, "owed_dlc": _dlc(le.owed),
            "escrow_left": le.escrow_left, "escrow_left_dlc": _dlc(le.escrow_left),
            "last_seq": le.last_seq}


def resources_text(cpu: int, mem: int, disk: int, net: int) -> str:
    """``2 cpu, 4Gi, 100Gi disk, 100Mbps``: one offer's or order's resources."""
    return f"{format_cpu(cpu)} cpu, {format_mem(mem)}, {format_disk(disk)} disk, " \
        f"{format_net(net)}"


# --- shared steps --------------------------------------------------------------------------


def _short(hex_text: str, keep: int = 16) -> str:
    return hex_text if len(hex_text) <= keep else hex_text[:keep] + "..."


def _amount(text: str, what: str) -> int:
    from daoli.errors import ConfigError

    try:
        return parse_amount(text)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _market_id(text: str, what: str) -> bytes:
    value = text.strip() if isinstance(text, str) else ""
    if len(value) != 64 or not value.isascii():
        fail(f"{what} {show(text[:80])!r}: expected 64 hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        fail(f"{what} {show(text[:80])!r}: expected 64 hex characters")


def _wallet(wallet: str, home: Any) -> WalletInfo:
    from daoli.cli.wallet import _store
    from daoli.wallet import check_name

    check_name(wallet)
    return _store(home).info(wallet)


def _can_pay(node: Client, info: WalletInfo, wallet: str, need: int, what: str) -> int:
    """The wallet's next nonce, after checking it holds ``need`` (exit 1 if not): a refusal
    is clearer here than from the node, and comes before the password prompt."""
    acc = node.account(info.pubkey)  # by key: the node counts its pool from its own tip
    if acc.balance < need:
        fail(f"{wallet} holds {amount_text(acc.balance)}, less than {what}, "
             f"{amount_text(need)}", EXIT_FAILED)
    return acc.next_nonce


def _sign_and_submit(node: Client, wallet: str, password_file: Any, home: Any, body: Body,
                     fee: int, nonce: int, wait: bool, timeout: float
                     ) -> tuple[Transaction, str, int | None]:
    """Unlock, sign, submit; the node's refusal is exit 1. With ``wait``, the final height."""
    from daoli.client import sign_transaction

    chain_id = node.chain_id()
    _, secret = unlock_wallet(wallet, password_file, home)
    tx = sign_transaction(chain_id, secret, body, fee, nonce)
    status, height = submit_tx(node, tx, wait, timeout)
    return tx, status, height


def _lookup_offer(node: Client, offer_id: bytes) -> OfferInfo:
    from daoli.client import NotFound

    try:
        return node.offer(offer_id)
    except NotFound:
        fail(f"unknown offer {offer_id.hex()}: the chain holds no live offer with this id "
             "(never made, cancelled or expired)")


def _lookup_lease(node: Client, lease_id: bytes) -> LeaseInfo:
    from daoli.client import NotFound

    try:
        return node.lease(lease_id)
    except NotFound:
        fail(f"unknown lease {lease_id.hex()}: the chain holds no active lease with this id "
             "(never opened, or closed)")


def _lease_rows(d: dict[str, Any]) -> list[tuple[str, str | Text]]:
    return [
        ("lease", d["id"]), ("offer", d["offer_id"]), ("provider", d["provider"]),
        ("buyer", d["buyer"]),
        ("price", f"{format_price(d['price_per_block'])}, "
                  f"{format_price(d['unit_price'], 'unit')}"),
        ("blocks", f"{d['start']:,} to {d['end']:,} (duration to {d['duration_end']:,})"),
        ("paid", f"{amount_text(d['paid'])} as of height {d['as_of']:,}"),
        ("owed", f"{amount_text(d['owed'])} (moves to the provider when the lease is next "
                 "touched)"),
        ("escrow left", amount_text(d["escrow_left"])),
        ("receipts", f"last seq {d['last_seq']}" if d["last_seq"] else "none billed"),
    ]


# --- offer, offers, cancel -----------------------------------------------------------------


@app.command("offer")
def offer(
    cpu: CpuOpt,
    mem: MemOpt,
    price: Annotated[str, typer.Option("--price", help="Price per block of lease: "
                                       "0.01DLC/block, or li.", show_default=False)],
    wallet: WalletOpt,
    disk: DiskOpt = "0",
    net: NetOpt = "0",
    unit_price: Annotated[str, typer.Option(
        "--unit-price", help="Price per metered unit billed by usage receipts: "
        "0.001DLC/unit, or li.")] = "0",
    capacity: Annotated[int, typer.Option("--capacity", min=1, max=MAX_U64,
                                          help="Leases it serves at once.")] = 1,
    expires: Annotated[int, typer.Option("--expires", min=1, max=MAX_U64, metavar="BLOCKS",
                                         help="The offer ends this many blocks after the "
                                         "tip.")] = DEFAULT_EXPIRES,
    endpoint: Annotated[str, typer.Option("--endpoint", help="Where buyers reach the "
                                          "service (public text, at most 256 bytes).")] = "",
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Offer resources for rent, signed by --wallet (the provider). The offer's id is the
    transaction's id. A provider whose key is also its mining key is preferred in matching
    while lined up (see 'daoli payroll lineup').

    --json: {"tx_id", "offer_id", "provider", "provider_pubkey", "cpu_millicores",
    "mem_mib", "disk_gib", "net_mbps", "price_per_block", "price_per_block_dlc",
    "unit_price", "unit_price_dlc", "capacity", "expires_height", "endpoint", "fee",
    "nonce", "status" (accepted|known|final), "height" (when final, else null)}.
    """
    from daoli.client import offer_body

    res = (parse_cpu(cpu), parse_mem(mem), parse_disk(disk), parse_net(net))
    price_li = parse_price(price)
    unit_li = parse_price(unit_price, "--unit-price", per="unit")
    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    offer_body(*res, price_li, expires_height=1, unit_price=unit_li, capacity=capacity,
               endpoint=endpoint)  # checks the endpoint before any node is asked
    info = _wallet(wallet, home)
    with connect(home) as node:
        tip = node.status().height
        expires_height = min(tip + expires, MAX_U64)
        body = offer_body(*res, price_li, expires_height=expires_height, unit_price=unit_li,
                          capacity=capacity, endpoint=endpoint)
        nonce = _can_pay(node, info, wallet, fee_li, "the fee")
        tx, status, height = _sign_and_submit(node, wallet, password_file, home, body, fee_li,
                                              nonce, wait, timeout)
    d: dict[str, Any] = {"tx_id": tx.id.hex(), "offer_id": tx.id.hex(), "provider": info.address,
         "provider_pubkey": info.pubkey.hex(), "cpu_millicores": res[0], "mem_mib": res[1],
         "disk_gib": res[2], "net_mbps": res[3], "price_per_block": price_li,
         "price_per_block_dlc": _dlc(price_li), "unit_price": unit_li,
         "unit_price_dlc": _dlc(unit_li), "capacity": capacity,
         "expires_height": expires_height, "endpoint": endpoint, "fee": fee_li,
         "nonce": nonce, "status": status, "height": height}

    def human() -> None:
        say_tx(f"offer {resources_text(*res)} at {format_price(price_li)}", d)
        say(("offer id ", "bold"), d["offer_id"], f"  (until height {expires_height:,})")

    emit(as_json, d, human)


offer.__doc__ = (offer.__doc__ or "") + examples(
    "daoli resource offer --cpu 2000m --mem 4GiB --disk 100GiB --net 100Mbps "
    "--price 0.01DLC/block --wallet alice --wait",
    "daoli resource offer --cpu 0.5 --mem 512Mi --price 100000 --capacity 4 --expires 3600 "
    "--endpoint https://alice.example/rent --wallet alice",
)


@app.command("offers")
def offers(
    provider: Annotated[str | None, typer.Option(
        "--provider", metavar="NAME|ADDRESS", help="Only this provider (a wallet name or a "
        "dlc1... address).")] = None,
    min_cpu: Annotated[str | None, typer.Option("--min-cpu", help="At least this much CPU "
                                                "(2, 0.5, 2000m).")] = None,
    min_mem: Annotated[str | None, typer.Option("--min-mem", help="At least this much "
                                                "memory (4Gi).")] = None,
    min_disk: Annotated[str | None, typer.Option("--min-disk", help="At least this much "
                                                 "disk (100Gi).")] = None,
    min_net: Annotated[str | None, typer.Option("--min-net", help="At least this much "
                                                "network (100Mbps).")] = None,
    max_price: Annotated[str | None, typer.Option("--max-price", help="At most this price "
                                                  "per block (0.01DLC/block).")] = None,
    lined_up: Annotated[bool, typer.Option("--lined-up", help="Only providers lined up "
                                           "at the tip.")] = False,
    limit: LimitOpt = 100,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List live offers at the tip, cheapest first (then oldest): the order in which the next
    block matches them, except that offers of lined-up providers (marked *) go first.

    --json: {"height", "count" (offers that matched the filters), "offers": [offer object]}
    (see 'daoli resource --help' for the offer object).
    """
    mins = {"min_cpu": parse_cpu(min_cpu, "--min-cpu") if min_cpu is not None else None,
            "min_mem": parse_mem(min_mem, "--min-mem") if min_mem is not None else None,
            "min_disk": parse_disk(min_disk, "--min-disk") if min_disk is not None else None,
            "min_net": parse_net(min_net, "--min-net") if min_net is not None else None}
    top = parse_price(max_price, "--max-price") if max_price is not None else None
    who = resolve_account(provider, home, "--provider")[0] if provider is not None else None
    with connect(home) as node:
        found = node.offers(provider=who, max_price=top, lined_up=True if lined_up else None,
                            limit=limit, **mins)
    d = {"height": found.height, "count": found.count,
         "offers": [offer_dict(o) for o in found.offers]}

    def human() -> None:
        if not found.offers:
            say(f"no offers at height {found.height:,}")
            return
        table = Table("offer", "provider", "cpu", "mem", "disk", "net", "price/block",
                      "unit price", "free", "expires", "endpoint",
                      title=Text(f"offers at height {found.height:,} ({found.count} matched; "
                                 f"{LINED_UP_MARK} lined up, matched first)", style="bold"),
                      title_justify="left")
        for o in found.offers:
            who_text = Text(f"{LINED_UP_MARK} " if o.lined_up else "  ", style="green")
            who_text.append(show(o.provider))
            table.add_row(_short(o.id.hex()), who_text, format_cpu(o.cpu_millicores),
                          format_mem(o.mem_mib), format_disk(o.disk_gib),
                          format_net(o.net_mbps), format_dlc(o.price_per_block),
                          format_dlc(o.unit_price), f"{o.capacity - o.active}/{o.capacity}",
                          f"{o.expires_height:,}", Text(show(o.endpoint)))
        stdout.print(table)
        if found.count > len(found.offers):
            say(f"... and {found.count - len(found.offers)} more (--limit)")

    emit(as_json, d, human)


offers.__doc__ = (offers.__doc__ or "") + examples(
    "daoli resource offers", "daoli resource offers --min-cpu 2 --min-mem 4Gi "
    "--max-price 0.02DLC/block", "daoli resource offers --provider alice --lined-up",
    "daoli --json resource offers | jq '.offers[] | select(.lined_up)'")


@app.command("cancel")
def cancel(
    offer_id: Annotated[str, typer.Argument(metavar="OFFER", help="The offer's id (64 hex).")],
    wallet: WalletOpt,
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an offer of the wallet's: no new lease matches it; running leases go on with
    the terms they copied until they end or a party closes them.

    --json: {"tx_id", "offer_id", "provider", "fee", "nonce", "status", "height"}.
    """
    from daoli.client import offer_cancel_body

    oid = _market_id(offer_id, "OFFER")
    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    info = _wallet(wallet, home)
    with connect(home) as node:
        found = _lookup_offer(node, oid)
        if found.provider_pubkey != info.pubkey:
            fail(f"offer {oid.hex()} belongs to {found.provider}, not to wallet {wallet}")
        nonce = _can_pay(node, info, wallet, fee_li, "the fee")
        tx, status, height = _sign_and_submit(node, wallet, password_file, home,
                                              offer_cancel_body(oid), fee_li, nonce, wait,
                                              timeout)
    d: dict[str, Any] = {"tx_id": tx.id.hex(), "offer_id": oid.hex(), "provider": info.address,
         "fee": fee_li, "nonce": nonce, "status": status, "height": height}
    emit(as_json, d, lambda: say_tx(f"cancel offer {_short(oid.hex())}", d))


cancel.__doc__ = (cancel.__doc__ or "") + examples(
    "daoli resource cancel 3fa24c...e01b --wallet alice --wait")


# --- order ---------------------------------------------------------------------------------


@app.command("order")
def order(
    cpu: CpuOpt,
    mem: MemOpt,
    max_price: Annotated[str, typer.Option("--max-price", help="The most to pay per block: "
                                           "0.01DLC/block, or li.", show_default=False)],
    blocks: Annotated[int, typer.Option("--blocks", min=1, max=MAX_U64,
                                        help="How many blocks the lease runs.",
                                        show_default=False)],
    wallet: WalletOpt,
    disk: DiskOpt = "0",
    net: NetOpt = "0",
    deposit: Annotated[str | None, typer.Option(
        "--deposit", help="Escrowed at once, li or DLC; pays the provider block by block "
        "and what is left comes back.", show_default="max-price x blocks")] = None,
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Order resources, signed by --wallet (the buyer), with a deposit held in escrow.

    The block that takes the order matches it to the best offer (lined-up providers first,
    then the cheapest, then the oldest); the lease's id is the order's id. An order nothing
    matches stays open (a later offer may take it) and is refunded after --blocks blocks.
    With --wait, prints the lease once the order is final, or says that it is open.

    --json: {"tx_id", "order_id", "buyer", "buyer_pubkey", "cpu_millicores", "mem_mib",
    "disk_gib", "net_mbps", "max_price_per_block", "max_price_per_block_dlc",
    "duration_blocks", "deposit", "deposit_dlc", "fee", "nonce", "status"
    (accepted|known|final), "height" (when final, else null), "state" ("pending" without
    --wait, else "leased", "open" or "gone"), "lease" (lease object when leased, else null)}.
    """
    from daoli.client import NotFound, order_body

    res = (parse_cpu(cpu), parse_mem(mem), parse_disk(disk), parse_net(net))
    price_li = parse_price(max_price, "--max-price")
    if deposit is not None:
        deposit_li = _amount(deposit, "--deposit")
    elif price_li * blocks > MAX_AMOUNT:
        fail("--max-price x --blocks is more than any balance can hold: give --deposit")
    else:
        deposit_li = price_li * blocks
    if deposit_li < price_li:
        fail(f"--deposit {amount_text(deposit_li)} does not cover one block at --max-price "
             f"{amount_text(price_li)}")
    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    body = order_body(*res, price_li, blocks, deposit_li)
    info = _wallet(wallet, home)
    lease: LeaseInfo | None = None
    with connect(home) as node:
        nonce = _can_pay(node, info, wallet, deposit_li + fee_li, "the deposit plus fee")
        tx, status, height = _sign_and_submit(node, wallet, password_file, home, body, fee_li,
                                              nonce, wait, timeout)
        state = "pending"
        if wait:
            try:
                lease = node.lease(tx.id)
                state = "leased"
            except NotFound:
                try:
                    node.order(tx.id)
                    state = "open"
                except NotFound:
                    state = "gone"
    d: dict[str, Any] = {"tx_id": tx.id.hex(), "order_id": tx.id.hex(), "buyer": info.address,
         "buyer_pubkey": info.pubkey.hex(), "cpu_millicores": res[0], "mem_mib": res[1],
         "disk_gib": res[2], "net_mbps": res[3], "max_price_per_block": price_li,
         "max_price_per_block_dlc": _dlc(price_li), "duration_blocks": blocks,
         "deposit": deposit_li, "deposit_dlc": _dlc(deposit_li), "fee": fee_li,
         "nonce": nonce, "status": status, "height": height, "state": state,
         "lease": lease_dict(lease) if lease is not None else None}

    def human() -> None:
        say_tx(f"order {resources_text(*res)} for {blocks:,} blocks at most "
               f"{format_price(price_li)}, deposit {amount_text(deposit_li)}", d)
        if lease is not None:
            say(("leased", "green"), ": lease id = order id ", d["order_id"])
            kv_table(_lease_rows(lease_dict(lease)))
        elif state == "open":
            say(("open", "yellow"), ": no offer matched yet; a new offer may take it, else the "
                f"deposit comes back after {blocks:,} blocks (order id {d['order_id']})")
        elif state == "gone":
            say(("gone", "yellow"), ": the order is neither open nor leased (refunded, or "
                "its lease already ended)")
        else:
            say("order id ", d["order_id"], " (its lease, once matched, has this id)")

    emit(as_json, d, human)


order.__doc__ = (order.__doc__ or "") + examples(
    "daoli resource order --cpu 2 --mem 4Gi --max-price 0.01DLC/block --blocks 3600 "
    "--wallet bob --wait",
    "daoli resource order --cpu 500m --mem 512Mi --disk 10Gi --net 10Mbps --max-price 100000 "
    "--blocks 100 --deposit 0.5DLC --wallet bob",
)


# --- leases, lease show, close -------------------------------------------------------------


@app.command("leases")
def leases(
    mine: Annotated[bool, typer.Option("--mine", help="Leases of --wallet, as provider or "
                                       "buyer.")] = False,
    wallet: Annotated[str | None, typer.Option("--wallet", help="With --mine: the wallet "
                                               "(no password needed).")] = None,
    account: Annotated[str | None, typer.Option(
        "--account", metavar="NAME|ADDRESS", help="Leases of this account (a wallet name or "
        "a dlc1... address), as provider or buyer.")] = None,
    limit: LimitOpt = 100,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List active leases settled to the tip: every lease, or those of one account.

    --json: {"height", "account" (address or null), "count", "leases": [lease object plus
    "role": "provider", "buyer", "both" or null without an account]}.
    """
    if mine and account is not None:
        fail("give --mine --wallet W or --account, not both")
    if mine and wallet is None:
        fail("--mine needs --wallet")
    if wallet is not None and not mine:
        fail("--wallet goes with --mine (or use --account)")
    who: str | None = None
    if wallet is not None:
        who = _wallet(wallet, home).address
    elif account is not None:
        who = resolve_account(account, home, "--account")[0]
    with connect(home) as node:
        found = node.leases(account=who, limit=limit)

    def role(le: LeaseInfo) -> str | None:
        if who is None:
            return None
        p, b = le.provider == who, le.buyer == who
        return "both" if p and b else "provider" if p else "buyer" if b else None

    rows = [{**lease_dict(le), "role": role(le)} for le in found.leases]
    d = {"height": found.height, "account": who, "count": found.count, "leases": rows}

    def human() -> None:
        if not rows:
            say(f"no active leases at height {found.height:,}"
                + (f" for {who}" if who else ""))
            return
        cols = ["lease", *(["role"] if who else []), "provider", "buyer", "price/block",
                "start", "end", "paid", "escrow left", "receipts"]
        table = Table(*cols, title=Text(f"leases at height {found.height:,} ({found.count})",
                                        style="bold"), title_justify="left")
        for r in rows:
            table.add_row(_short(r["id"]), *([r["role"] or ""] if who else []),
                          Text(show(r["provider"])), Text(show(r["buyer"])),
                          format_dlc(r["price_per_block"]), f"{r['start']:,}",
                          f"{r['end']:,}", format_dlc(r["paid"]),
                          format_dlc(r["escrow_left"]), str(r["last_seq"]))
        stdout.print(table)
        if found.count > len(rows):
            say(f"... and {found.count - len(rows)} more (--limit)")

    emit(as_json, d, human)


leases.__doc__ = (leases.__doc__ or "") + examples(
    "daoli resource leases --mine --wallet bob", "daoli resource leases --account alice",
    "daoli --json resource leases | jq '.leases[].escrow_left'")


@lease_app.command("show")
def lease_show(
    lease_id: Annotated[str, typer.Argument(metavar="ID", help="The lease's id (= its "
                                            "order's id, 64 hex).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one active lease settled to the tip: what it has paid, what it owes the provider
    and has not yet moved, the escrow left, and the last usage receipt billed.

    --json: the lease object (see 'daoli resource --help').
    """
    lid = _market_id(lease_id, "ID")
    with connect(home) as node:
        le = _lookup_lease(node, lid)
    d = lease_dict(le)
    emit(as_json, d, lambda: kv_table(_lease_rows(d)))


lease_show.__doc__ = (lease_show.__doc__ or "") + examples(
    "daoli resource lease show 3fa24c...e01b",
    "daoli --json resource lease show 3fa24c...e01b | jq .escrow_left")


@app.command("close")
def close(
    lease_id: Annotated[str, typer.Argument(metavar="LEASE", help="The lease's id (64 hex).")],
    wallet: WalletOpt,
    fee: FeeOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a lease as its buyer or its provider: the provider is paid up to the closing
    block and the rest of the escrow returns to the buyer.

    --json: {"tx_id", "lease_id", "by" (address), "role" ("provider", "buyer" or "both"),
    "fee", "nonce", "status", "height" (when final, else null)}.
    """
    from daoli.client import lease_close_body

    lid = _market_id(lease_id, "LEASE")
    fee_li = fee_arg(fee)
    check_seconds(timeout, "--timeout")
    info = _wallet(wallet, home)
    with connect(home) as node:
        le = _lookup_lease(node, lid)
        p, b = le.provider_pubkey == info.pubkey, le.buyer_pubkey == info.pubkey
        if not (p or b):
            fail(f"lease {lid.hex()} is between {le.provider} and {le.buyer}; wallet "
                 f"{wallet} is neither")
        nonce = _can_pay(node, info, wallet, fee_li, "the fee")
        tx, status, height = _sign_and_submit(node, wallet, password_file, home,
                                              lease_close_body(lid), fee_li, nonce, wait,
                                              timeout)
    d: dict[str, Any] = {"tx_id": tx.id.hex(), "lease_id": lid.hex(), "by": info.address,
         "role": "both" if p and b else "provider" if p else "buyer", "fee": fee_li,
         "nonce": nonce, "status": status, "height": height}
    emit(as_json, d, lambda: say_tx(f"close lease {_short(lid.hex())} as {d['role']}", d))


close.__doc__ = (close.__doc__ or "") + examples(
    "daoli resource close 3fa24c...e01b --wallet bob --wait")

__all__ = ["app", "lease_dict", "offer_dict", "order_dict", "resources_text"]
