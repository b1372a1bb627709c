"""JSON views of protocol objects for the local API, field for field as docs/api.md says.

A view is a convenience for people and scripts: every one carries ``raw``, the hex of the
object's canonical encoding, which is what a client should trust (``daoli.core`` decodes it
and checks it). So the views may name and format fields for reading (addresses as ``dlc1``
text, amounts in li with a ``*_dlc`` decimal string beside them) without ever being the
source of truth.

Pure functions of their arguments: no store, no node, no I/O.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from daoli.core.address import ADDRESS_LEN, address_of, encode_address
from daoli.core.block import Block
from daoli.core.ledger_types import Account, Lease, Offer, Order, Trustee
from daoli.core.market import settled_at
from daoli.core.ticket import Ticket
from daoli.core.tx import Body, Transaction, Transfer
from daoli.core.units import format_dlc
from daoli.core.vote import PRECOMMIT, PREVOTE, CommitCertificate, Vote

VOTE_TYPE_NAMES = {PREVOTE: "prevote", PRECOMMIT: "precommit"}

_ADDRESS_FIELDS = frozenset({(Transfer, "to")})
"""Body fields that hold a 20-byte account address (shown as ``dlc1`` text, not hex)."""


def dlc(li: int) -> str:
    """An amount of li as an exact decimal string of DLC, without grouping or unit: ``"1.5"``."""
    return format_dlc(li, grouping=False, unit=False)


def ticket_view(t: Ticket) -> dict[str, Any]:
    return {
        "miner": address_of(t.miner_pubkey),
        "miner_pubkey": t.miner_pubkey.hex(),
        "sponsor": address_of(t.sponsor_pubkey),
        "sponsor_pubkey": t.sponsor_pubkey.hex(),
        "cycle": t.cycle,
        "nonce": t.nonce,
        "time_ms": t.time_ms,
        "raw": t.encoded.hex(),
    }


def vote_view(v: Vote) -> dict[str, Any]:
    """A vote inside an evidence transaction's body."""
    return {
        "type": VOTE_TYPE_NAMES.get(v.vtype, str(v.vtype)),
        "height": v.height,
        "round": v.round,
        "block_id": v.block_id.hex(),
        "trustee": address_of(v.trustee_pubkey),
        "trustee_pubkey": v.trustee_pubkey.hex(),
        "time_ms": v.time_ms,
        "raw": v.encoded.hex(),
    }


def _body_value(body: Body, name: str, value: Any) -> Any:
    if isinstance(value, bytes):
        if (type(body), name) in _ADDRESS_FIELDS and len(value) == ADDRESS_LEN:
            return encode_address(value)
        return value.hex()
    if isinstance(value, Vote):
        return vote_view(value)
    return value  # int (amounts in li, counts, heights) or str (multiaddr, endpoint)


def body_view(body: Body) -> dict[str, Any]:
    """A transaction body's fields by name (every body is a dataclass)."""
    return {f.name: _body_value(body, f.name, getattr(body, f.name))
            for f in fields(body)}  # type: ignore[arg-type]


def tx_view(tx: Transaction) -> dict[str, Any]:
    return {
        "id": tx.id.hex(),
        "type": tx.body.NAME,
        "sender": address_of(tx.sender_pubkey),
        "sender_pubkey": tx.sender_pubkey.hex(),
        "nonce": tx.nonce,
        "fee": tx.fee,
        "fee_dlc": dlc(tx.fee),
        "body": body_view(tx.body),
        "raw": tx.encoded.hex(),
    }


def tx_status_view(tx: Transaction, *, final: tuple[int, int, bytes] | None) -> dict[str, Any]:
    """TxStatus: ``final`` is (height, index in the payload, block id), None while pooled."""
    out: dict[str, Any] = {"id": tx.id.hex()}
    if final is None:
        out["status"] = "pending"
    else:
        height, index, block_id = final
        out.update(status="final", height=height, index=index, block_id=block_id.hex())
    out["tx"] = tx_view(tx)
    return out


def certificate_view(cert: CommitCertificate) -> dict[str, Any]:
    return {"round": cert.round, "signers": [pk.hex() for pk in cert.signers],
            "raw": cert.encoded.hex()}


def block_view(block: Block, cert: CommitCertificate | None) -> dict[str, Any]:
    """Block: ``cert`` is the block's own commit certificate as stored with it."""
    h = block.header
    raw = block.encoded
    return {
        "height": h.height,
        "id": block.id.hex(),
        "parent_id": h.parent_id.hex(),
        "cycle": h.cycle,
        "time_ms": h.time_ms,
        "proposer": address_of(h.proposer_pubkey),
        "proposer_pubkey": h.proposer_pubkey.hex(),
        "winner": ticket_view(h.winner_ticket),
        "txs": [tx.id.hex() for tx in block.payload],
        "n_txs": len(block.payload),
        "payroll": [ticket_view(t) for t in block.payroll],
        "state_root": h.state_root.hex(),
        "size": len(raw),
        "certificate": None if cert is None else certificate_view(cert),
        "raw": raw.hex(),
    }


def payroll_view(block: Block) -> dict[str, Any]:
    return {"height": block.height, "block_id": block.id.hex(),
            "winner": ticket_view(block.header.winner_ticket),
            "payroll": [ticket_view(t) for t in block.payroll]}


def account_view(address: bytes, account: Account, next_nonce: int) -> dict[str, Any]:
    return {"address": encode_address(address), "balance": account.balance,
            "balance_dlc": dlc(account.balance), "nonce": account.nonce,
            "next_nonce": max(next_nonce, account.nonce)}


def trustee_view(t: Trustee, *, active: bool) -> dict[str, Any]:
    return {"pubkey": t.pubkey.hex(), "address": address_of(t.pubkey), "bond": t.bond,
            "bond_dlc": dlc(t.bond), "multiaddr": t.multiaddr, "status": t.status_name,
            "active": active, "join_height": t.join_height}


def lineup_entry_view(miner_pubkey: bytes, sponsor_pubkey: bytes, since: int,
                      until: int) -> dict[str, Any]:
    return {"miner": address_of(miner_pubkey), "miner_pubkey": miner_pubkey.hex(),
            "sponsor": address_of(sponsor_pubkey), "since": since, "until": until}


def _resources(rec: Offer | Order) -> dict[str, Any]:
    return {"cpu_millicores": rec.cpu_millicores, "mem_mib": rec.mem_mib,
            "disk_gib": rec.disk_gib, "net_mbps": rec.net_mbps}


def offer_view(offer_id: bytes, offer: Offer, *, lined_up: bool) -> dict[str, Any]:
    """Offer: ``lined_up`` says whether its provider key is on lineup duty at the tip, which
    makes it a preferred supplier in the next block's matching (SPEC 5 and 6)."""
    return {"id": offer_id.hex(), "provider": address_of(offer.provider_pubkey),
            "provider_pubkey": offer.provider_pubkey.hex(), **_resources(offer),
            "price_per_block": offer.price_per_block,
            "price_per_block_dlc": dlc(offer.price_per_block),
            "unit_price": offer.unit_price, "unit_price_dlc": dlc(offer.unit_price),
            "capacity": offer.capacity, "active": offer.active,
            "expires_height": offer.expires_height, "endpoint": offer.endpoint,
            "height": offer.height, "index": offer.index, "lined_up": lined_up,
            "raw": offer.encode().hex()}


def order_view(order_id: bytes, order: Order) -> dict[str, Any]:
    return {"id": order_id.hex(), "buyer": address_of(order.buyer_pubkey),
            "buyer_pubkey": order.buyer_pubkey.hex(), **_resources(order),
            "max_price_per_block": order.max_price_per_block,
            "max_price_per_block_dlc": dlc(order.max_price_per_block),
            "duration_blocks": order.duration_blocks, "deposit": order.deposit,
            "deposit_dlc": dlc(order.deposit), "height": order.height, "index": order.index,
            "expires_height": order.expires_height, "raw": order.encode().hex()}


def lease_view(lease_id: bytes, lease: Lease, height: int) -> dict[str, Any]:
    """Lease as of ``height`` (the tip): the stored record is settled lazily, so ``paid``
    and ``escrow_left`` are what settling it to ``height`` would give, and ``owed`` the part
    of ``paid`` not yet moved to the provider (it moves when the lease is next touched).
    ``paid + escrow_left`` is always the deposit. ``raw`` is the record as stored."""
    now, owed = settled_at(lease, height)
    return {"id": lease_id.hex(), "order_id": lease_id.hex(), "offer_id": lease.offer_id.hex(),
            "provider": address_of(lease.provider_pubkey),
            "provider_pubkey": lease.provider_pubkey.hex(),
            "buyer": address_of(lease.buyer_pubkey), "buyer_pubkey": lease.buyer_pubkey.hex(),
            "price_per_block": lease.price_per_block,
            "price_per_block_dlc": dlc(lease.price_per_block),
            "unit_price": lease.unit_price, "unit_price_dlc": dlc(lease.unit_price),
            "start": lease.start, "duration_end": lease.duration_end, "end": lease.end,
            "settled": lease.settled, "as_of": height,
            "paid": now.paid, "paid_dlc": dlc(now.paid), "owed": owed, "owed_dlc": dlc(owed),
            "escrow_left": now.escrow, "escrow_left_dlc": dlc(now.escrow),
            "last_seq": lease.last_seq, "raw": lease.encode().hex()}


__all__ = ["account_view", "block_view", "body_view", "certificate_view", "dlc",
           "lease_view", "lineup_entry_view", "offer_view", "order_view", "payroll_view",
           "ticket_view", "trustee_view", "tx_status_view", "tx_view", "vote_view"]
