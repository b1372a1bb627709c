"""Answers shaped as docs/api.md says, built from real protocol objects, for the client and CLI
tests (written from the contract, independently of the server's own views).

A small real chain (tests/core/ledger_factories.py) supplies signed blocks, transactions and
tickets, so every ``raw`` field decodes and every id matches, and a test can break one thing
at a time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from daoli.core.address import address_of, encode_address
from daoli.core.block import Block
from daoli.core.lottery import seed
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.units import format_dlc
from tests.core.ledger_factories import CHAIN_ID, Chain, addr, make_cert, pk, transfer

GENESIS_ID = "ab" * 32
SPONSOR_SECRET = (202).to_bytes(32, "big")


def ticket_view(t: Ticket) -> dict[str, Any]:
    return {"miner": address_of(t.miner_pubkey), "miner_pubkey": t.miner_pubkey.hex(),
            "sponsor": address_of(t.sponsor_pubkey), "sponsor_pubkey": t.sponsor_pubkey.hex(),
            "cycle": t.cycle, "nonce": t.nonce, "time_ms": t.time_ms, "raw": t.encoded.hex()}


def block_view(b: Block, with_cert: bool = True) -> dict[str, Any]:
    h = b.header
    cert = make_cert(b.height, b.id, [pk(i) for i in (101, 102, 103)]) if with_cert else None
    return {
        "height": b.height, "id": b.id.hex(), "parent_id": h.parent_id.hex(), "cycle": h.cycle,
        "time_ms": h.time_ms, "proposer": address_of(h.proposer_pubkey),
        "proposer_pubkey": h.proposer_pubkey.hex(), "winner": ticket_view(h.winner_ticket),
        "txs": [tx.id.hex() for tx in b.payload], "n_txs": len(b.payload),
        "payroll": [ticket_view(t) for t in b.payroll], "state_root": h.state_root.hex(),
        "size": len(b.encoded),
        "certificate": None if cert is None else {
            "round": cert.round, "signers": [s.hex() for s in cert.signers],
            "raw": cert.encoded.hex()},
        "raw": b.encoded.hex(),
    }


def tx_view(tx: Transaction) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if isinstance(tx.body, Transfer):
        body = {"to": encode_address(tx.body.to), "amount": tx.body.amount,
                "memo": tx.body.memo.hex()}
    return {"id": tx.id.hex(), "type": tx.body.NAME, "sender": address_of(tx.sender_pubkey),
            "sender_pubkey": tx.sender_pubkey.hex(), "nonce": tx.nonce, "fee": tx.fee,
            "fee_dlc": format_dlc(tx.fee, grouping=False, unit=False), "body": body,
            "raw": tx.encoded.hex()}


def tx_status_view(tx: Transaction, block: Block | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"id": tx.id.hex(), "status": "pending", "tx": tx_view(tx)}
    if block is not None:
        d.update(status="final", height=block.height, index=list(block.payload).index(tx),
                 block_id=block.id.hex())
    return d


class Fixture:
    """Two blocks on a real chain: height 1 empty, height 2 with a transfer and a payroll."""

    def __init__(self) -> None:
        chain = Chain()
        chain.next()
        self.tx = transfer(1, 2, 5_000, 0)
        chain.next([self.tx], payroll=[203, 204])
        self.chain = chain
        self.blocks = chain.blocks
        self.tip = chain.blocks[-1]

    def status(self, **changes: Any) -> dict[str, Any]:
        d = {"chain_id": CHAIN_ID, "genesis_id": GENESIS_ID, "height": self.tip.height,
             "tip_id": self.tip.id.hex(), "tip_time_ms": self.tip.header.time_ms,
             "cycle": 7, "gc_cycle_ms": 1000, "round": 0, "peers": 3, "trustees": 4,
             "trustee": True, "mempool": 2, "peer_id": "16Uiu2HAmEWQnHq2jLKJypwVnVoQeFCULuyop6"
             "atvq2eWjYSUjzNi", "listen": ["/ip4/127.0.0.1/tcp/26656"], "syncing": False,
             "version": "0.1.0"}
        d.update(changes)
        return d

    def block(self, height: int) -> dict[str, Any]:
        return block_view(self.blocks[height - 1])

    def account(self, i: int, balance: int = 10**14, nonce: int = 3,
                next_nonce: int = 5) -> dict[str, Any]:
        return {"address": encode_address(addr(i)), "balance": balance,
                "balance_dlc": format_dlc(balance, grouping=False, unit=False), "nonce": nonce,
                "next_nonce": next_nonce}

    def payroll(self) -> dict[str, Any]:
        h = self.tip.header
        return {"height": self.tip.height, "block_id": self.tip.id.hex(),
                "winner": ticket_view(h.winner_ticket),
                "payroll": [ticket_view(t) for t in self.tip.payroll]}

    def lineup(self) -> dict[str, Any]:
        return {"height": self.tip.height, "lineup": [
            {"miner": address_of(t.miner_pubkey), "miner_pubkey": t.miner_pubkey.hex(),
             "sponsor": address_of(t.sponsor_pubkey), "since": 2, "until": 10}
            for t in self.tip.payroll]}

    def trustees(self) -> dict[str, Any]:
        return {"height": self.tip.height, "epoch": 0, "trustees": [
            {"pubkey": pk(i).hex(), "address": address_of(pk(i)), "bond": 10**11,
             "bond_dlc": "1000", "multiaddr": f"/ip4/127.0.0.1/tcp/{9000 + i}",
             "status": "bonded", "active": True, "join_height": 0} for i in (101, 102)]}

    def draw(self, now_ms: int, target: int | str = 1 << 256,
             difficulty: int = 1) -> dict[str, Any]:
        parent = self.tip.id
        return {"chain_id": CHAIN_ID, "height": self.tip.height + 1, "cycle": 9,
                "parent_id": parent.hex(), "seed": seed(parent, 9).hex(),
                "start_ms": now_ms - 10, "phi_ms": 60_000, "target": target,
                "difficulty": difficulty, "sponsor_pubkey": pk(202).hex(), "now_ms": now_ms}


@cache
def fixture() -> Fixture:
    return Fixture()


def sse(*events: tuple[str, dict[str, Any]] | str) -> bytes:
    """An event stream: (name, data) pairs, and strings as raw lines (comments)."""
    import json

    out = []
    for e in events:
        if isinstance(e, str):
            out.append(e + "\n")
        else:
            out.append(f"event: {e[0]}\ndata: {json.dumps(e[1])}\n\n")
    return "".join(out).encode()
