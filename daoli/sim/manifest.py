"""A devnet manifest as a simulation: ``daoli sim --manifest FILE`` runs the network that
``daoli devnet up FILE`` starts, so the two can be compared.

``daoli.sim`` and ``daoli.devnet`` are sibling layers that must not import each other, so
this mapping reads the manifest through the :class:`ManifestLike` protocol: the fields of
:class:`daoli.devnet.manifest.Manifest` it needs, which that class has without knowing of
this module (the CLI, above both layers, loads the file and hands the object here; mypy
checks that it fits). The mapping is pure: a manifest and the other options in, a
:class:`~daoli.sim.runner.SimConfig` and the notes on what is not simulated out.

What maps to what:

* trustee nodes -> the simulated trustees, in manifest order; ``trustee = false`` nodes ->
  followers (they sponsor their miners' tickets and propose their blocks, do not vote);
* each node's ``miners``, plus one per ``[[light_miners]]`` entry it sponsors -> miners
  attached to that node;
* ``[params]`` -> the genesis parameters (all of them: cycle, windows, timeouts, diameter,
  difficulty, epochs, fees ...);
* ``latency_ms``, ``jitter_ms``, ``loss`` -> what that node sends takes its latency, give or
  take its jitter (uniform, as the node's shaping draws it, unless ``--latency`` picks
  another model), and is lost with its loss;
* ``[[faults]]`` -> the same schedule, counted, as in a devnet, from the first finalized
  block (:class:`~daoli.sim.runner.SimFault` says what each action does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from daoli.core.params import ChainParams
from daoli.errors import ConfigError
from daoli.sim.runner import MIN_HASH_TIME_MS, SimConfig, SimFault, SimNodeSpec

DEVNET_HASH_TIME_MS = MIN_HASH_TIME_MS
"""Simulated time of one hash when simulating a manifest: about what a node's Python
SHA-256 takes (0.7 us measured), so a ticket at the default difficulty of 4,096 costs a
few ms, as a devnet's local miners spend. The simulator's own default (10 ms, made for a
difficulty of 16) would make every ticket miss the computing window."""

MANIFEST_FIELDS = ("trustees", "miners", "latency_ms", "jitter_ms", "loss", "partitions",
                   "cycle_ms", "phi_ms", "delta_ms", "diameter", "pow_difficulty",
                   "epoch_blocks")
"""The :class:`SimConfig` fields a manifest sets: options for them cannot go with one."""


class NodeLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def trustee(self) -> bool: ...
    @property
    def miners(self) -> int: ...
    @property
    def sponsor(self) -> bool: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def jitter_ms(self) -> float: ...
    @property
    def loss(self) -> float: ...


class LightMinerLike(Protocol):
    @property
    def wallet(self) -> str: ...
    @property
    def sponsor(self) -> str: ...


class FaultLike(Protocol):
    @property
    def at_s(self) -> float: ...
    @property
    def action(self) -> str: ...
    @property
    def nodes(self) -> Sequence[str]: ...
    @property
    def groups(self) -> Sequence[Sequence[str]]: ...


class ManifestLike(Protocol):
    """What the mapping reads of a devnet manifest (:class:`daoli.devnet.manifest.Manifest`)."""

    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> Sequence[NodeLike]: ...
    @property
    def params(self) -> ChainParams: ...
    @property
    def wallets(self) -> Sequence[object]: ...
    @property
    def light_miners(self) -> Sequence[LightMinerLike]: ...
    @property
    def faults(self) -> Sequence[FaultLike]: ...


@dataclass(frozen=True)
class ManifestRun:
    config: SimConfig
    notes: tuple[str, ...]
    """What of the manifest the simulation leaves out or models differently, one line each
    (the report's ``manifest_notes``)."""


def manifest_config(m: ManifestLike, base: SimConfig | None = None, *,
                    hash_time_ms: float | None = None) -> ManifestRun:
    """The simulation of manifest ``m``; every option the manifest does not set (heights,
    seed, latency model, Byzantine trustees, workload, ...) is ``base``'s.

    ``hash_time_ms``: the time of one hash if the caller chose one, else
    :data:`DEVNET_HASH_TIME_MS`. A manifest in which no node has a miner is refused:
    nothing could win a draw.
    """
    base = base or SimConfig()
    notes: list[str] = []
    extra: dict[str, int] = {}
    for lm in m.light_miners:
        sponsor = next((n for n in m.nodes if n.name == lm.sponsor), None)
        if sponsor is None:
            raise ConfigError(f"manifest {m.name}: light miner of {lm.wallet!r}: no node "
                              f"{lm.sponsor!r}")
        if sponsor.sponsor:
            extra[lm.sponsor] = extra.get(lm.sponsor, 0) + 1
        else:
            notes.append(f"light miner of {lm.wallet} left out: its sponsor {lm.sponsor} has "
                         "sponsor = false and would refuse its tickets")
    nodes = tuple(SimNodeSpec(n.name, n.trustee, n.miners + extra.get(n.name, 0),
                              float(n.latency_ms), float(n.jitter_ms), float(n.loss))
                  for n in m.nodes)
    miners = sum(n.miners for n in nodes)
    if miners == 0:
        raise ConfigError(f"manifest {m.name}: no node has miners (nor light miners), so "
                          "no draw could be won: give a node miners = 1 or more")
    p = m.params
    faults = tuple(SimFault(round(f.at_s * 1000), f.action, tuple(f.nodes),
                            tuple(tuple(g) for g in f.groups)) for f in m.faults)
    cfg = replace(
        base, trustees=sum(1 for n in nodes if n.trustee), miners=miners, nodes=nodes,
        latency_ms=0.0, jitter_ms=0.0, loss=0.0, partitions=(), faults=faults, params=p,
        cycle_ms=p.cycle_ms, phi_ms=p.phi_ms, delta_ms=p.delta_ms, diameter=p.diameter,
        pow_difficulty=p.pow_difficulty, epoch_blocks=p.epoch_blocks, manifest=m.name,
        hash_time_ms=DEVNET_HASH_TIME_MS if hash_time_ms is None else hash_time_ms)
    followers = [n.name for n in nodes if not n.trustee]
    if followers:
        notes.append(f"followers ({', '.join(followers)}) are simulated as non-voting nodes "
                     "that sponsor their miners")
    if m.wallets:
        notes.append(f"wallets ({len(m.wallets)}) are not simulated: --tx-rate adds a "
                     "transfer workload of its own accounts")
    notes.append("keys and chain id are the simulator's: lots, hence winners, differ from "
                 "a devnet's")
    if any(n.latency_ms or n.jitter_ms or n.loss for n in nodes):
        notes.append("shaping is drawn per message and recipient (a node draws one delay "
                     "and loss per published message); relays are delayed by the relayer's")
    if faults:
        notes.append("restarts take no time (a node process takes a second or two to start)")
    if not cfg.pow:
        notes.append(f"work is modelled: {cfg.hash_time_ms:g} ms per hash "
                     "(--hash-time-ms, or --pow to grind real nonces)")
    return ManifestRun(cfg, tuple(notes))


__all__ = ["DEVNET_HASH_TIME_MS", "MANIFEST_FIELDS", "FaultLike", "LightMinerLike",
           "ManifestLike", "ManifestRun", "NodeLike", "manifest_config"]
