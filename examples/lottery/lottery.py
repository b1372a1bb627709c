#!/usr/bin/env python3
"""A publicly verifiable lottery on DaoliCloud, from the command line.

    python examples/lottery/lottery.py announce --wallet organizer --name raffle --end +10
    python examples/lottery/lottery.py enter LOTTERY_ID --wallet alice
    python examples/lottery/lottery.py status LOTTERY_ID
    python examples/lottery/lottery.py verify LOTTERY_ID [--wait 60] [--json]
    python examples/lottery/lottery.py payout LOTTERY_ID --wallet organizer

``verify`` needs nothing but a node's API: it reads the announcement's block, every block
from there to the draw block D (and on to the payout deadline), checks that they form one
chain, and recomputes the draw with :mod:`lottery_rules`. The rules are in README.md.

Node: ``--node URL`` (else ``$DAOLI_NODE``, else http://127.0.0.1:26657); API token:
``--token`` (else ``$DAOLI_API_TOKEN``, else ``<home>/api_token``). Keys: ``--wallet NAME``
from ``<home>/wallets`` (home: ``--home``, else ``$DAOLI_HOME``, else ~/.daoli; password:
``--password-file``, else ``$DAOLI_PASSWORD_FILE``, else ``$DAOLI_PASSWORD``), or
``--key-file FILE`` holding a 64-hex secret key. ``eval "$(daoli devnet env)"`` sets it all.

Exit codes, as the ``daoli`` CLI's: 0 done; 1 failed (also: ``verify`` before block D is
final, an entry that landed too late); 2 bad input (an unknown lottery id, a bad option);
3 node unreachable; 4 a wait ran out.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import lottery_rules as lr

from daoli.client import Client, NotFound, token_from_home
from daoli.client.errors import NodeTimeout
from daoli.core.address import address_bytes_of, encode_address
from daoli.core.block import Block
from daoli.core.crypto import pubkey_from_secret
from daoli.core.params import ChainParams
from daoli.core.tx import Transaction
from daoli.core.units import format_dlc, parse_amount
from daoli.errors import EXIT_FAILED, EXIT_USAGE, ConfigError, DaoliError, DecodeError
from daoli.files import read_secret_line, show
from daoli.wallet import WalletStore
from daoli.wallet.keystore import check_name

DEFAULT_NODE = "http://127.0.0.1:26657"
MAX_RANGE = 100
POLL_S = 0.25
_HEIGHT_RE = re.compile(r"(\+?)(0|[1-9][0-9]{0,18})")


class NotDrawnYet(DaoliError):
    """``verify`` asked before block D is final: try again later (or use ``--wait``)."""

    exit_code = EXIT_FAILED


class Failed(DaoliError):
    exit_code = EXIT_FAILED


# --- options ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block: scripts and people read the reason."""
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    node = _Parser(add_help=False)
    node.add_argument("--node", help="the node's API URL (default: $DAOLI_NODE, else "
                      f"{DEFAULT_NODE})")
    node.add_argument("--token", help="the API token (default: $DAOLI_API_TOKEN, else "
                      "<home>/api_token)")
    node.add_argument("--home", type=Path, help="the daoli home with the wallets and the "
                      "token (default: $DAOLI_HOME, else ~/.daoli)")
    node.add_argument("--json", action="store_true", help="print one JSON object")
    node.add_argument("--timeout", type=float, default=60.0,
                      help="seconds to wait for a transaction or a block (default 60)")
    keys = _Parser(add_help=False)
    keys.add_argument("--wallet", help="sign with this wallet of <home>/wallets")
    keys.add_argument("--key-file", type=Path, help="sign with the 64-hex secret key in the "
                      "first line of this file")
    keys.add_argument("--password-file", type=Path, help="the wallet's password (default: "
                      "$DAOLI_PASSWORD_FILE, else $DAOLI_PASSWORD)")
    keys.add_argument("--fee", default=None, help="fee, in li or DLC (default: min_fee)")
    keys.add_argument("--no-wait", action="store_true", help="return once the node accepted "
                      "the transaction, without waiting until it is final")

    p = _Parser(prog="lottery.py", description="A publicly verifiable lottery on DaoliCloud "
                "(examples/lottery/README.md).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("announce", parents=[node, keys], help="announce a lottery (organizer)")
    a.add_argument("--name", required=True, help="1-64 of A-Z a-z 0-9 . _ -")
    a.add_argument("--end", required=True, help="the last height at which entries count: "
                   "a height, or +N blocks after the current tip")
    a.add_argument("--draw", default="+2", help="the block whose winner ticket draws: a "
                   "height, or +N after --end (default +2, the least allowed)")
    a.add_argument("--payby", default="+60", help="the organizer's payout deadline: a height, "
                   "or +N after --draw (default +60)")
    a.add_argument("--stake", default="0", help="the least an entry pays the organizer, in li "
                   "or DLC (default 0)")
    a.add_argument("--prize", default="pot", help="'pot' (the sum the entries paid, default) "
                   "or a fixed amount in li or DLC")
    e = sub.add_parser("enter", parents=[node, keys], help="enter a lottery")
    e.add_argument("lottery_id", metavar="LOTTERY_ID")
    e.add_argument("--amount", help="what to pay the organizer (default: the stake)")
    s = sub.add_parser("status", parents=[node], help="a lottery's rules, entries and, once "
                       "drawn, its winner")
    s.add_argument("lottery_id", metavar="LOTTERY_ID")
    v = sub.add_parser("verify", parents=[node], help="recompute the draw from the chain; "
                       "exit 1 if block D is not final yet")
    v.add_argument("lottery_id", metavar="LOTTERY_ID")
    v.add_argument("--wait", type=float, metavar="SECONDS", help="wait this long for block D "
                   "instead of failing at once (exit 4 if it does not come)")
    o = sub.add_parser("payout", parents=[node, keys], help="pay the winner (organizer)")
    o.add_argument("lottery_id", metavar="LOTTERY_ID")
    return p


def _seconds(value: float | None, option: str) -> float | None:
    if value is not None and not 0 < value <= 86_400:
        raise ConfigError(f"{option} must be a number of seconds above 0 and at most 86400")
    return value


def _home(args: argparse.Namespace) -> Path:
    if args.home is not None:
        return Path(args.home)
    return Path(os.environ.get("DAOLI_HOME") or Path.home() / ".daoli")


def _connect(args: argparse.Namespace) -> Client:
    url = args.node or os.environ.get("DAOLI_NODE") or DEFAULT_NODE
    token = args.token if args.token else token_from_home(_home(args))
    return Client(url, token, timeout=10)


def _password(args: argparse.Namespace) -> str:
    file = args.password_file or os.environ.get("DAOLI_PASSWORD_FILE") or None
    if file:
        password = read_secret_line(file, "password")
        if not password:
            raise ConfigError(f"the password file {show(file)} is empty")
        return password
    if os.environ.get("DAOLI_PASSWORD"):
        return os.environ["DAOLI_PASSWORD"]
    if sys.stdin.isatty():
        return getpass.getpass("wallet password: ")
    raise ConfigError("no password: use --password-file, $DAOLI_PASSWORD_FILE or "
                      "$DAOLI_PASSWORD")


def _secret(args: argparse.Namespace) -> bytes:
    """The signing key: a wallet of the home (password-protected) or a raw key file."""
    if (args.wallet is None) == (args.key_file is None):
        raise ConfigError("say who signs: --wallet NAME or --key-file FILE (one of them)")
    if args.key_file is not None:
        text = read_secret_line(args.key_file, "key").strip()
        text = text[2:] if text.lower().startswith("0x") else text
        if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ConfigError(f"the key file {show(args.key_file)} must hold 64 hex characters")
        secret = bytes.fromhex(text)
        pubkey_from_secret(secret)  # InvalidKey (exit 2) if it is no secp256k1 key
        return secret
    name = check_name(args.wallet)
    store = WalletStore(_home(args) / "wallets")
    store.info(name)  # a missing wallet is reported before a password is asked for
    return store.unlock(name, _password(args))


def _fee(args: argparse.Namespace) -> int:
    return parse_amount(args.fee) if args.fee is not None else ChainParams().min_fee


def _height(text: str, base: int, option: str) -> int:
    """``N`` (a height) or ``+N`` (N blocks after ``base``)."""
    m = _HEIGHT_RE.fullmatch(text.strip())
    if m is None:
        raise ConfigError(f"{option} {show(text)[:40]!r}: expected a height or +N")
    return int(m[2]) + (base if m[1] else 0)


# --- reading the chain -------------------------------------------------------------------------


def find_lottery(node: Client, lottery_id: bytes) -> lr.Lottery:
    """The announcement, read from its block. The node's transaction index only says which
    block to read; the block itself is the evidence."""
    try:
        found = node.tx(lottery_id)
    except NotFound:
        raise ConfigError(f"unknown lottery {lottery_id.hex()}: the node at {node.url} has no "
                          "transaction with this id") from None
    if not found.final or found.height is None:
        raise Failed(f"lottery {lottery_id.hex()}: the announcement is not final yet")
    try:
        return lr.lottery_in_block(node.block(found.height).block, lottery_id)
    except DecodeError as exc:
        raise DecodeError(f"{lottery_id.hex()} is not a lottery: {exc}") from None


def read_blocks(node: Client, first: int, last: int) -> list[Block]:
    """Blocks ``first..last``, in as many range requests as it takes (100 at most each)."""
    out: list[Block] = []
    h = first
    while h <= last:
        got = node.blocks(h, min(last, h + MAX_RANGE - 1))
        if not got:
            raise Failed(f"the node at {node.url} has no block {h}")
        for info in got:
            if info.height != h:
                raise Failed(f"the node answered block {info.height} for height {h}")
            out.append(info.block)
            h += 1
            if h > last:
                break
    return out


def wait_for_height(node: Client, height: int, timeout: float) -> int:
    """Poll the tip until ``height`` is final; NodeTimeout (exit 4) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        tip = node.status().height
        if tip >= height or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    if tip < height:
        raise NodeTimeout(f"block {height} was not final within {timeout:g} s (the chain is "
                          f"at height {tip})")
    return tip


@dataclass(frozen=True)
class View:
    """What ``status`` and ``verify`` print: the lottery as the chain shows it at ``tip``."""

    lottery: lr.Lottery
    tip: int
    entries: tuple[lr.Entry, ...]
    ignored: tuple[lr.Ignored, ...]
    result: lr.Result | None


def examine(node: Client, lottery_id: bytes, wait: float | None = None,
            need_draw: bool = False) -> View:
    lottery = find_lottery(node, lottery_id)
    rules = lottery.rules
    tip = node.status().height
    if tip < rules.draw and wait is not None:
        tip = wait_for_height(node, rules.draw, wait)
    if tip < rules.draw and need_draw:
        raise NotDrawnYet(f"lottery {lottery_id.hex()} is drawn from block {rules.draw}; the "
                          f"chain is at height {tip} ({rules.draw - tip} block(s) to go)")
    blocks = read_blocks(node, lottery.height, min(tip, rules.payby))
    if tip >= rules.draw:
        result = lr.decide(lottery, blocks)
        return View(lottery, tip, result.entries, result.ignored, result)
    lr.check_segment(blocks)
    entries, ignored = lr.scan_entries(lottery, blocks)
    return View(lottery, tip, entries, ignored, None)


# --- printing ----------------------------------------------------------------------------------


def dlc(li: int) -> str:
    return f"{format_dlc(li)} ({li:,} li)"


def _entry_json(position: int, e: lr.Entry) -> dict[str, Any]:
    return {"position": position, "entrant": encode_address(e.entrant), "tx_id": e.tx_id.hex(),
            "height": e.height, "index": e.index, "amount": e.amount}


def _phase(v: View) -> str:
    r = v.lottery.rules
    return "open" if v.tip < r.end else "closed" if v.tip < r.draw else "drawn"


def _payout_status(v: View) -> str:
    res = v.result
    if res is None:
        return "not drawn"
    if res.winner is None:
        return "no winner"
    if res.paid >= res.prize:
        return "paid"
    return "missed" if v.tip >= v.lottery.rules.payby else "due"


def view_json(v: View) -> dict[str, Any]:
    lot, r, res = v.lottery, v.lottery.rules, v.result
    prize = res.prize if res is not None else (
        r.prize if r.prize is not None else sum(e.amount for e in v.entries))
    d: dict[str, Any] = {
        "lottery_id": lot.id.hex(), "name": r.name, "organizer": encode_address(lot.organizer),
        "announced_height": lot.height, "announced_index": lot.index, "end": r.end,
        "draw": r.draw, "payby": r.payby, "stake": r.stake,
        "prize_rule": "pot" if r.prize is None else "fixed", "prize": prize, "tip": v.tip,
        "phase": _phase(v),
        "entries": [_entry_json(i, e) for i, e in enumerate(v.entries)],
        "ignored": [{"entrant": encode_address(x.entrant), "tx_id": x.tx_id.hex(),
                     "height": x.height, "index": x.index, "reason": x.reason}
                    for x in v.ignored],
        "draw_block": None, "winner": None,
        "payout": {"status": _payout_status(v), "paid": 0, "txs": []},
    }
    if res is not None:
        d["draw_block"] = {"height": r.draw, "id": res.draw_block_id.hex(),
                           "miner": encode_address(address_bytes_of(res.draw_miner)),
                           "cycle": res.draw_cycle, "lot": res.lot.hex()}
        if res.winner is not None and res.index is not None:
            d["winner"] = _entry_json(res.index, res.winner)
        d["payout"]["paid"] = res.paid
        d["payout"]["txs"] = [{"tx_id": p.tx_id.hex(), "height": p.height, "amount": p.amount}
                              for p in res.payouts]
    return d


def print_view(v: View) -> None:
    d = view_json(v)
    r = v.lottery.rules
    print(f"lottery {d['lottery_id']} '{r.name}'")
    print(f"  organizer   {d['organizer']}")
    print(f"  announced   at height {d['announced_height']}; entries count through height "
          f"{r.end}; drawn from block {r.draw}; payout by height {r.payby}")
    prize = "the pot (what the entries paid)" if r.prize is None else dlc(r.prize)
    print(f"  stake       {dlc(r.stake)}; prize: {prize}")
    print(f"  chain       at height {v.tip}: {d['phase']}")
    print(f"entries: {len(v.entries)} (in canonical order: height, index in block)")
    for e in d["entries"]:
        print(f"  #{e['position']:<3} {e['entrant']}  {dlc(e['amount'])}  height "
              f"{e['height']} index {e['index']}  tx {e['tx_id']}")
    if v.ignored:
        print(f"ignored: {len(v.ignored)}")
        for x in d["ignored"]:
            print(f"  {x['entrant']}  height {x['height']}  tx {x['tx_id']}: {x['reason']}")
    res = v.result
    if res is None:
        print(f"not drawn yet: block {r.draw} is {r.draw - v.tip} block(s) away")
        return
    db = d["draw_block"]
    print(f"draw: block {r.draw} {db['id']}")
    print(f"  its winner ticket: miner {db['miner']}, cycle {db['cycle']}, lot {db['lot']}")
    if res.winner is None:
        print("winner: none (no entry counts)")
        return
    print(f"  index {res.index} of {len(res.entries)} = uniform(SHA-256(tag | lottery id | "
          f"{r.draw} | lot | {len(res.entries)} | counter))")
    print(f"winner: {d['winner']['entrant']} (entry #{res.index}, tx {d['winner']['tx_id']})")
    status = d["payout"]["status"]
    due = {"paid": "paid", "due": f"due by height {r.payby}",
           "missed": f"NOT paid by height {r.payby}"}[status]
    print(f"prize: {dlc(res.prize)}; paid {dlc(res.paid)}: {due}")


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        for line in lines:
            print(line)


# --- commands ----------------------------------------------------------------------------------


def _send(node: Client, args: argparse.Namespace, tx: Transaction) -> int | None:
    """Submit ``tx``; its height once final (None with --no-wait)."""
    result = node.submit(tx)
    if not result.ok:
        raise Failed(f"the node rejected transaction {tx.id.hex()}: "
                     f"{show(result.reason or 'no reason given')}")
    if args.no_wait:
        return None
    return node.wait_for_tx(tx.id, args.timeout).height


def cmd_announce(args: argparse.Namespace) -> int:
    lr.check_name(args.name)
    stake = parse_amount(args.stake)
    prize = None if args.prize.strip().lower() == "pot" else parse_amount(args.prize)
    fee = _fee(args)
    secret = _secret(args)
    with _connect(args) as node:
        tip = node.status().height
        end = _height(args.end, tip, "--end")
        draw = _height(args.draw, end, "--draw")
        rules = lr.Rules(args.name, end, draw, _height(args.payby, draw, "--payby"), stake,
                         prize)
        if end <= tip + 1:
            raise ConfigError(f"--end {end}: entries must stay open after the announcement is "
                              f"final (the chain is at height {tip}; use at least {tip + 2})")
        organizer = address_bytes_of(pubkey_from_secret(secret))
        tx = node.transfer(secret, organizer, 0, fee, memo=rules.memo())
        height = _send(node, args, tx)
    data = {"lottery_id": tx.id.hex(), "organizer": encode_address(organizer), "name": rules.name,
            "end": end, "draw": draw, "payby": rules.payby, "stake": stake,
            "prize_rule": rules.prize_rule, "memo": rules.memo().decode(), "height": height}
    _emit(args, data, [f"lottery {tx.id.hex()} announced by {data['organizer']}"
                       + (f", final at height {height}" if height is not None else ""),
                       f"  entries count through height {end}; drawn from block {draw}; "
                       f"payout by height {rules.payby}"])
    if height is not None and height >= end:
        raise Failed(f"the announcement became final at height {height}, not before the entry "
                     f"deadline {end}: no entry can count")
    return 0


def cmd_enter(args: argparse.Namespace) -> int:
    lottery_id = lr.parse_lottery_id(args.lottery_id)
    fee = _fee(args)
    secret = _secret(args)
    me = address_bytes_of(pubkey_from_secret(secret))
    with _connect(args) as node:
        lottery = find_lottery(node, lottery_id)
        rules = lottery.rules
        amount = parse_amount(args.amount) if args.amount is not None else rules.stake
        if amount < rules.stake:
            raise ConfigError(f"--amount {amount} li is below the stake, {rules.stake} li")
        if me == lottery.organizer:
            raise ConfigError("the organizer cannot enter its own lottery")
        tip = node.status().height
        if tip >= rules.end:
            raise Failed(f"entries closed at height {rules.end} (the chain is at {tip})")
        tx = node.transfer(secret, lottery.organizer, amount, fee,
                           memo=lr.entry_memo(lottery_id))
        height = _send(node, args, tx)
    data = {"lottery_id": lottery_id.hex(), "tx_id": tx.id.hex(), "entrant": encode_address(me),
            "amount": amount, "height": height,
            "counts": None if height is None else height <= rules.end}
    where = f"final at height {height}" if height is not None else "accepted"
    _emit(args, data, [f"entered lottery {lottery_id.hex()[:16]}... as {data['entrant']}: "
                       f"tx {tx.id.hex()} {where}"])
    if height is not None and height > rules.end:
        raise Failed(f"the entry became final at height {height}, after the deadline "
                     f"{rules.end}: it does not count (the organizer still received it)")
    return 0


def cmd_status(args: argparse.Namespace, *, verify: bool = False) -> int:
    lottery_id = lr.parse_lottery_id(args.lottery_id)
    wait = _seconds(getattr(args, "wait", None), "--wait")
    with _connect(args) as node:
        view = examine(node, lottery_id, wait, need_draw=verify)
    if args.json:
        print(json.dumps(view_json(view), sort_keys=True))
    else:
        print_view(view)
    return 0


def cmd_payout(args: argparse.Namespace) -> int:
    lottery_id = lr.parse_lottery_id(args.lottery_id)
    fee = _fee(args)
    secret = _secret(args)
    me = address_bytes_of(pubkey_from_secret(secret))
    with _connect(args) as node:
        view = examine(node, lottery_id, need_draw=True)
        res = view.result
        assert res is not None
        if me != view.lottery.organizer:
            raise ConfigError("only the organizer "
                              f"({encode_address(view.lottery.organizer)}) pays the prize")
        if res.winner is None:
            _emit(args, {"lottery_id": lottery_id.hex(), "winner": None, "tx_id": None},
                  ["no entry counts: there is nobody to pay"])
            return 0
        due = res.prize - res.paid
        winner = encode_address(res.winner.entrant)
        if due <= 0:
            _emit(args, {"lottery_id": lottery_id.hex(), "winner": winner, "tx_id": None,
                         "amount": 0, "height": None},
                  [f"the prize of {dlc(res.prize)} is already paid to {winner}"])
            return 0
        if view.tip >= view.lottery.rules.payby:
            raise Failed(f"the payout deadline, height {view.lottery.rules.payby}, has passed")
        tx = node.transfer(secret, res.winner.entrant, due, fee,
                           memo=lr.payout_memo(lottery_id))
        height = _send(node, args, tx)
    _emit(args, {"lottery_id": lottery_id.hex(), "winner": winner, "tx_id": tx.id.hex(),
                 "amount": due, "height": height},
          [f"paid {dlc(due)} to {winner}: tx {tx.id.hex()}"
           + (f" final at height {height}" if height is not None else "")])
    if height is not None and height > view.lottery.rules.payby:
        raise Failed(f"the payout became final at height {height}, after the deadline "
                     f"{view.lottery.rules.payby}: it does not count as paid in time")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _seconds(args.timeout, "--timeout")
        if args.command == "announce":
            return cmd_announce(args)
        if args.command == "enter":
            return cmd_enter(args)
        if args.command == "payout":
            return cmd_payout(args)
        return cmd_status(args, verify=args.command == "verify")
    except DaoliError as exc:
        message = " ".join(show(str(exc)).split())
        print(f"lottery.py {args.command}: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
