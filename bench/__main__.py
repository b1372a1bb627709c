"""``python -m bench SCENARIO... [--runs N] [--json FILE]``: every benchmark behind one
command, from the repository root (issue 17).

Each named scenario (``all``: every one; ``--list`` shows them) runs ``--runs`` times
(default 3; 1 is allowed for a quick look, but a median wants at least 3), each run in a
fresh temporary directory, in the registry's order whatever the order asked (``tps`` before
``verify-limit``, which uses its median). Progress goes to stderr; stdout gets the machine
line, then one table per scenario: per metric the median, min and max over the runs, the
unit, the target and whether the median meets it (``met``, ``missed``, ``-`` without a
target or a value). Numbers a scenario returns without declaring them as metrics are
reported after its metrics, without a target; a one-level dict of numbers (tps'
``cpu_cores``: CPU cores used per process; ``rss_mib``: RSS per node) is reported per entry
as ``NAME.ENTRY``.

``--json FILE`` writes this document (``-``: stdout, and then the tables go to stderr):

    {"schema": "daoli-bench/1",
     "machine": {"host", "cpu", "cores", "python", "implementation", "libp2p", "platform"},
     "started": "2026-12-01T10:00:00+00:00",          # ISO-8601, UTC
     "runs": N,                                        # --runs
     "scenarios": {NAME: {
         "summary": str,
         "metrics": {KEY: {"label": str, "unit": str,
                           "better": "higher" | "lower" | null,
                           "median": x | null, "min": x | null, "max": x | null,
                           "target": {"op": ">=" | ">" | "<=" | "<", "value": x} | null,
                           "met": true | false | null}},
         "runs": [{...one run's raw result...}, ...],  # non-finite numbers as null
         "seconds": wall time of all its runs,
         "error": str | null}}}                        # the first failure; runs stop there

Statistics are over the runs that produced a finite number (a metric no run produced has
null median, min and max, and ``met`` null).

Exit status: 0 (also when a target is missed), 1 when a scenario failed or, with
``--check``, when a median misses its target, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.common import machine_info, machine_line
from bench.scenarios import DEFAULT_SIM_CONFIGS, SCENARIOS, Metric, Options, Raw, Scenario, select

SCHEMA = "daoli-bench/1"
Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- aggregation ---------------------------------------------------------------------------

def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _flatten(raw: Raw) -> dict[str, float | None]:
    """A run's numbers by key: top-level numbers, and ``PARENT.CHILD`` for the entries of a
    one-level dict of numbers; strings and anything deeper are left to the raw runs."""
    out: dict[str, float | None] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if v is None or _number(v) is not None:
                    out[f"{key}.{sub}"] = _number(v)
        elif value is None or _number(value) is not None:
            out[key] = _number(value)
    return out


_UNITS = (("_per_s", "/s"), ("_ms", "ms"), ("_seconds", "s"), ("_s", "s"), ("_mib", "MiB"),
          ("cores", "cores"))


def _guess_unit(key: str) -> str:
    for part in reversed(key.split(".")):
        if part == "seconds":
            return "s"
        for suffix, unit in _UNITS:
            if part.endswith(suffix):
                return unit
    return ""


def metric_doc(metric: Metric, values: Sequence[float]) -> dict[str, Any]:
    median = statistics.median(values) if values else None
    return {"label": metric.label, "unit": metric.unit, "better": metric.better,
            "median": median, "min": min(values) if values else None,
            "max": max(values) if values else None,
            "target": (None if metric.target is None
                       else {"op": metric.target[0], "value": metric.target[1]}),
            "met": metric.meets(median)}


def aggregate(scenario: Scenario, runs: Sequence[Raw]) -> dict[str, dict[str, Any]]:
    """Per metric (the declared ones first, then every other number the runs returned):
    median, min and max over the runs that produced it, and the median's verdict."""
    flat = [_flatten(r) for r in runs]
    metrics = list(scenario.metrics)
    declared = {m.key for m in metrics}
    for f in flat:
        for key in f:
            if key not in declared:
                declared.add(key)
                metrics.append(Metric(key, key, _guess_unit(key)))
    out: dict[str, dict[str, Any]] = {}
    for m in metrics:
        values = [v for f in flat if (v := f.get(m.key)) is not None]
        out[m.key] = metric_doc(m, values)
    return out


def _json_safe(value: Any) -> Any:
    """The raw runs as strict JSON: non-finite floats become null, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


# --- running -------------------------------------------------------------------------------

def run_scenario(scenario: Scenario, opts: Options, runs: int,
                 earlier: dict[str, list[Raw]], log: Log = _stderr) -> dict[str, Any]:
    """``runs`` runs of one scenario, each in its own temporary directory; the first that
    raises ends the scenario (its error recorded, the runs before it kept)."""
    raws: list[Raw] = []
    error: str | None = None
    t0 = time.monotonic()
    for i in range(runs):
        log(f"{scenario.name} run {i + 1}/{runs} ...")
        run_opts = dataclasses.replace(opts, run_index=i, earlier=dict(earlier))
        t = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix=f"daoli-bench-{scenario.name}-") as tmp:
                raw = scenario.run(run_opts, Path(tmp))
        except Exception as exc:  # noqa: BLE001 - a failed scenario is reported, not fatal
            error = _one_line(exc)
            log(f"{scenario.name} run {i + 1}/{runs} failed: {error}")
            break
        raws.append(dict(raw))
        log(f"{scenario.name} run {i + 1}/{runs}: {time.monotonic() - t:.1f} s")
    earlier[scenario.name] = raws
    return {"summary": scenario.summary, "metrics": aggregate(scenario, raws),
            "runs": _json_safe(raws), "seconds": time.monotonic() - t0, "error": error}


def run_all(scenarios: Sequence[Scenario], opts: Options, runs: int,
            log: Log = _stderr) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA, "machine": machine_info(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": runs, "scenarios": {}}
    earlier: dict[str, list[Raw]] = {}
    for scenario in scenarios:
        doc["scenarios"][scenario.name] = run_scenario(scenario, opts, runs, earlier, log)
    return doc


# --- output --------------------------------------------------------------------------------

def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    a = abs(value)
    if a >= 100 or (a == int(a) and a < 1e15):
        return f"{value:,.0f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _verdict(met: bool | None) -> Text:
    if met is None:
        return Text("-")
    return Text("met", style="green") if met else Text("missed", style="bold red")


def render(doc: dict[str, Any], console: Console) -> None:
    """The machine line, then a table per scenario; every text is plain (``Text``), never
    markup, whatever a scenario or the machine returned."""
    console.print(Text(f"machine: {machine_line(doc['machine'])}"))
    for name, sc in doc["scenarios"].items():
        n = len(sc["runs"])
        table = Table(title=Text(f"{name}: {sc['summary']}"), title_justify="left",
                      caption=None, show_edge=False)
        for col, justify in (("metric", "left"), ("median", "right"), ("min", "right"),
                             ("max", "right"), ("unit", "left"), ("target", "left"),
                             ("verdict", "left")):
            table.add_column(Text(col), justify=justify)  # type: ignore[arg-type]
        for key, m in sc["metrics"].items():
            label = m["label"] if m["label"] == key else f"{m['label']} ({key})"
            t = m["target"]
            target = "" if t is None else f"{t['op']} {fmt(t['value'])}"
            table.add_row(Text(label), Text(fmt(m["median"])), Text(fmt(m["min"])),
                          Text(fmt(m["max"])), Text(m["unit"]), Text(target),
                          _verdict(m["met"]))
        notes = sorted({str(r["note"]) for r in sc["runs"] if r.get("note")})
        caption = [f"{n} run{'s' if n != 1 else ''} in {sc['seconds']:.1f} s", *notes]
        if sc["error"]:
            caption.append(f"error: {sc['error']}")
        table.caption = Text("; ".join(caption), style="red" if sc["error"] else "dim")
        table.caption_justify = "left"
        console.print()
        console.print(table)


def write_json(doc: dict[str, Any], dest: str) -> None:
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(dest).write_text(text)


# --- command line --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not usage + message
        print(f"bench: {message} (python -m bench --help)", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def parser() -> argparse.ArgumentParser:
    d = Options()
    ap = _Parser(prog="python -m bench", description=__doc__.split("\n\n")[0].replace("``", ""))
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="scenarios to run (all: every one; --list shows them)")
    ap.add_argument("--runs", type=_positive, default=3,
                    help="runs per scenario (default 3; medians want >= 3)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON (-: stdout)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a median misses its target")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    g = ap.add_argument_group("scenario options")
    g.add_argument("--transfers", type=_positive, default=d.transfers,
                   help=f"tps: transfers per run (default {d.transfers})")
    g.add_argument("--senders", type=_positive, default=d.senders,
                   help=f"tps, node: sending accounts (default {d.senders})")
    g.add_argument("--profile", type=Path, metavar="DIR",
                   help="tps: py-spy profiles per node into DIR/tps-runN/")
    g.add_argument("--verify-txs", type=_positive, default=d.verify_txs,
                   help=f"verify-limit: signatures verified per run (default {d.verify_txs})")
    g.add_argument("--startup-nodes", type=_positive, default=d.startup_nodes,
                   help=f"startup: devnet size (default {d.startup_nodes})")
    g.add_argument("--sync-blocks", type=_positive, default=d.sync_blocks,
                   help=f"sync: blocks to catch up on (default {d.sync_blocks})")
    g.add_argument("--sim-configs", default=",".join(DEFAULT_SIM_CONFIGS), metavar="NAMES",
                   help="sim: comma-separated configs of bench/sim.py (default t31,t100)")
    g.add_argument("--ledger-txs", type=_positive, default=d.ledger_txs,
                   help=f"ledger: transfers per block (default {d.ledger_txs})")
    g.add_argument("--ledger-blocks", type=int, default=d.ledger_blocks,
                   help=f"ledger: blocks committed per run (default {d.ledger_blocks})")
    g.add_argument("--node-transfers", type=_positive, default=d.node_transfers,
                   help=f"node: transfers for one node's tx/s (default {d.node_transfers})")
    g.add_argument("--latency-txs", type=_positive, default=d.latency_txs,
                   help=f"node: single transfers timed (default {d.latency_txs})")
    return ap


def _options(args: argparse.Namespace) -> Options:
    configs = tuple(c.strip() for c in args.sim_configs.split(",") if c.strip())
    if configs != DEFAULT_SIM_CONFIGS:
        from bench.sim import CONFIGS

        unknown = [c for c in configs if c not in CONFIGS]
        if unknown:
            raise ValueError(f"unknown --sim-configs {', '.join(unknown)} "
                             f"(known: {', '.join(CONFIGS)})")
    return Options(transfers=args.transfers, senders=args.senders, sync_blocks=args.sync_blocks,
                   profile=args.profile, verify_txs=args.verify_txs, ledger_txs=args.ledger_txs,
                   ledger_blocks=args.ledger_blocks, node_transfers=args.node_transfers,
                   latency_txs=args.latency_txs, startup_nodes=args.startup_nodes,
                   sim_configs=configs)


def _console(file: TextIO) -> Console:
    return Console(file=file, markup=False, highlight=False, emoji=False,
                   width=None if file.isatty() else 120)


def main(argv: Sequence[str] | None = None,
         registry: Sequence[Scenario] = SCENARIOS, log: Log = _stderr) -> int:
    args = parser().parse_args(argv)
    if args.list:
        console = _console(sys.stdout)
        for s in registry:
            console.print(Text(f"{s.name:<14} {s.summary}"))
        return 0
    if not args.scenarios:
        _stderr("bench: name at least one scenario, or all (python -m bench --list)")
        return 2
    try:
        chosen = select(args.scenarios, registry)
    except KeyError as exc:
        _stderr(f"bench: unknown scenario {exc.args[0]!r} "
                f"(known: {', '.join(s.name for s in registry)}, all)")
        return 2
    try:
        opts = _options(args)
    except ValueError as exc:
        _stderr(f"bench: {exc}")
        return 2
    if args.json not in (None, "-") and not Path(args.json).parent.is_dir():
        _stderr(f"bench: no directory for --json {args.json}")
        return 2
    if args.runs < 3:
        log(f"note: {args.runs} run per scenario; medians want --runs >= 3")
    try:
        doc = run_all(chosen, opts, args.runs, log)
    except KeyboardInterrupt:
        _stderr("bench: interrupted")
        return 130
    render(doc, _console(sys.stderr if args.json == "-" else sys.stdout))
    if args.json is not None:
        try:
            write_json(doc, args.json)
        except OSError as exc:
            _stderr(f"bench: cannot write {args.json}: {exc.strerror or exc}")
            return 1
    failed = [n for n, sc in doc["scenarios"].items() if sc["error"]]
    for name in failed:
        _stderr(f"bench: {name} failed: {doc['scenarios'][name]['error']}")
    if failed:
        return 1
    if args.check:
        missed = [f"{n}.{k}" for n, sc in doc["scenarios"].items()
                  for k, m in sc["metrics"].items() if m["met"] is False]
        if missed:
            _stderr(f"bench: targets missed: {', '.join(missed)}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
