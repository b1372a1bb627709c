"""The demo workload of ``daoli devnet up --demo``: a light stream of transfers between the
devnet's wallets, sent through every node in turn, so a newcomer sees blocks with payload
(and payroll) at once, and market traffic beside it: the first wallet offers resources, the
others order leases on it (matched at once) and close some of them again.

Nonces are tracked here per wallet (the next one after what this workload sent), so the
stream does not wait for finality between transfers; a refused transfer resynchronises its
sender's nonce from the node.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daoli.client import Client, transfer_body
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.params import LI_PER_DLC
from daoli.devnet.runner import PASSWORD_FILE, Devnet
from daoli.errors import DaoliError
from daoli.files import MAX_SECRET_FILE, read_text
from daoli.wallet.keystore import WalletStore


@dataclass
class DemoStats:
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    refused: int = 0
    start_height: int = 0
    last_ids: list[str] = field(default_factory=list)
    market_sent: int = 0
    """Offers, orders and lease closes accepted by a node."""

    def summary(self, net: Devnet, client: Client) -> dict[str, Any]:
        st = client.status()
        blocks = []
        h = self.start_height + 1
        while h <= st.height:
            got = client.blocks(h, min(st.height, h + 99))
            if not got:
                break
            blocks += got
            h = got[-1].height + 1
        final = sum(len(b.block.payload) for b in blocks)
        payroll = sum(len(b.payroll) for b in blocks)
        seconds = time.monotonic() - self.started
        try:
            leases = client.leases(limit=1000).count
        except DaoliError:
            leases = None
        return {"seconds": round(seconds, 1), "transfers_sent": self.sent,
                "market_txs_sent": self.market_sent, "leases_active": leases,
                "transfers_refused": self.refused, "transfers_final": final,
                "blocks": len(blocks), "height": st.height, "payroll_tickets": payroll,
                "final_tx_per_s": round(final / seconds, 2) if seconds > 0 else 0.0}


class Demo:
    """Transfers between the devnet's wallets at ``rate`` per second."""

    def __init__(self, net: Devnet, rate: float = 4.0, seed: int | None = None) -> None:
        self.net = net
        self.rate = rate
        self.rng = random.Random(seed)
        home = Path(net.nodes[0].home)
        password = read_text(net.dir / PASSWORD_FILE, "password file",
                             max_bytes=MAX_SECRET_FILE).splitlines()[0]
        store = WalletStore(home / "wallets")
        names = [w.name for w in net.manifest.wallets] or ["faucet"]
        self.keys = {n: store.unlock(n, password) for n in names}
        self.addrs = {n: address_of(pubkey_from_secret(k)) for n, k in self.keys.items()}
        self.nonces: dict[str, int] = {}
        self.clients = [Client(r.api, net.token(r), timeout=5.0) for r in net.nodes]
        self.stats = DemoStats()
        self._turn = 0
        self._steps = 0
        self.offer_id: bytes | None = None
        self.leases: list[tuple[str, bytes]] = []
        """(buyer wallet, lease id) of the leases this workload opened and not closed."""

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def _client(self) -> Client:
        """The next running node's client (round robin)."""
        for _ in range(len(self.clients)):
            i = self._turn % len(self.clients)
            self._turn += 1
            if self.net.alive(self.net.nodes[i]):
                return self.clients[i]
        raise DaoliError("no node of the devnet is running")

    def _send(self, client: Client, src: str, body: Any) -> bytes | None:
        """Sign ``body`` from wallet ``src`` with the tracked nonce and submit it; its id,
        or None if the node refused it (the nonce is then read again next time)."""
        nonce = self.nonces.get(src)
        if nonce is None:
            nonce = self.nonces[src] = client.next_nonce(self.addrs[src])
        tx = client.sign(self.keys[src], body, self.net.manifest.params.min_fee, nonce)
        if client.submit(tx).ok:
            self.nonces[src] = nonce + 1
            return tx.id
        self.nonces.pop(src, None)
        return None

    def market_step(self) -> None:
        """One market transaction: the provider's offer first, then orders and closes."""
        from daoli.client import NotFound, lease_close_body, offer_body, order_body

        names = list(self.keys)
        provider, buyers = names[0], names[1:]
        client = self._client()
        if self.offer_id is None:
            tip = client.status().height
            self.offer_id = self._send(client, provider, offer_body(
                2000, 4096, 100, 100, 10, expires_height=tip + 100_000, unit_price=100,
                capacity=1_000, endpoint="demo offer: no provider agent runs"))
            sent = self.offer_id is not None
        elif self.leases and (len(self.leases) >= 4 or self.rng.random() < 0.3):
            buyer, lease_id = self.leases[0]
            try:  # close only a lease the chain holds: a refused close would leave a gap
                client.lease(lease_id)
            except NotFound:
                return  # its order is not final yet (or the lease ended): later
            self.leases.pop(0)
            sent = self._send(client, buyer, lease_close_body(lease_id)) is not None
        else:
            buyer = self.rng.choice(buyers)
            blocks = self.rng.randint(20, 60)
            order_id = self._send(client, buyer, order_body(1000, 1024, 10, 10, 10, blocks))
            if order_id is not None:
                self.leases.append((buyer, order_id))
            sent = order_id is not None
        if sent:
            self.stats.market_sent += 1
        else:
            self.stats.refused += 1

    def step(self) -> None:
        """Send one transfer (every 8th step: one market transaction, when the devnet has
        two wallets or more)."""
        self._steps += 1
        if len(self.keys) >= 2 and self._steps % 8 == 1:
            self.market_step()
            return
        names = list(self.keys)
        src = self.rng.choice(names)
        dst = self.rng.choice([n for n in names if n != src] or names)
        amount = self.rng.randint(1, 100) * LI_PER_DLC // 100
        txid = self._send(self._client(), src, transfer_body(self.addrs[dst], amount))
        if txid is not None:
            self.stats.sent += 1
            self.stats.last_ids = [*self.stats.last_ids, txid.hex()][-10:]
        else:
            self.stats.refused += 1

    def run(self, duration: float | None, on_tick: Any = None) -> DemoStats:
        """Send at ``rate`` until ``duration`` seconds have passed (None: until Ctrl-C)."""
        self.stats = DemoStats(start_height=self._client().status().height)
        end = None if duration is None else time.monotonic() + duration
        period = 1.0 / self.rate
        next_at = time.monotonic()
        last_tick = 0.0
        while end is None or time.monotonic() < end:
            try:
                self.step()
            except DaoliError:
                self.stats.refused += 1
            now = time.monotonic()
            if on_tick is not None and now - last_tick >= 1.0:
                on_tick(self.stats)
                last_tick = now
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
        return self.stats


__all__ = ["Demo", "DemoStats"]
