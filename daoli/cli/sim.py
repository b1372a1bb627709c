"""``daoli sim``: the deterministic discrete-event simulator of the whole consensus."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daoli.cli.common import JsonOpt, emit, fail, stdout
from daoli.core.params import LI_PER_DLC
from daoli.sim.behaviours import BEHAVIOURS
from daoli.sim.network import LATENCY_KINDS, Partition
from daoli.sim.runner import SimConfig, run

_HELP = (
    "Simulate trustees and miners running the real consensus code over a simulated network, "
    "deterministically: the same seed gives the same output.\n\n"
    "The lottery, throttle, adjusted clocks, I-BFT, block building and checking and the ledger "
    "are the core modules; time is simulated (nothing sleeps).\n\n"
    "The simulator SKIPS ECDSA: signatures are deterministic stand-ins and the state machines "
    "are told messages are already verified (keys are real: lots are hashes of them).\n\n"
    f"Latency models: {', '.join(LATENCY_KINDS)}. "
    f"Byzantine behaviours: {', '.join(BEHAVIOURS)}.\n\n"
    "--json prints one object. Stable keys: config (the options), heights_finalized, "
    "safety_violations, safety_violation_heights, f, sim_seconds, seconds_per_block, "
    "wall_seconds (the only value that differs between runs of one seed); statistics "
    "objects {count, mean, median, min, max} for cycles_per_block, time_ties_per_draw, "
    "relayed_tickets_per_node_per_draw, payroll_sizes, txs_per_block and tx_latency_ms; "
    "rounds_per_height {round: heights}; wins_by_miner {miner: wins}; rewards_by_trustee "
    "{trustee: {behaviour, trustee_li, sponsor_li, slashed_li, net_li, ...}}; "
    "rewards_by_behaviour; pow_difficulty_by_epoch and time_ties_median_by_epoch (lists); "
    "txs_submitted, txs_included, mempool_max; evidence and network counters."
)


def sim(
    trustees: Annotated[int, typer.Option("--trustees", help="Number of trustees (each "
                                          "also a sponsor).")] = 4,
    miners: Annotated[int, typer.Option("--miners", help="Number of miners.")] = 100,
    heights: Annotated[int, typer.Option("--heights", help="Heights to finalize.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 1,
    latency: Annotated[str, typer.Option("--latency", help="fixed|uniform|normal|lognormal"
                                         )] = "uniform",
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Mean (median for "
                                              "lognormal) one-way delay.")] = 50.0,
    jitter_ms: Annotated[float, typer.Option("--jitter-ms", help="Spread of the delay.")] = 20.0,
    loss: Annotated[float, typer.Option("--loss", help="Probability a message is lost.")] = 0.0,
    clock_skew_ms: Annotated[float, typer.Option("--clock-skew-ms", help="Each node's clock "
                                                 "is off by a uniform draw in [-X, X].")] = 0.0,
    partition: Annotated[list[str] | None, typer.Option(
        "--partition", help="START_MS:END_MS:GROUPS, e.g. 5000:15000:2 (repeatable).")] = None,
    byzantine: Annotated[int, typer.Option("--byzantine", help="Byzantine trustees.")] = 0,
    behaviour: Annotated[str, typer.Option("--behaviour", help="|".join(BEHAVIOURS)
                                           )] = "silent",
    offline_winner: Annotated[float, typer.Option(
        "--offline-winner", help="Fraction of heights whose luckiest sponsor does not "
        "propose (exercises multi-core failover).")] = 0.0,
    pow_: Annotated[bool, typer.Option("--pow", help="Grind and check real nonces; without it "
                                       "work is modelled (an exponential time).")] = False,
    pow_difficulty: Annotated[int, typer.Option(
        "--pow-difficulty", help="Genesis difficulty; the ledger retargets it every "
        "--epoch-blocks.")] = 16,
    hash_time_ms: Annotated[float, typer.Option(
        "--hash-time-ms", help="Simulated time of one hash for a unit-rate miner (a ticket "
        "takes difficulty x this on average).")] = 10.0,
    epoch_blocks: Annotated[int, typer.Option(
        "--epoch-blocks", help="Blocks per epoch (difficulty retarget period).")] = 32,
    heavy_miner: Annotated[float, typer.Option(
        "--heavy-miner", help="Hash rate of miner 0 relative to the others.")] = 1.0,
    diameter: Annotated[int, typer.Option("--diameter", help="Throttle diameter.")] = 16,
    relay_hold_ms: Annotated[float, typer.Option(
        "--relay-hold-ms", help="How long a node holds tickets to relay them in lot order.")
    ] = 5.0,
    max_sim_ms: Annotated[int, typer.Option("--max-sim-ms", help="Bound on simulated time "
                                            "(0: derived).")] = 0,
    evidence: Annotated[bool, typer.Option(
        "--evidence/--no-evidence", help="Honest trustees report equivocation as Evidence "
        "transactions, which slash the culprit's bond.")] = True,
    tx_rate: Annotated[float, typer.Option(
        "--tx-rate", help="Workload: transfers per simulated second (0: none).")] = 0.0,
    accounts: Annotated[int, typer.Option(
        "--accounts", help="Funded genesis accounts the workload uses.")] = 1_000,
    as_json: JsonOpt = False,
) -> None:
    floats = {"--latency-ms": latency_ms, "--jitter-ms": jitter_ms, "--loss": loss,
              "--clock-skew-ms": clock_skew_ms, "--offline-winner": offline_winner,
              "--hash-time-ms": hash_time_ms, "--heavy-miner": heavy_miner,
              "--relay-hold-ms": relay_hold_ms, "--tx-rate": tx_rate}
    for option, value in floats.items():
        if not math.isfinite(value):  # nan slips past every range check; inf overflows
            fail(f"{option} must be a finite number, got {value}")
    cfg = SimConfig(
        trustees=trustees, miners=miners, heights=heights, seed=seed, latency=latency,
        latency_ms=latency_ms, jitter_ms=jitter_ms, loss=loss, clock_skew_ms=clock_skew_ms,
        partitions=tuple(Partition.parse(p) for p in (partition or [])), byzantine=byzantine,
        behaviour=behaviour, offline_winner=offline_winner, pow=pow_,
        pow_difficulty=pow_difficulty, hash_time_ms=hash_time_ms, epoch_blocks=epoch_blocks,
        heavy_miner_rate=heavy_miner, diameter=diameter,
        relay_hold_ms=relay_hold_ms, max_sim_ms=max_sim_ms, evidence=evidence,
        tx_rate=tx_rate, accounts=accounts)
    report = run(cfg) if as_json else _run_with_progress(cfg)
    emit(as_json, report, lambda: _human(report))


sim.__doc__ = _HELP


def _run_with_progress(cfg: SimConfig) -> dict[str, Any]:
    """Run with a progress bar on stderr, shown only once the run has taken a second."""
    t0 = time.perf_counter()
    state: dict[str, Any] = {"bar": None, "task": None}

    def progress(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            if time.perf_counter() - t0 < 1.0:
                return
            bar = Progress(TextColumn("simulating"), BarColumn(),
                           TextColumn("{task.completed}/{task.total} heights"),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            bar.start()
            state["bar"] = bar
            state["task"] = bar.add_task("sim", total=total)
        bar.update(state["task"], completed=done)

    try:
        return run(cfg, progress)
    finally:
        if state["bar"] is not None:
            state["bar"].stop()


def _fmt(s: dict[str, float]) -> str:
    return f"mean {s['mean']:g}, median {s['median']:g}, min {s['min']:g}, max {s['max']:g}"


def _dlc(li: float) -> str:
    """li as DLC with two decimals: 15-digit li amounts do not fit an 80-column table."""
    return f"{li / LI_PER_DLC:,.2f}"


def _by_epoch(values: list[Any]) -> str:
    """A per-epoch list, elided in the middle when long."""
    text = [("-" if v is None else f"{v:g}") for v in values]
    if len(text) > 12:
        text = [*text[:6], "...", *text[-6:]]
    return " ".join(text) or "-"


def _human(r: dict[str, Any]) -> None:
    c = r["config"]
    t = Table(title=f"daoli sim: {c['trustees']} trustees, {c['miners']} miners, "
                    f"seed {c['seed']} (ECDSA skipped)", show_header=False)
    t.add_column("metric", style="bold")
    t.add_column("value")
    viol = r["safety_violations"]
    t.add_row("heights finalized", f"{r['heights_finalized']} / {c['heights']}")
    t.add_row("safety violations", f"[red]{viol}[/red]" if viol else "[green]0[/green]")
    t.add_row("simulated time", f"{r['sim_seconds']} s ({r['seconds_per_block']} s/block)")
    t.add_row("cycles per block", _fmt(r["cycles_per_block"]))
    t.add_row("rounds per height", ", ".join(f"{k}: {v}"
                                             for k, v in r["rounds_per_height"].items()))
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
    t.add_row("wall time", f"{r['wall_seconds']} s")
    stdout.print(t)
    rb = Table(title="trustee rewards by behaviour, mean DLC per trustee (min and max in "
                     "--json): net = reward - slashed bond; sponsor = proposer share")
    rb.add_column("behaviour")
    for col in ("trustees", "reward", "slashed", "bond", "net", "sponsor"):
        rb.add_column(col, justify="right", no_wrap=True)
    for beh, v in r["rewards_by_behaviour"].items():
        rb.add_row(beh, str(v["trustees"]), _dlc(v["mean_trustee_li"]), str(v["slashed"]),
                   _dlc(v["slashed_li"]), _dlc(v["net_li"]), _dlc(v["mean_sponsor_li"]))
    stdout.print(rb)
    wins = sorted(r["wins_by_miner"].items(), key=lambda kv: (-kv[1], int(kv[0])))[:10]
    if wins:
        stdout.print("top winners (miner: wins): "
                     + ", ".join(f"{k}: {v}" for k, v in wins))
    if r["offline_winner_heights"]:
        ok = sum(1 for f in r["offline_winner_heights"]
                 if f["winner_miner"] != f["withheld_miner"])
        stdout.print(f"offline winners: {len(r['offline_winner_heights'])} heights, "
                     f"{ok} finalized by the next ticket of the lineup")
