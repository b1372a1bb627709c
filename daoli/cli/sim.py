"""``daoli sim``: the deterministic discrete-event simulator of the whole consensus.

Every option's range is :data:`daoli.sim.runner.BOUNDS`, checked by
:meth:`~daoli.sim.runner.SimConfig.validate` (so the CLI and library callers agree) and
stated in each option's ``--help`` from the same table.

``--manifest FILE`` simulates a devnet manifest. This command sits above both the devnet
and the simulator layers, which may not import each other: it loads the file with
:func:`daoli.devnet.manifest.load_manifest` and hands the manifest to the simulator's pure
mapping, :func:`daoli.sim.manifest.manifest_config`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from daoli.cli.common import JsonOpt, emit, examples, fail, live_console, parse_path, say, stdout
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.devnet.manifest import load_manifest
from daoli.files import show
from daoli.sim.behaviours import BEHAVIOURS
from daoli.sim.manifest import MANIFEST_FIELDS, manifest_config
from daoli.sim.network import LATENCY_KINDS
from daoli.sim.runner import (
    BOUNDS,
    GENESIS_TIME_MS,
    MAX_PARTITIONS,
    MAX_SIM_MS,
    MAX_TRUSTEES,
    MAX_WORK,
    PARTITION_SPAN,
    SimConfig,
    parse_partition,
    per_height_ms,
    run,
)

_PER_HEIGHT_MS = per_height_ms(ChainParams())
_PHI_MS = SimConfig().phi_ms

_HELP = (
    "Simulate trustees and miners running the real consensus code over a simulated network, "
    "deterministically: the same seed gives the same output.\n\n"
    "The lottery, throttle, adjusted clocks, I-BFT, block building and checking and the ledger "
    "are the core modules; time is simulated (nothing sleeps).\n\n"
    "The simulator SKIPS ECDSA: signatures are deterministic stand-ins and the state machines "
    "are told messages are already verified (keys are real: lots are hashes of them).\n\n"
    f"Latency models: {', '.join(LATENCY_KINDS)}. "
    f"Byzantine behaviours: {', '.join(BEHAVIOURS)}.\n\n"
    "Bounds: each option's range is in its help below. A run is also bounded in simulated "
    "time (--max-sim-ms) and in work: the simulated seconds it may take (--max-sim-ms / "
    "1,000) x (trustees^2 + miners + trustees x tx-rate) must be at most "
    f"{MAX_WORK:,}, a few minutes of work at most; with --pow, miners counts every hash a "
    f"miner may try per draw ({_PHI_MS} / hash-time-ms + 1, with miner 0's rate "
    "--heavy-miner). Out-of-range values are usage errors (exit 2).\n\n"
    "--json prints one object. Stable keys: config (the options), heights_finalized, "
    "safety_violations, safety_violation_heights, f, sim_seconds, seconds_per_block "
    "(times count from when the first trustee's clock reads the genesis time; "
    "seconds_per_block is null when no block was finalized), "
    "wall_seconds (the only value that differs between runs of one seed); statistics "
    "objects {count, mean, median, min, max} for cycles_per_block, time_ties_per_draw, "
    "relayed_tickets_per_node_per_draw, payroll_sizes, txs_per_block and tx_latency_ms; "
    "rounds_per_height {round: heights}; wins_by_miner {miner: wins}; rewards_by_trustee "
    "{trustee: {behaviour, trustee_li, sponsor_li, slashed_li, net_li, ...}}; "
    "rewards_by_behaviour; pow_difficulty_by_epoch and time_ties_median_by_epoch (lists); "
    "txs_submitted, txs_included, mempool_max; evidence and network counters. Every number "
    "is finite, and only the net_li figures (reward minus slashed bond) can be negative. "
    "With --manifest also manifest, manifest_notes, followers, nodes {name: {...}} and "
    "faults [...] (docs/devnet.md)."
)


def _range(name: str) -> str:
    return f"Range: {BOUNDS[name].span}."


def _clip(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


_INTEGER = re.compile(r"[+-]?[0-9]{1,40}")


def _int_parser(expected: str) -> Callable[[Any], int]:
    """Parse an integer option: ASCII digits only (``int()`` also takes ``1_000``, spaces
    and non-ASCII digits); a value too long to be in any range is refused here, with the
    range, rather than echoed whole."""

    def parse(text: Any) -> int:
        if isinstance(text, int):
            return text
        if _INTEGER.fullmatch(text):
            return int(text)
        raise typer.BadParameter(f"expected {expected}, got {_clip(text)}")

    return parse


def _int(name: str) -> Callable[[Any], int]:
    return _int_parser(BOUNDS[name].describe())


def _float(name: str) -> Callable[[Any], float]:
    """Parse a number option; ``inf``, ``nan`` and ``1e999`` parse (as inf or nan) and are
    then refused by SimConfig's range check, which names the option and its range."""
    expected = BOUNDS[name].describe()

    def parse(text: Any) -> float:
        try:
            return float(text) + 0.0  # + 0.0: "-0" is 0.0, never a "-0.0" in the report
        except ValueError:
            raise typer.BadParameter(f"expected {expected}, got {_clip(text)}") from None

    return parse


_MANIFEST_OPTIONS = {("partition" if f == "partitions" else f):
                     ("--partition" if f == "partitions" else BOUNDS[f].option)
                     for f in MANIFEST_FIELDS if f == "partitions" or f in BOUNDS}
"""Parameter -> option, for the options a manifest sets (cycle_ms, phi_ms and delta_ms
have none)."""


def _given(ctx: typer.Context, param: str) -> bool:
    """Whether the user gave this option (rather than its default)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def sim(
    ctx: typer.Context,
    trustees: Annotated[int, typer.Option(
        "--trustees", parser=_int("trustees"),
        help=f"Number of trustees (each also a sponsor); a genesis holds at most "
        f"{MAX_TRUSTEES}. {_range('trustees')}")] = 4,
    miners: Annotated[int, typer.Option(
        "--miners", parser=_int("miners"), help=f"Number of miners. {_range('miners')}")] = 100,
    heights: Annotated[int, typer.Option(
        "--heights", parser=_int("heights"),
        help=f"Heights to finalize. {_range('heights')}")] = 20,
    seed: Annotated[int, typer.Option(
        "--seed", parser=_int("seed"),
        help=f"Seed of every random choice (64-bit). {_range('seed')}")] = 1,
    latency: Annotated[str, typer.Option(
        "--latency", help="|".join(LATENCY_KINDS))] = "uniform",
    latency_ms: Annotated[float, typer.Option(
        "--latency-ms", parser=_float("latency_ms"),
        help=f"Mean (median for lognormal) one-way delay. {_range('latency_ms')}")] = 50.0,
    jitter_ms: Annotated[float, typer.Option(
        "--jitter-ms", parser=_float("jitter_ms"),
        help=f"Spread of the delay. {_range('jitter_ms')}")] = 20.0,
    loss: Annotated[float, typer.Option(
        "--loss", parser=_float("loss"),
        help=f"Probability a message is lost. {_range('loss')}")] = 0.0,
    clock_skew_ms: Annotated[float, typer.Option(
        "--clock-skew-ms", parser=_float("clock_skew_ms"),
        help="Each node's clock is off by a uniform draw in -X..X. "
        f"{_range('clock_skew_ms')}")] = 0.0,
    partition: Annotated[list[str] | None, typer.Option(
        "--partition", help="START_MS:END_MS:GROUPS, e.g. 5000:15000:2 (repeatable, at most "
        f"{MAX_PARTITIONS}); {PARTITION_SPAN}.")] = None,
    byzantine: Annotated[int, typer.Option(
        "--byzantine", parser=_int_parser("an integer from 0 to --trustees"),
        help="Byzantine trustees. Range: 0 to --trustees.")] = 0,
    behaviour: Annotated[str, typer.Option(
        "--behaviour", help="|".join(BEHAVIOURS))] = "silent",
    offline_winner: Annotated[float, typer.Option(
        "--offline-winner", parser=_float("offline_winner"),
        help="Fraction of heights whose luckiest sponsor does not propose (exercises "
        f"multi-core failover). {_range('offline_winner')}")] = 0.0,
    pow_: Annotated[bool, typer.Option("--pow", help="Grind and check real nonces; without it "
                                       "work is modelled (an exponential time).")] = False,
    pow_difficulty: Annotated[int, typer.Option(
        "--pow-difficulty", parser=_int("pow_difficulty"),
        help="Genesis difficulty; the ledger retargets it every --epoch-blocks. "
        f"{_range('pow_difficulty')}")] = 16,
    hash_time_ms: Annotated[float, typer.Option(
        "--hash-time-ms", parser=_float("hash_time_ms"),
        help="Simulated time of one hash for a unit-rate miner (a ticket takes difficulty x "
        f"this on average). {_range('hash_time_ms')}")] = 10.0,
    epoch_blocks: Annotated[int, typer.Option(
        "--epoch-blocks", parser=_int("epoch_blocks"),
        help=f"Blocks per epoch (difficulty retarget period). {_range('epoch_blocks')}")] = 32,
    heavy_miner: Annotated[float, typer.Option(
        "--heavy-miner", parser=_float("heavy_miner_rate"),
        help="Hash rate of miner 0 relative to the others. "
        f"{_range('heavy_miner_rate')}")] = 1.0,
    diameter: Annotated[int, typer.Option(
        "--diameter", parser=_int("diameter"),
        help=f"Throttle diameter. {_range('diameter')}")] = 16,
    relay_hold_ms: Annotated[float, typer.Option(
        "--relay-hold-ms", parser=_float("relay_hold_ms"),
        help="How long a node holds tickets to relay them in lot order. "
        f"{_range('relay_hold_ms')}")] = 5.0,
    max_sim_ms: Annotated[int, typer.Option(
        "--max-sim-ms", parser=_int("max_sim_ms"),
        help="Bound on simulated time, in ms. 0 derives it: "
        f"{GENESIS_TIME_MS + 30_000:,} + {_PER_HEIGHT_MS:,} per height + the last "
        f"--partition's end, at most {MAX_SIM_MS:,} (about 5.8 simulated days; "
        f"{SimConfig().derived_max_sim_ms():,} for the default heights). "
        f"{_range('max_sim_ms')}")] = 0,
    evidence: Annotated[bool, typer.Option(
        "--evidence/--no-evidence", help="Honest trustees report equivocation as Evidence "
        "transactions, which slash the culprit's bond.")] = True,
    tx_rate: Annotated[float, typer.Option(
        "--tx-rate", parser=_float("tx_rate"),
        help=f"Workload: transfers per simulated second (0: none). {_range('tx_rate')}")
    ] = 0.0,
    accounts: Annotated[int, typer.Option(
        "--accounts", parser=_int("accounts"),
        help=f"Funded genesis accounts the workload uses. {_range('accounts')}")] = 1_000,
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", parser=parse_path, metavar="FILE",
        help="Simulate the network 'daoli devnet up FILE' starts (devnet/*.toml): its "
        "trustees and followers, each node's miners and latency, jitter and loss, its "
        "[params] and its fault schedule (counted from the first finalized block). Not with "
        f"the options it sets: {', '.join(_MANIFEST_OPTIONS.values())}. Without "
        "--hash-time-ms a hash takes 0.001 ms, about a node's speed.")] = None,
    as_json: JsonOpt = False,
) -> None:
    if manifest is not None:
        clash = [opt for param, opt in _MANIFEST_OPTIONS.items() if _given(ctx, param)]
        if clash:
            fail(f"{clash[0]} cannot be used with --manifest, which sets it (edit the "
                 "manifest instead)")
    cfg = SimConfig(
        trustees=trustees, miners=miners, heights=heights, seed=seed, latency=latency,
        latency_ms=latency_ms, jitter_ms=jitter_ms, loss=loss, clock_skew_ms=clock_skew_ms,
        partitions=tuple(parse_partition(p) for p in (partition or [])), byzantine=byzantine,
        behaviour=behaviour, offline_winner=offline_winner, pow=pow_,
        pow_difficulty=pow_difficulty, hash_time_ms=hash_time_ms, epoch_blocks=epoch_blocks,
        heavy_miner_rate=heavy_miner, diameter=diameter,
        relay_hold_ms=relay_hold_ms, max_sim_ms=max_sim_ms, evidence=evidence,
        tx_rate=tx_rate, accounts=accounts)
    notes: tuple[str, ...] = ()
    if manifest is not None:
        mapped = manifest_config(load_manifest(manifest), cfg,
                                 hash_time_ms=hash_time_ms if _given(ctx, "hash_time_ms")
                                 else None)
        cfg, notes = mapped.config, mapped.notes
    cfg.validate()  # every bound, in one place: SimConfig (run() checks again, cheaply)
    report = run(cfg) if as_json else _run_with_progress(cfg)
    if manifest is not None:
        report["manifest_notes"] = list(notes)
    emit(as_json, report, lambda: _human(report))


sim.__doc__ = _HELP + examples(
    "daoli sim",
    "daoli sim --trustees 31 --miners 1000 --heights 200 --seed 1",
    "daoli sim --trustees 7 --byzantine 2 --behaviour equivocate --json",
    "daoli sim --latency lognormal --latency-ms 150 --jitter-ms 80 --loss 0.02",
    "daoli sim --partition 5000:15000:2 --heights 30",
    "daoli sim --tx-rate 100 --accounts 500",
    "daoli sim --manifest devnet/wan-7.toml --heights 30",
    "daoli sim --manifest devnet/chaos.toml --heights 80 --json",
)


def _run_with_progress(cfg: SimConfig) -> dict[str, Any]:
    """Run with a progress bar on stderr, shown only once the run has taken a second."""
    t0 = time.perf_counter()
    bars: dict[str, Any] = {"bar": None, "task": None}

    def progress(done: int, total: int) -> None:
        bar = bars["bar"]
        if bar is None:
            if time.perf_counter() - t0 < 1.0:
                return
            console = live_console(True)
            bar = Progress(TextColumn("simulating", markup=False), BarColumn(),
                           TextColumn("{task.completed}/{task.total} heights", markup=False),
                           TimeElapsedColumn(), console=console, transient=True)
            bar.start()
            bars["bar"] = bar
            bars["task"] = bar.add_task("sim", total=total)
        bar.update(bars["task"], completed=done)

    try:
        return run(cfg, progress)
    finally:
        if bars["bar"] is not None:
            bars["bar"].stop()


def _g(value: float) -> str:
    """A report figure: grouped, at most 3 decimals, no exponent (``1,300,000``, ``2.5``)."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _fmt(s: dict[str, float]) -> str:
    return (f"mean {_g(s['mean'])}, median {_g(s['median'])}, min {_g(s['min'])}, "
            f"max {_g(s['max'])}")


def _dlc(li: float) -> str:
    """li as DLC with two decimals: 15-digit li amounts do not fit an 80-column table."""
    return f"{li / LI_PER_DLC:,.2f}"


def _by_epoch(values: list[Any]) -> str:
    """A per-epoch list, elided in the middle when long."""
    text = [("-" if v is None else _g(v)) for v in values]
    if len(text) > 12:
        text = [*text[:6], "...", *text[-6:]]
    return " ".join(text) or "-"


def _sim_time(r: dict[str, Any]) -> str:
    per_block = r["seconds_per_block"]
    blocks = "no block finalized" if per_block is None else f"{_g(per_block)} s/block"
    return f"{_g(r['sim_seconds'])} s ({blocks})"


def _human(r: dict[str, Any]) -> None:
    c = r["config"]
    who = f"{c['trustees']} trustees, {c['miners']} miners"
    if "manifest" in r:
        followers = r["followers"]
        who = (f"manifest {show(r['manifest'])}: {c['trustees']} trustees, {followers} "
               f"follower{'' if followers == 1 else 's'}, {c['miners']} miners")
    t = Table(title=Text(f"daoli sim: {who}, seed {c['seed']} (ECDSA skipped)"),
              show_header=False)
    t.add_column("metric", style="bold")
    t.add_column("value")
    viol = r["safety_violations"]
    t.add_row("heights finalized", f"{r['heights_finalized']} / {c['heights']}")
    t.add_row("safety violations", Text(str(viol), style="red" if viol else "green"))
    t.add_row("simulated time", _sim_time(r))
    t.add_row("cycles per block", _fmt(r["cycles_per_block"]))
    t.add_row("rounds per height", ", ".join(f"{k}: {v}"
                                             for k, v in r["rounds_per_height"].items()) or "-")
    t.add_row("time ties per draw (per node)", _fmt(r["time_ties_per_draw"]))
    t.add_row("pow difficulty by epoch", _by_epoch(r["pow_difficulty_by_epoch"]))
    t.add_row("median time ties by epoch", _by_epoch(r["time_ties_median_by_epoch"]))
    t.add_row("relayed tickets per node per draw", _fmt(r["relayed_tickets_per_node_per_draw"]))
    t.add_row("payroll sizes", _fmt(r["payroll_sizes"]))
    t.add_row("equivocation evidence seen", str(r["equivocation_evidence"]))
    t.add_row("evidence txs created / finalized",
              f"{r['evidence_txs_created']} / {r['evidence_txs_included']}")
    if c["tx_rate"]:
        t.add_row("txs submitted / finalized", f"{r['txs_submitted']:,} / {r['txs_included']:,}")
        t.add_row("txs per block", _fmt(r["txs_per_block"]))
        t.add_row("tx latency ms (submit -> final)", _fmt(r["tx_latency_ms"]))
        t.add_row("largest mempool", f"{r['mempool_max']:,}")
    t.add_row("syncs / block fetches", f"{r['syncs']} / {r['block_fetches']}")
    t.add_row("events", f"{r['events']:,}")
    t.add_row("wall time", f"{_g(r['wall_seconds'])} s")
    stdout.print(t)
    rb = Table(title=Text("trustee rewards by behaviour, mean DLC per trustee (min and max in "
                          "--json): net = reward - slashed bond; sponsor = proposer share"))
    rb.add_column("behaviour")
    for col in ("trustees", "reward", "slashed", "bond", "net", "sponsor"):
        rb.add_column(col, justify="right", no_wrap=True)
    for beh, v in r["rewards_by_behaviour"].items():
        rb.add_row(beh, str(v["trustees"]), _dlc(v["mean_trustee_li"]), str(v["slashed"]),
                   _dlc(v["slashed_li"]), _dlc(v["net_li"]), _dlc(v["mean_sponsor_li"]))
    stdout.print(rb)
    wins = sorted(r["wins_by_miner"].items(), key=lambda kv: (-kv[1], int(kv[0])))[:10]
    if wins:
        say("top winners (miner: wins): ", ", ".join(f"{k}: {v}" for k, v in wins))
    if r["offline_winner_heights"]:
        ok = sum(1 for f in r["offline_winner_heights"]
                 if f["winner_miner"] != f["withheld_miner"])
        say(f"offline winners: {len(r['offline_winner_heights'])} heights, "
            f"{ok} finalized by the next ticket of the lineup")
    if "manifest" in r:
        _human_manifest(r)


def _human_manifest(r: dict[str, Any]) -> None:
    """The named nodes, the fault schedule as it went, and what is not simulated."""
    nt = Table(title=Text(f"nodes of manifest {show(r['manifest'])}: what each sends is "
                          "delayed and lost as shown"))
    for col in ("node", "role", "miners", "delay ms", "loss", "height", "proposed", "end"):
        nt.add_column(col, justify="left" if col in ("node", "role", "end") else "right",
                      no_wrap=col != "node")
    for name, v in r["nodes"].items():
        delay = _g(v["latency_ms"]) + (f" ± {_g(v['jitter_ms'])}" if v["jitter_ms"] else "")
        nt.add_row(Text(show(name)), "trustee" if v["trustee"] else "follower",
                   str(v["miners"]), delay, f"{v['loss']:.1%}" if v["loss"] else "0",
                   str(v["height"]), str(v["blocks_proposed"]), v["state_at_end"])
    stdout.print(nt)
    if r["faults"]:
        start = r["faults_from_sim_seconds"]
        say("faults (from the first finalized block",
            "" if start is None else f", at {_g(start)} s", "):")
        for f in r["faults"]:
            what = " ".join(show(n) for n in f["nodes"]) or " | ".join(
                ",".join(show(n) for n in g) for g in f["groups"])
            when = (f"at {_g(f['sim_seconds'])} s, height {f['height']}" if f["applied"]
                    else "not reached (the run ended first)")
            say(f"  +{_g(f['at_s'])} s {f['action']}", f" {what}" if what else "", f": {when}")
    for note in r.get("manifest_notes", []):
        say(("note: ", "dim"), show(note))
