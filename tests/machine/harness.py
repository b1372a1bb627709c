"""A tiny deterministic network of NodeMachines for machine-level tests.

Independent of daoli.sim on purpose: it carries out every effect the simplest way (gossip
reaches every other machine after a fixed delay, timers fire in time order, mining finds a
real, signed ticket at once), so tests see the machine's own decisions and nothing else.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.lottery import lot
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.ticket import Ticket
from daoli.machine import effects as fx
from daoli.machine.memchain import MemoryChain as LedgerHub
from daoli.machine.node import MachineConfig, NodeMachine
from daoli.machine.ports import EcdsaVerifier, SecretSigner
from daoli.machine.signstate import SignState

GENESIS_MS = 10_000
DELAY_MS = 20.0


def secret(role: str, i: int) -> bytes:
    return hashlib.sha256(f"daoli/test/{role}/{i}".encode()).digest()


def make_genesis(n: int, chain_id: str = "machine-test") -> Genesis:
    params = ChainParams(pow_difficulty=1)
    pubs = [pubkey_from_secret(secret("trustee", i)) for i in range(n)]
    allocs = tuple(Allocation(address_bytes_of(pk), 10 * LI_PER_DLC) for pk in pubs)
    trustees = tuple(GenesisTrustee(pk, params.min_bond, f"/ip4/127.0.0.1/tcp/{4000 + i}")
                     for i, pk in enumerate(pubs))
    return Genesis(chain_id, GENESIS_MS, params, allocs, trustees)


@dataclass
class Net:
    """Machines 0..n-1; machine i sponsors miner i (so every node can win)."""

    n: int = 4
    machine_cls: Callable[..., NodeMachine] | dict[int, Callable[..., NodeMachine]] = NodeMachine
    down: set[int] = field(default_factory=set)
    """Machines that receive nothing (and whose effects are dropped)."""
    cut: set[int] = field(default_factory=set)
    """Machines whose outgoing gossip is lost (they still receive)."""

    def __post_init__(self) -> None:
        self.genesis = make_genesis(self.n)
        self.hub = LedgerHub(self.genesis, check_difficulty=None)
        self.now = float(GENESIS_MS - 500)
        self._q: list[tuple[float, int, int, Callable[[], list[Any]]]] = []
        self._seq = 0
        self.log: list[tuple[int, Any]] = []
        """(machine index, effect) for every effect carried out, in order."""
        self.commits: dict[int, list[fx.Commit]] = {i: [] for i in range(self.n)}
        self.machines = [self._make(i) for i in range(self.n)]

    def _make(self, i: int, sign_state: SignState | None = None) -> NodeMachine:
        cls = (self.machine_cls.get(i, NodeMachine) if isinstance(self.machine_cls, dict)
               else self.machine_cls)
        return cls(self.genesis, self.hub, SecretSigner(secret("trustee", i)), EcdsaVerifier(),
                   MachineConfig(), sign_state=sign_state)

    # --- scheduling ------------------------------------------------------------------------------

    def at(self, t: float, i: int, fn: Callable[[], list[Any]]) -> None:
        self._seq += 1
        heapq.heappush(self._q, (max(t, self.now), self._seq, i, fn))

    def start(self) -> None:
        for i, m in enumerate(self.machines):
            self.at(self.now, i, lambda m=m: m.start(self.now))

    def run_until(self, t_end: float, stop: Callable[[], bool] | None = None,
                  max_events: int = 200_000) -> None:
        for _ in range(max_events):
            if not self._q or self._q[0][0] > t_end or (stop is not None and stop()):
                return
            t, _, i, fn = heapq.heappop(self._q)
            self.now = t
            if i in self.down:
                continue
            self.carry_out(i, fn())
        raise AssertionError("event budget exhausted")

    def heights(self) -> list[int]:
        return [len(self.commits[i]) for i in range(self.n)]

    # --- effects -------------------------------------------------------------------------------

    def others(self, i: int) -> list[int]:
        return [j for j in range(self.n) if j != i]

    def send(self, i: int, call: Callable[[NodeMachine], list[Any]]) -> None:
        if i in self.cut:
            return
        for j in self.others(i):
            m = self.machines[j]
            self.at(self.now + DELAY_MS, j, lambda m=m, call=call: call(m))

    def carry_out(self, i: int, effects: list[Any]) -> None:
        m = self.machines[i]
        for e in effects:
            self.log.append((i, e))
            tp = type(e)
            if tp is fx.SetTimer:
                self.at(e.at_ms, i, lambda e=e, m=m: m.on_timer(self.now, e.timer))
            elif tp is fx.MineDraw:
                d = e.draw
                pk = pubkey_from_secret(secret("miner", i))
                t = Ticket(self.genesis.chain_id, d.height, d.cycle, d.parent_id, pk, m.pub, 0,
                           e.start_ms + 10).signed(secret("miner", i))
                entry = (t, t.id, lot(d.seed, pk), e.start_ms + 15)
                self.at(m.to_local(e.start_ms + 15), i,
                        lambda m=m, entry=entry, h=d.height: m.on_own_tickets(self.now, h, [entry]))
            elif tp is fx.GossipTickets:
                items = list(e.items)
                self.send(i, lambda mm, items=items, i=i: mm.on_tickets(self.now, i, items))
            elif tp is fx.GossipVote:
                self.send(i, lambda mm, v=e.vote, i=i: mm.on_vote(self.now, i, v))
            elif tp is fx.EquivocateVote:
                self.send(i, lambda mm, v=e.vote, i=i: mm.on_vote(self.now, i, v))
                self.send(i, lambda mm, v=e.other, i=i: mm.on_vote(self.now, i, v))
            elif tp is fx.RegossipVotes:
                for v in e.votes:
                    self.send(i, lambda mm, v=v, i=i: mm.on_vote(self.now, i, v))
            elif tp is fx.GossipProposal or tp is fx.EquivocateProposal:
                self.send(i, lambda mm, b=e.block, i=i: mm.on_proposal(self.now, i, b))
            elif tp is fx.GossipTxs:
                txs = list(e.txs)
                self.send(i, lambda mm, txs=txs, i=i: mm.on_txs(self.now, i, txs))
            elif tp is fx.Commit:
                self.commits[i].append(e)
            elif tp is fx.Announce:
                self.send(i, lambda mm, e=e, i=i: mm.on_announce(self.now, i, e.block,
                                                                  e.certificate, e.round))
            elif tp is fx.FetchBlock:
                block = self.hub.blocks.get(e.block_id)
                self.at(self.now + 2 * DELAY_MS, i,
                        lambda m=m, e=e, b=block: m.on_fetched(self.now, None, e.block_id, b))
            elif tp is fx.RequestSync:
                src = self.commits[e.peer]
                entries = [(c.block, c.certificate, c.round) for c in src[e.from_height - 1:]]
                self.at(self.now + 2 * DELAY_MS, i,
                        lambda m=m, p=e.peer, en=entries: m.on_sync_reply(self.now, p, en))

    def restart(self, i: int, sign_state: SignState) -> NodeMachine:
        """Replace machine ``i`` by a fresh one on its last commit, with ``sign_state``."""
        m = self._make(i, sign_state)
        self.machines[i] = m
        commits = self.commits[i]
        if commits:
            c = commits[-1]
            self.carry_out(i, m.start_at(self.now, c.block, c.certificate, c.round))
        else:
            self.carry_out(i, m.start(self.now))
        return m


def of_type(log: list[tuple[int, Any]], tp: type, i: int | None = None) -> list[Any]:
    return [e for j, e in log if type(e) is tp and (i is None or j == i)]
