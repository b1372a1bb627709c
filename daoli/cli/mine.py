"""``daoli mine``: a light miner that works for a sponsor node over its API (SPEC 3).

A light miner needs no chain: it asks the sponsor for the current draw (``GET /v1/draw``:
seed, target, window), finds a nonce for its own key, signs the ticket and hands it back
(``POST /v1/tickets``); the sponsor relays it and, if it wins, builds the block. One ticket
per draw is enough: the lot does not depend on the nonce, so more hashing buys no better
luck.

Time: a ticket's ``time_ms`` must lie in the draw's window ``[start_ms, start_ms + phi_ms]``
by the *node's* adjusted clock. The miner takes the offset between its clock and the draw's
``now_ms`` and mines in short slices, checking that clock in between, so it never signs a
ticket the throttle would drop.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daoli.cli.common import HomeOpt, JsonOpt, emit, examples, fail, say, state, warn
from daoli.cli.node import check_seconds, connect, node_url
from daoli.cli.wallet import PasswordFileOpt, unlock_wallet
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.lottery import mine as find_nonce
from daoli.core.ticket import Ticket
from daoli.errors import ConfigError
from daoli.files import show

if TYPE_CHECKING:
    from daoli.client import Client, Draw

SLICE_SECONDS = 0.025
"""Aim for this much hashing between two looks at the clock."""
MIN_SLICE, MAX_SLICE = 256, 1 << 20
RETRY_SECONDS = 0.2
"""Pause before asking again when no draw is open (``503``) or this draw is done."""
MAX_U64 = (1 << 64) - 1


def _local_ms() -> float:
    return time.time() * 1000.0


class _Miner:
    """The loop's state: counters for the summary, and the stop conditions."""

    def __init__(self, node: Client, secret: bytes, count: int | None,
                 duration: float | None, quiet: bool) -> None:
        self.node = node
        self.secret = secret
        self.pubkey = pubkey_from_secret(secret)
        self.count = count
        self.deadline = None if duration is None else time.monotonic() + duration
        self.quiet = quiet
        self.draws = 0
        self.sent = 0
        self.accepted = 0
        self.rejected = 0
        self.reasons: Counter[str] = Counter()
        self.slice = 4096
        self.last_draw: tuple[int, int, bytes] | None = None
        self.stopped = ""

    def done(self) -> bool:
        if self.count is not None and self.sent >= self.count:
            self.stopped = "count"
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped = "duration"
        return bool(self.stopped)

    def pause(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        if seconds > 0:
            time.sleep(seconds)

    def fetch(self) -> tuple[Draw, float] | None:
        """The current draw and the offset (ms) from this clock to the node's; None when no
        draw is open."""
        from daoli.client import ApiError

        before = _local_ms()
        try:
            draw = self.node.draw()
        except ApiError as exc:
            if exc.status == 503:
                return None
            raise
        after = _local_ms()
        return draw, draw.now_ms - (before + after) / 2

    def run(self) -> None:
        while not self.done():
            got = self.fetch()
            if got is None:
                self.pause(RETRY_SECONDS)
                continue
            draw, offset = got
            key = (draw.height, draw.cycle, draw.parent_id)
            now = _local_ms() + offset
            if key == self.last_draw or now > draw.end_ms:
                # worked on (or missed): wait for the next draw
                self.pause(min(max((draw.end_ms - now) / 1000.0, 0.0) + 0.05, RETRY_SECONDS))
                continue
            if now < draw.start_ms:
                self.pause(min((draw.start_ms - now) / 1000.0, 1.0))
            self.last_draw = key
            self.draws += 1
            self.work(draw, offset)

    def work(self, draw: Draw, offset: float) -> None:
        nonce: int | None = None
        start = 0
        while nonce is None:
            if _local_ms() + offset > draw.end_ms or self.done() or start > MAX_U64:
                return
            t0 = time.monotonic()
            nonce = find_nonce(draw.seed, self.pubkey, draw.target, start, self.slice)
            spent = time.monotonic() - t0
            start += self.slice
            if nonce is None and spent > 0:
                self.slice = int(min(MAX_SLICE, max(MIN_SLICE,
                                                    self.slice * SLICE_SECONDS / spent)))
        found_at = int(_local_ms() + offset)
        if found_at > draw.end_ms:
            return  # found too late: the throttle would drop it
        ticket = Ticket(draw.chain_id, draw.height, draw.cycle, draw.parent_id, self.pubkey,
                        draw.sponsor_pubkey, nonce, max(found_at, draw.start_ms)
                        ).signed(self.secret)
        result = self.node.submit_tickets([ticket])[0]
        self.sent += 1
        if result.ok:
            self.accepted += 1
        else:
            self.rejected += 1
            self.reasons[result.reason or "no reason given"] += 1
        if not self.quiet:
            say(("ticket ", "bold"), f"height {draw.height:,} cycle {draw.cycle} nonce {nonce}: ",
                (result.status, "green" if result.ok else "red"),
                "" if result.ok else f" ({show(result.reason or 'no reason given')})")


def mine(
    wallet: Annotated[str, typer.Option("--wallet", help="The wallet whose key mines (it is "
                                        "paid when its tickets win or make the payroll).")],
    sponsor: Annotated[str | None, typer.Option(
        "--sponsor", metavar="URL", help="The sponsor node's API, http://host:port.",
        show_default="--node, $DAOLI_NODE, else the home's api_listen")] = None,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, max=10**9, help="Stop after sending this many tickets.",
        show_default="no limit")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", help="Stop after this many seconds.", show_default="no limit")] = None,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mine as a light miner for a sponsor node: one ticket per draw, signed by --wallet's
    key, until --count tickets, --duration seconds or Ctrl-C (exit 0 with a summary).

    The sponsor needs its API token: $DAOLI_API_TOKEN, else <home>/api_token.

    --json (the summary only): {"miner" (address), "wallet", "sponsor" (URL), "draws",
    "sent", "accepted", "rejected", "reasons": {reason: count}, "seconds", "stopped"
    (count|duration|interrupted)}.
    """
    from daoli.cli.common import check_node_url

    check_seconds(duration, "--duration")
    if sponsor is not None:
        try:
            url = check_node_url(sponsor)
        except ConfigError as exc:
            raise ConfigError("--sponsor" + str(exc).split(":", 1)[1]) from None
    else:
        url = node_url(home)
    quiet = as_json or state().json
    t0 = time.monotonic()
    with connect(home, url=url) as node:
        node.status()  # reachable, and the token works, before a password is asked for
        info, secret = unlock_wallet(wallet, password_file, home)
        miner = _Miner(node, secret, count, duration, quiet)
        if not quiet:
            say(("mining ", "bold"), f"as {info.address} for {url}")
        try:
            miner.run()
        except KeyboardInterrupt:
            miner.stopped = "interrupted"
    if miner.rejected and not quiet:
        warn(f"{miner.rejected} ticket(s) rejected: "
             + "; ".join(f"{show(r)} x{n}" for r, n in miner.reasons.most_common(3)))
    d: dict[str, Any] = {
        "miner": address_of(miner.pubkey), "wallet": info.name, "sponsor": url,
        "draws": miner.draws, "sent": miner.sent, "accepted": miner.accepted,
        "rejected": miner.rejected, "reasons": dict(miner.reasons),
        "seconds": round(time.monotonic() - t0, 3), "stopped": miner.stopped,
    }
    if miner.stopped not in ("count", "duration", "interrupted"):
        fail("the miner stopped unexpectedly")
    emit(as_json, d, lambda: say(
        ("done", "bold"), f" ({miner.stopped}): {miner.sent} ticket(s) sent, "
        f"{miner.accepted} accepted, {miner.rejected} rejected in {miner.draws} draw(s), "
        f"{d['seconds']:.1f} s"))


mine.__doc__ = (mine.__doc__ or "") + examples(
    "daoli mine --wallet alice",
    "daoli mine --wallet alice --sponsor http://10.0.0.5:26657 --duration 600",
    "DAOLI_PASSWORD_FILE=pw.txt daoli --json mine --wallet alice --count 3",
)

__all__ = ["mine"]
