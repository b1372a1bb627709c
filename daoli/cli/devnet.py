"""``daoli devnet``: a multi-node local network in one command.

``up`` makes a devnet directory from a manifest (devnet/*.toml; without one: 4 trustee
nodes, 2 miners each, wallets alice, bob and carol), starts every node as its own process
and waits for the first finalized block. The other commands act on that directory: they
find the nodes by the PIDs and ports it recorded (docs/devnet.md).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    examples,
    fail,
    group_options,
    live_console,
    say,
    state,
    stdout,
)
from daoli.devnet.manifest import FAUCET_WALLET, MAX_NODES, default_manifest, load_manifest
from daoli.devnet.runner import PASSWORD_FILE, Devnet, NodeRecord, wait_until
from daoli.errors import EXIT_FAILED, DaoliError, TimedOut
from daoli.files import MAX_CONFIG_FILE, MAX_SECRET_FILE, read_text, safe_resolve, show

DEFAULT_DIR = Path(".devnet")
DIR_ENV = "DAOLI_DEVNET_DIR"
FIRST_BLOCK_TIMEOUT_S = 60.0

app = typer.Typer(
    help="Multi-node local networks: start, watch, break and tear down a devnet. One devnet "
    "per directory (--dir, $DAOLI_DEVNET_DIR, default ./.devnet)."
    + examples("daoli devnet up --detach", "daoli devnet up devnet/single.toml --detach",
               "eval \"$(daoli devnet env)\" && daoli wallet send alice bob 5DLC --wait",
               "daoli devnet status", "daoli devnet down"),
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DirOpt = Annotated[Path | None, typer.Option(
    "--dir", metavar="DIR", help="The devnet's directory.",
    show_default="$DAOLI_DEVNET_DIR or ./.devnet")]


ManifestArg = Annotated[Path | None, typer.Argument(
    metavar="[MANIFEST]", help="A devnet manifest (devnet/*.toml).",
    show_default="4 trustee nodes, 2 miners each, wallets alice, bob, carol")]
NodesOpt = Annotated[int | None, typer.Option(
    "--nodes", min=1, max=MAX_NODES, help="Nodes of the built-in manifest.",
    show_default="4")]


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


def _dir(d: Path | None) -> Path:
    if d is None:
        env = os.environ.get(DIR_ENV)
        d = Path(env) if env else DEFAULT_DIR
    if str(d) == "":
        fail("--dir must not be empty")
    return safe_resolve(d, "--dir")


def _json(as_json: bool) -> bool:
    return as_json or state().json


def _client(net: Devnet, rec: NodeRecord, timeout: float = 3.0) -> Any:
    from daoli.client import Client

    return Client(rec.api, net.token(rec), timeout=timeout)


def _node_view(net: Devnet, rec: NodeRecord) -> dict[str, Any]:
    alive = net.alive(rec)
    view: dict[str, Any] = {"name": rec.name, "pid": rec.pid if alive else None,
                            "alive": alive, "api": rec.api, "peer_id": rec.peer_id,
                            "p2p": rec.p2p_addr, "trustee": rec.trustee, "home": rec.home,
                            "height": None, "round": None, "peers": None, "mempool": None}
    if alive:
        with contextlib.suppress(DaoliError, OSError):
            st = _client(net, rec, 1.0).status()
            view.update(height=st.height, round=st.round, peers=st.peers,
                        mempool=st.mempool)
    return view


def _explorer(net: Devnet) -> str:
    rec = net.nodes[0]
    return f"{rec.api}/explorer#token={net.token(rec) or ''}"


def _status_table(views: list[dict[str, Any]]) -> Table:
    t = Table(title=None, show_edge=False)
    for col in ("node", "pid", "height", "round", "peers", "mempool", "trustee", "api"):
        t.add_column(col, justify="right" if col in ("pid", "height", "round", "peers",
                                                     "mempool") else "left")
    for v in views:
        def cell(key: str, v: dict[str, Any] = v) -> str:
            return "-" if v[key] is None else f"{v[key]}"
        t.add_row(show(v["name"]), cell("pid") if v["alive"] else "stopped", cell("height"),
                  cell("round"), cell("peers"), cell("mempool"),
                  "yes" if v["trustee"] else "no", v["api"])
    return t


def _start_all(net: Devnet, quiet: bool, fresh: bool) -> float:
    """Start every stopped node; seconds until all have finalized a block (block 1 on a
    ``fresh`` chain, else one more than each had when it came up)."""
    t0 = time.monotonic()
    todo = [r for r in net.nodes if not net.alive(r)]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=live_console(True), transient=True, disable=quiet) as progress:
        task = progress.add_task("starting nodes", total=len(todo))
        for rec in todo:
            net.start(rec)
        for rec in todo:
            net.wait_started(rec)
            if net.shaped(rec):
                net.apply_shaping(rec)
            progress.advance(task)
        progress.update(task, description="waiting for the first finalized block",
                        completed=0, total=len(net.nodes))

        first_seen: dict[str, int] = {}
        last: dict[str, int] = {}

        def heights() -> bool:
            """Every node has finalized a block since it started (a resumed or restored
            chain must move on, not just answer with the height it had)."""
            done = 0
            for rec in net.nodes:
                with contextlib.suppress(DaoliError, OSError):
                    h = _client(net, rec, 2.0).status().height
                    last[rec.name] = h
                    if h >= (1 if fresh else first_seen.setdefault(rec.name, h) + 1):
                        done += 1
            progress.update(task, completed=done)
            return done == len(net.nodes)

        net.start_light_miners()  # a chain whose only miners are light ones needs them now
        try:
            wait_until("the first finalized block" if fresh else "a new finalized block",
                       heights, FIRST_BLOCK_TIMEOUT_S, 0.1)
        except TimeoutError as exc:
            seen = ", ".join(f"{r.name} {last.get(r.name, 'unreachable')}" for r in net.nodes)
            raise DaoliError(f"{exc} (heights: {seen}; see 'daoli devnet logs NODE')") from None
    return time.monotonic() - t0


@app.command("up")
def up(
    manifest: ManifestArg = None,
    nodes: NodesOpt = None,
    directory: DirOpt = None,
    detach: Annotated[bool, typer.Option(
        "--detach", "-d", help="Return once the network finalizes blocks (after --demo: "
        "once the workload ends); the nodes keep running (stop them with 'daoli devnet "
        "down'), and a detached process runs the manifest's fault schedule.")] = False,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Run a light stream of transfers between the devnet's wallets, with "
        "market traffic (an offer, orders matched into leases, closes), then print a "
        "summary.")] = False,
    duration: Annotated[float | None, typer.Option(
        "--duration", min=1.0, max=7 * 24 * 3600.0,
        help="Seconds the --demo workload runs.", show_default="until Ctrl-C")] = None,
    netns: Annotated[bool, typer.Option(
        "--netns", help="Run each node in its own network namespace (Linux, root), joined "
        "by veth pairs to a bridge the devnet makes and 'down' removes: partitions cut real "
        "links, 'netem --rate' limits real bandwidth. Chosen when the devnet is made.")
    ] = False,
    from_snapshot: Annotated[Path | None, typer.Option(
        "--from-snapshot", metavar="FILE", help="Restore a 'devnet snapshot' into --dir "
        "(which must hold no devnet) and start it: the same chain, on fresh ports.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a devnet: make its directory from the manifest (or resume a kept one), start
    every node, and wait for the first finalized block. Without --detach a live dashboard
    runs until Ctrl-C, which stops the nodes (the directory is kept: 'up' resumes it).

    --json (with --detach or --demo) prints {"dir", "chain_id", "created",
    "seconds_to_first_block", "explorer", "nodes": [{"name", "pid", "alive", "height", "api",
    "peer_id", ...}]}, "fault_scheduler_pid" (--detach with a fault schedule), and with
    --demo also "stopped" and "demo": {"seconds",
    "transfers_sent", "transfers_refused", "transfers_final" (all transactions final),
    "market_txs_sent", "leases_active", "blocks", "height", "payroll_tickets",
    "final_tx_per_s"}.
    """
    d = _dir(directory)
    jsonish = _json(as_json)
    created = False
    if netns:
        from daoli.devnet.netns import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            fail(f"--netns: {reason}", EXIT_FAILED)
    if from_snapshot is not None:
        if manifest is not None or nodes is not None:
            fail("--from-snapshot restores a devnet as it was: no MANIFEST or --nodes")
        if Devnet.exists(d):
            fail(f"{show(d)} already holds a devnet; restore into another --dir")
        net = Devnet.restore(safe_resolve(from_snapshot, "--from-snapshot"), d)
        created = True
        if net.netns and not netns:
            from daoli.devnet.netns import unavailable_reason

            reason = unavailable_reason()
            if reason is not None:
                net.remove()
                fail(f"the snapshot is of a --netns devnet: {reason}", EXIT_FAILED)
    elif Devnet.exists(d):
        if manifest is not None or nodes is not None:
            fail(f"{show(d)} already holds a devnet; 'up' resumes it as it was made "
                 "(no MANIFEST or --nodes), or use another --dir")
        if netns and not Devnet.load(d).netns:
            fail(f"the devnet in {show(d)} was made without --netns; it resumes as it was")
        net = Devnet.load(d)
        live = net.running()
        if live:
            fail(f"a devnet is already running in {show(d)} (nodes "
                 f"{', '.join(r.name for r in live)}); see 'daoli devnet status' or stop "
                 "it with 'daoli devnet down'", EXIT_FAILED)
    else:
        if manifest is not None and nodes is not None:
            fail("give a MANIFEST or --nodes, not both")
        if manifest is not None:
            spec = load_manifest(manifest)
            text = read_text(manifest, "manifest", max_bytes=MAX_CONFIG_FILE)
        else:
            spec = default_manifest(nodes or 4)
            text = _manifest_text(spec.name, len(spec.nodes))
        net = Devnet.create(d, spec, text, netns=netns)
        created = True
    try:
        net.setup_network()
        seconds = _start_all(net, quiet=jsonish, fresh=created and from_snapshot is None)
    except BaseException:
        net.stop_all()
        with contextlib.suppress(DaoliError):
            net.teardown_network()
        raise
    views = [_node_view(net, r) for r in net.nodes]
    result = {"dir": str(d), "chain_id": net.chain_id, "created": created, "netns": net.netns,
              "seconds_to_first_block": round(seconds, 3), "explorer": _explorer(net),
              "nodes": views}

    def human() -> None:
        say(("devnet ", "bold"), show(net.manifest.name), " up in ", show(d), ": ",
            f"{len(net.nodes)} nodes, chain {net.chain_id}, first block after "
            f"{seconds:.1f} s")
        stdout.print(_status_table(views))
        say("explorer: ", show(result["explorer"]))
        say("use it:   ", f'eval "$(daoli devnet env --dir {shlex.quote(str(d))})"',
            "  then e.g. daoli wallet send alice bob 5DLC --wait")
        if result.get("fault_scheduler_pid"):
            say(f"faults:   {len(net.manifest.faults)} scheduled (pid "
                f"{result['fault_scheduler_pid']}); 'daoli devnet status' shows progress")

    if duration is not None and not demo:
        fail("--duration goes with --demo")
    if demo:
        _run_demo(net, duration, jsonish, detach, result)
        return
    if detach and net.manifest.faults:
        result["fault_scheduler_pid"] = net.start_scheduler()
    emit(as_json, result, human)
    if detach:
        return
    _dashboard(net)


def _run_demo(net: Devnet, duration: float | None, jsonish: bool, detach: bool,
              result: dict[str, Any]) -> None:
    """The demo workload with a live view, then a summary; the nodes stop unless --detach."""
    from daoli.devnet.workload import Demo

    demo = Demo(net)
    try:
        if not jsonish:
            say(("demo: ", "bold"), "transfers between ",
                ", ".join(show(n) for n in demo.keys), " through every node; explorer: ",
                show(result["explorer"]))
        live = None if jsonish else Live(_status_table([_node_view(net, r) for r in
                                                        net.nodes]),
                                         console=live_console(False), refresh_per_second=2)

        def tick(stats: Any) -> None:
            if live is not None:
                table = _status_table([_node_view(net, r) for r in net.nodes])
                table.caption = f"demo: {stats.sent} transfers sent, {stats.refused} refused"
                live.update(table)

        with live if live is not None else contextlib.nullcontext(), \
                contextlib.suppress(KeyboardInterrupt):
            demo.run(duration, tick)
        client = demo.clients[0] if net.alive(net.nodes[0]) else demo._client()
        summary = demo.stats.summary(net, client)
    finally:
        demo.close()
        if not detach:
            net.stop_all()
            net.teardown_network()
    out = {**result, "demo": summary, "stopped": not detach}

    def human() -> None:
        say("")
        say(("demo summary: ", "bold"),
            f"{summary['transfers_sent']} transfers sent, {summary['transfers_final']} final "
            f"in {summary['blocks']} blocks ({summary['final_tx_per_s']} tx/s) over "
            f"{summary['seconds']} s; chain height {summary['height']}; "
            f"{summary['payroll_tickets']} payroll tickets; {summary['market_txs_sent']} "
            f"market transactions, {summary['leases_active']} leases active")
        say("explorer: ", show(result["explorer"]),
            "" if detach else "  (nodes stopped: 'daoli devnet up' resumes them)")

    emit(jsonish, out, human)


def _manifest_text(name: str, n: int) -> str:
    return (f'# made by daoli devnet up --nodes {n}\nname = "{name}"\nnodes = {n}\n\n'
            "[defaults]\nminers = 2\n\n" + "".join(
                f'[[wallets]]\nname = "{w}"\n\n' for w in ("alice", "bob", "carol")))


def _dashboard(net: Devnet) -> None:
    """Heights, rounds, peers and mempool of every node, live, until Ctrl-C; then stop. The
    manifest's fault schedule runs meanwhile (``at`` counts from now: the first block)."""
    from daoli.devnet.runner import apply_due

    t0 = time.monotonic()
    pending = list(net.manifest.faults)
    try:
        with Live(_status_table([_node_view(net, r) for r in net.nodes]),
                  console=live_console(False), refresh_per_second=2) as live:
            while True:
                time.sleep(0.25 if pending else 1.0)
                for fault, what, _ok in apply_due(net, pending, time.monotonic() - t0):
                    live.console.print(f"fault at {fault.at_s:g} s: {what}", markup=False,
                                       highlight=False)
                net.refresh()
                live.update(_status_table([_node_view(net, r) for r in net.nodes]))
    except KeyboardInterrupt:
        pass
    finally:
        stopped = net.stop_all()
        net.teardown_network()
        say(f"stopped {stopped} nodes; the devnet is kept in ", show(net.dir),
            " ('daoli devnet up' resumes it, 'daoli devnet down' removes it)")


@app.command("run-faults", hidden=True)
def run_faults(
    directory: DirOpt = None,
    t0: Annotated[float, typer.Option("--t0", help="Wall-clock time (s) the schedule's "
                                      "'at' counts from.")] = 0.0,
) -> None:
    """The detached fault scheduler that 'up --detach' starts (internal; 'down' stops it)."""
    from daoli.devnet.runner import run_scheduler

    net = Devnet.load(_dir(directory))
    stopping = [False]

    def on_term(_sig: int, _frame: Any) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    failed = run_scheduler(net, t0 or time.time(), lambda: stopping[0])
    raise typer.Exit(EXIT_FAILED if failed else 0)


@app.command("status")
def status(
    directory: DirOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every second until "
                                        "Ctrl-C.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The devnet's nodes: process, height, round, peers, mempool.

    --json prints {"dir", "chain_id", "running", "nodes": [{"name", "pid", "alive",
    "height", "round", "peers", "mempool", "api", "peer_id", "p2p", "trustee", "home"}],
    "faults": {"scheduled", "scheduler_running", "done": [{"at_s", "action", "result",
    "ok", "time_ms"}]}} ("done": the detached schedule of 'up --detach').
    """
    net = Devnet.load(_dir(directory))
    if watch and not _json(as_json):
        with contextlib.suppress(KeyboardInterrupt), \
                Live(_status_table([_node_view(net, r) for r in net.nodes]),
                     console=live_console(False), refresh_per_second=2) as live:
            while True:
                time.sleep(1.0)
                live.update(_status_table([_node_view(net, r) for r in net.nodes]))
        return
    views = [_node_view(net, r) for r in net.nodes]
    done = net.faults_done()
    faults = {"scheduled": len(net.manifest.faults), "scheduler_running": net.scheduler_alive(),
              "done": done}

    def human() -> None:
        stdout.print(_status_table(views))
        if net.manifest.faults and (done or faults["scheduler_running"]):
            say(f"faults: {len(done)} of {len(net.manifest.faults)} done"
                + (" (schedule running)" if faults["scheduler_running"] else ""))
            for item in done:
                say(f"  at {item.get('at_s', 0):g} s: ", show(str(item.get("result"))))

    emit(as_json, {"dir": str(net.dir), "chain_id": net.chain_id,
                   "running": sum(v["alive"] for v in views), "nodes": views,
                   "faults": faults}, human)


@app.command("logs")
def logs(
    node: Annotated[str, typer.Argument(help="Node name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines "
                                         "until Ctrl-C.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, max=1_000_000,
                                       help="Lines from the end to show.")] = 50,
    directory: DirOpt = None,
) -> None:
    """A node's log (its home's node.log)."""
    net = Devnet.load(_dir(directory))
    path = Path(net.node(node).home) / "node.log"
    if not path.exists():
        fail(f"node {show(node)} has no log yet", EXIT_FAILED)
    with open(path, "rb") as f:
        tail = f.read().decode("utf-8", "replace").splitlines()[-lines:] if lines else []
        for line in tail:
            stdout.print(show(line), markup=False, highlight=False)
        if not follow:
            return
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                chunk = f.readline()
                if chunk:
                    stdout.print(show(chunk.decode("utf-8", "replace").rstrip("\n")),
                                 markup=False, highlight=False)
                else:
                    time.sleep(0.2)


@app.command("down")
def down(
    keep_data: Annotated[bool, typer.Option("--keep-data", help="Stop the nodes but keep "
                                            "the directory ('up' resumes the chain).")] = False,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop every node of the devnet (by the PIDs it recorded), remove its network
    namespaces (--netns), and remove its directory.

    --json prints {"dir", "stopped", "removed", "network_removed": [names]}.
    """
    d = _dir(directory)
    if not Devnet.exists(d):
        left = _stale_network(d)
        if left:  # a devnet command crashed before it recorded anything: clean up after it
            emit(as_json, {"dir": str(d), "stopped": 0, "removed": False,
                           "network_removed": left},
                 lambda: say(f"no devnet in {show(d)}; removed what was left of its network: "
                             + ", ".join(left)))
            return
    net = Devnet.load(d)
    stopped = net.stop_all()
    network = net.teardown_network()
    if not keep_data:
        net.remove()
    emit(as_json, {"dir": str(d), "stopped": stopped, "removed": not keep_data,
                   "network_removed": network},
         lambda: say(f"stopped {stopped} nodes; ", "kept " if keep_data else "removed ",
                     show(d), f"; removed its network ({len(network)} namespaces and links)"
                     if network else ""))


def _stale_network(d: Path) -> list[str]:
    """Remove a --netns network left by a devnet in ``d`` that has no record (nothing of
    it can be running: its nodes are started only after the record is written)."""
    from daoli.devnet.netns import NetnsDevnet, unavailable_reason

    if unavailable_reason() is not None:
        return []
    net = NetnsDevnet(d)
    return list(net.destroy()) if net.leftovers() else []


def _act(node: str, directory: Path | None, as_json: bool, action: str) -> None:
    net = Devnet.load(_dir(directory))
    rec = net.node(node)
    if action == "kill":
        done = net.stop(rec, kill=True)
    elif action == "restart":
        net.stop(rec)
        net.start(rec)
        net.wait_started(rec)
        if net.shaped(rec):
            net.apply_shaping(rec)
        done = True
    elif action == "pause":
        done = net.signal(rec, signal.SIGSTOP)
    else:
        done = net.signal(rec, signal.SIGCONT)
    if not done:
        fail(f"node {show(node)} is not running", EXIT_FAILED)
    emit(as_json, {"node": node, "action": action, "pid": rec.pid},
         lambda: say(f"{action}: node ", show(node)))


@app.command("kill")
def kill(node: Annotated[str, typer.Argument(help="Node name.")], directory: DirOpt = None,
         as_json: JsonOpt = False) -> None:
    """SIGKILL a node (no flush, no goodbye); 'restart' brings it back. --json: {"node",
    "action", "pid"}."""
    _act(node, directory, as_json, "kill")


@app.command("restart")
def restart(node: Annotated[str, typer.Argument(help="Node name.")], directory: DirOpt = None,
            as_json: JsonOpt = False) -> None:
    """Stop a node (if running) and start it again on its data. --json: {"node", "action",
    "pid"}."""
    _act(node, directory, as_json, "restart")


@app.command("pause")
def pause(node: Annotated[str, typer.Argument(help="Node name.")], directory: DirOpt = None,
          as_json: JsonOpt = False) -> None:
    """Freeze a node's process (SIGSTOP): it neither sends nor answers until 'resume'.
    --json: {"node", "action", "pid"}."""
    _act(node, directory, as_json, "pause")


@app.command("resume")
def resume(node: Annotated[str, typer.Argument(help="Node name.")], directory: DirOpt = None,
           as_json: JsonOpt = False) -> None:
    """Continue a paused node (SIGCONT). --json: {"node", "action", "pid"}."""
    _act(node, directory, as_json, "resume")


@app.command("partition")
def partition(
    groups: Annotated[list[str], typer.Argument(
        metavar="GROUP...", help="Comma-separated node names, one argument per group "
        "(nodes in no group form one more group).")],
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Split the devnet: each node refuses every node outside its group (applied by the
    nodes themselves: connections dropped, gossip and requests refused) until 'heal'.

    --json: {"groups": [[name...]...]}.
    """
    net = Devnet.load(_dir(directory))
    parsed = [[n for n in g.split(",") if n] for g in groups]
    if any(not g for g in parsed):
        fail("a group is empty")
    net.partition(parsed)
    emit(as_json, {"groups": parsed},
         lambda: say("partitioned: ", " | ".join(",".join(g) for g in parsed)))


@app.command("heal")
def heal(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """End a partition: every node talks to every other again. --json: {"healed": true}."""
    net = Devnet.load(_dir(directory))
    net.heal()
    emit(as_json, {"healed": True}, lambda: say("healed: every node may talk to every other"))


def _ms(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    t = text.strip().lower()
    try:
        v = float(t[:-2]) if t.endswith("ms") else float(t[:-1]) * 1000 if t.endswith("s") \
            else float(t)
    except ValueError:
        fail(f"{option} must be a duration like 80ms or 0.5s, got {show(text)}")
    if not 0 <= v <= 60_000 or v != v:
        fail(f"{option} must be from 0 to 60s")
    return v


def _fraction(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        fail(f"--loss must be a fraction like 0.01 or a percentage like 1%, got {show(text)}")
    if not 0 <= v <= 1:
        fail("--loss must be from 0 to 1 (0% to 100%)")
    return v


@app.command("netem")
def netem(
    node: Annotated[str, typer.Argument(help="Node name.")],
    delay: Annotated[str | None, typer.Option("--delay", help="Added to every message the "
                                              "node publishes, e.g. 80ms.")] = None,
    jitter: Annotated[str | None, typer.Option("--jitter", help="Uniform +/- around "
                                               "--delay, e.g. 20ms.")] = None,
    loss: Annotated[str | None, typer.Option("--loss", help="Share of the node's own "
                                             "gossip lost, e.g. 1% or 0.01.")] = None,
    rate: Annotated[str | None, typer.Option(
        "--rate", help="Bandwidth limit each way, in tc units (e.g. 1mbit, 500kbit; "
        "'none' removes it): a tc tbf qdisc on the node's real links (--netns devnets "
        "only).")] = None,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Shape a node's traffic: delay, jitter and loss of what it publishes, applied by the
    node itself (this kernel has no sch_netem; messages GossipSub relays for others are
    not delayed), and with --netns a real bandwidth limit (--rate, tc tbf both ways).
    Without options: show the node's current shaping.

    --json: {"node", "blocked_peers", "delay_ms", "jitter_ms", "loss", "rate",
    "delay_by": "node" | "kernel" (sch_netem, --netns), "shaped_drops"?}.
    """
    net = Devnet.load(_dir(directory))
    rec = net.node(node)
    if rate is not None:
        if not net.netns:
            fail("--rate needs a devnet made with 'up --netns' (on 127.0.0.1 there is no link "
                 "of a node's own to limit)")
        from daoli.devnet.netns import parse_rate

        new_rate = None if rate.strip().lower() in ("none", "0", "off") else rate.strip()
        if new_rate is not None:
            parse_rate(new_rate)  # one-line error for a bad rate before anything changes
        net.set_rate(rec, new_rate)
    view = net.netem(rec, _ms(delay, "--delay"), _ms(jitter, "--jitter"), _fraction(loss))
    by = "kernel" if net.kernel_netem() else "node"
    out = {"node": node, **view, "delay_ms": rec.delay_ms, "jitter_ms": rec.jitter_ms,
           "loss": rec.loss, "rate": rec.rate, "delay_by": by}
    fallback = net.netns and by == "node" and (delay is not None or jitter is not None
                                                or loss is not None)
    emit(as_json, out, lambda: say(
        f"{node}: delay {rec.delay_ms:g} ms +/- {rec.jitter_ms:g} ms, loss {rec.loss:.2%}"
        + (f", bandwidth {rec.rate}" if rec.rate else "")
        + ("" if net.alive(rec) else " (applied at its next start)")
        + ("; delay and loss are applied by the node itself (this kernel has no sch_netem)"
           if fallback else "")))


@app.command("env")
def env(
    node: Annotated[str | None, typer.Argument(help="Node name.",
                                               show_default="the first node")] = None,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Shell lines that point every other daoli command at a devnet node and its wallets:
    eval "$(daoli devnet env)". --json: {"DAOLI_NODE", "DAOLI_HOME", "DAOLI_PASSWORD_FILE"}.
    """
    net = Devnet.load(_dir(directory))
    rec = net.node(node) if node is not None else net.nodes[0]
    values = {"DAOLI_NODE": rec.api, "DAOLI_HOME": rec.home,
              "DAOLI_PASSWORD_FILE": str(net.dir / PASSWORD_FILE)}
    if _json(as_json):
        emit(True, values)
        return
    for k, v in values.items():
        stdout.print(f"export {k}={shlex.quote(v)}", markup=False, highlight=False)


@app.command("faucet")
def faucet(
    address: Annotated[str, typer.Argument(metavar="ADDR", help="A dlc1... address or a "
                                           "devnet wallet name.")],
    amount: Annotated[str, typer.Argument(help="Amount: li, or with a DLC suffix.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Return once final.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=3600.0,
                                           help="Seconds --wait waits.")] = 60.0,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pay ADDR from the devnet's faucet account. --json: {"tx_id", "to", "amount",
    "status", "height"}."""
    from daoli.core.address import decode_address
    from daoli.core.units import parse_amount
    from daoli.devnet.runner import wallet_address
    from daoli.wallet.keystore import WalletStore

    net = Devnet.load(_dir(directory))
    try:
        li = parse_amount(amount)
    except DaoliError as exc:
        fail(f"AMOUNT: {exc}")
    if li <= 0:
        fail("AMOUNT must be positive")
    to = address
    if not address.startswith("dlc1"):
        try:
            to = wallet_address(net, address)
        except DaoliError:
            fail(f"ADDR {show(address)} is neither a dlc1 address nor a devnet wallet")
    try:
        decode_address(to)
    except DaoliError as exc:
        fail(f"ADDR: {exc}")
    live = net.running()
    if not live:
        fail("no node of this devnet is running ('daoli devnet up')", 3)
    rec = live[0]
    password = read_text(net.dir / PASSWORD_FILE, "password file",
                         max_bytes=MAX_SECRET_FILE).splitlines()[0]
    secret = WalletStore(Path(rec.home) / "wallets").unlock(FAUCET_WALLET, password)
    client = _client(net, rec, timeout=10.0)
    tx = client.transfer(secret, to, li, net.manifest.params.min_fee)
    result = client.submit(tx)
    if not result.ok:
        fail(f"the node refused the payment: {result.reason}", EXIT_FAILED)
    height = None
    status_ = "accepted"
    if wait:
        st = client.wait_for_tx(tx.id, timeout=timeout)  # NodeTimeout: exit 4
        height = st.height
        status_ = st.status
    emit(as_json, {"tx_id": tx.id.hex(), "to": to, "amount": li, "status": status_,
                   "height": height},
         lambda: say("faucet paid ", show(amount), " to ", show(to), f" (tx {tx.id.hex()}"
                     + (f", final at height {height})" if height is not None else ")")))



def _height_of(net: Devnet, rec: NodeRecord) -> int | None:
    with contextlib.suppress(DaoliError, OSError):
        return int(_client(net, rec, 2.0).status().height)
    return None


@app.command("add-node")
def add_node(
    name: Annotated[str | None, typer.Option("--name", help="The new node's name.",
                                             show_default="the next free nN")] = None,
    trustee: Annotated[bool, typer.Option(
        "--trustee", help="Bond the node's signer key (the faucet pays min_bond) so it "
        "votes from the next epoch boundary: open membership on a live network.")] = False,
    miners: Annotated[int, typer.Option("--miners", min=0, max=64,
                                        help="Local miners of the new node.")] = 0,
    wait_votes: Annotated[bool, typer.Option(
        "--wait-votes", help="With --trustee: return once a block's commit certificate "
        "(the last_commit of the block after it) holds the new trustee's signature.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, max=3600.0,
                                           help="Seconds to wait for sync, bond and "
                                           "votes.")] = 180.0,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a node to a running devnet: fresh keys, the shared genesis, every other node as
    bootstrap peer. It syncs the chain from its peers; with --trustee the faucet funds its
    signer key, which then sends TrusteeJoin, and the node votes once the chain makes it
    an active trustee (the next epoch boundary).

    --json: {"name", "pid", "api", "peer_id", "p2p", "home", "height", "synced_s",
    "trustee": null | {"tx_id", "trustee", "pubkey", "bond", "multiaddr", "height",
    "epoch_blocks", "voted_height"}}.
    """
    if wait_votes and not trustee:
        fail("--wait-votes goes with --trustee")
    net = Devnet.load(_dir(directory))
    live = net.running()
    if not live:
        fail("no node of this devnet is running ('daoli devnet up')", 3)
    rec = net.add_node(name, trustee=trustee, miners=miners)
    t0 = time.monotonic()
    quiet = _json(as_json)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=live_console(True), transient=True, disable=quiet) as progress:
        task = progress.add_task(f"starting node {rec.name}")
        net.start(rec)
        net.wait_started(rec)
        progress.update(task, description=f"{rec.name} syncing the chain")
        target = max((h for r in live if (h := _height_of(net, r)) is not None), default=0)

        def synced() -> bool:
            h = _height_of(net, rec)
            return h is not None and h >= target

        try:
            wait_until(f"{rec.name} to sync to height {target}", synced, timeout, 0.2)
        except TimeoutError as exc:
            raise DaoliError(str(exc)) from None
        synced_s = time.monotonic() - t0
        bond: dict[str, Any] | None = None
        if trustee:
            progress.update(task, description=f"bonding {rec.name}'s signer key")
            bond = net.bond_trustee(rec, timeout=timeout)
            bond["voted_height"] = None
            if wait_votes:
                progress.update(task, description=f"waiting for {rec.name}'s first vote "
                                "in a commit certificate")
                bond["voted_height"] = _wait_vote(net, rec, bond["height"], timeout)
    out = {"name": rec.name, "pid": rec.pid, "api": rec.api, "peer_id": rec.peer_id,
           "p2p": rec.p2p_addr, "home": rec.home, "height": _height_of(net, rec),
           "synced_s": round(synced_s, 3), "trustee": bond}

    def human() -> None:
        say(("added ", "bold"), f"node {rec.name} (pid {rec.pid}), synced to height "
            f"{out['height']} in {synced_s:.1f} s; api {rec.api}")
        if bond is not None:
            say(f"bonded {bond['bond'] // 10**8} DLC as trustee {bond['trustee']} at height "
                f"{bond['height']}; it votes from the next epoch boundary (every "
                f"{bond['epoch_blocks']} blocks)"
                + (f"; first signature in the certificate of block {bond['voted_height']}"
                   if bond["voted_height"] is not None else ""))

    emit(as_json, out, human)


def _wait_vote(net: Devnet, rec: NodeRecord, since: int, timeout: float) -> int:
    """The first height above ``since`` whose canonical commit certificate (the
    ``last_commit`` of the block after it, the one rewards are paid by; a node's own
    stored certificate may hold another quorum) ``rec`` signed."""
    client = _client(net, rec, 5.0)
    checked = since
    found: list[int] = []
    key = bytes.fromhex(rec.signer_pubkey)

    def signed() -> bool:
        nonlocal checked
        top = client.status().height
        while checked + 1 < top:
            checked += 1
            cert = client.block(checked + 1).block.last_commit
            if cert is not None and key in cert.signers:
                found.append(checked)
                return True
        return False

    try:
        wait_until(f"a commit certificate signed by {rec.name}", signed, timeout, 0.5)
    except TimeoutError as exc:
        raise TimedOut(str(exc)) from None
    return found[0]


@app.command("snapshot")
def snapshot(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The snapshot to write "
                                         "(.tar.gz).")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    directory: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save the whole devnet (keys, wallets, every node's chain store and vote record) to
    FILE, while it runs; 'daoli devnet up --from-snapshot FILE --dir NEW' brings it back,
    as many times as wanted. FILE holds every key of the devnet: it is made mode 0600.

    --json: {"file", "chain_id", "genesis_id", "heights": {node: height}, "bytes"}.
    """
    net = Devnet.load(_dir(directory))
    target = safe_resolve(file, "FILE")
    if target.exists() and not force:
        fail(f"{show(target)} exists; give --force to replace it")
    if target.is_dir():
        fail(f"{show(target)} is a directory")
    result = net.snapshot(target)
    emit(as_json, result, lambda: say(
        "snapshot of ", show(net.manifest.name), " written to ", show(target),
        f" ({result['bytes']:,} bytes; heights "
        + ", ".join(f"{k} {v}" for k, v in result["heights"].items()) + ")"))


@app.command("export")
def export(
    manifest: ManifestArg = None,
    nodes: NodesOpt = None,
    compose: Annotated[Path | None, typer.Option(
        "--compose", metavar="FILE", help="Write a Docker Compose file, with homes/ and "
        "wallets.password next to it.", show_default=False)] = None,
    k8s: Annotated[Path | None, typer.Option(
        "--k8s", metavar="DIR", help="Write Kubernetes manifests (kubectl apply -f DIR).",
        show_default=False)] = None,
    image: Annotated[str, typer.Option(
        "--image", help="The container image, built from the repository's Dockerfile.")
    ] = "daoli:latest",
    namespace: Annotated[str | None, typer.Option(
        "--namespace", help="Kubernetes namespace (with --k8s).",
        show_default="daoli-devnet")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an earlier export at that path (new keys: a new chain).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export a devnet to run in containers: a Docker Compose project (--compose) or
    Kubernetes manifests (--k8s), with fresh keys (files holding them are mode 0600) and one
    genesis whose time is now; starting later just begins the chain at a later cycle.
    docs/deploy.md tells how to build the image and run both.

    --json prints {"kind", "path", "files", "secret_files", "chain_id", "genesis_id",
    "genesis_time_ms", "image", "namespace", "password_file", "nodes": [{"name",
    "workload", "host", "peer_id", "signer_pubkey", "trustee", "miners", "sponsor", "p2p",
    "api"}]}.
    """
    from daoli.devnet.export import DEFAULT_NAMESPACE, export_compose, export_k8s

    if (compose is None) == (k8s is None):
        fail("give --compose FILE or --k8s DIR (one per run: each export is a chain of its "
             "own)")
    if namespace is not None and k8s is None:
        fail("--namespace goes with --k8s")
    if manifest is not None and nodes is not None:
        fail("give a MANIFEST or --nodes, not both")
    spec = load_manifest(manifest) if manifest is not None else default_manifest(nodes or 4)
    if compose is not None:
        report = export_compose(spec, safe_resolve(compose, "--compose"), image=image,
                                force=force)
    else:
        assert k8s is not None
        report = export_k8s(spec, safe_resolve(k8s, "--k8s"), image=image,
                            namespace=namespace or DEFAULT_NAMESPACE, force=force)

    def human() -> None:
        say(("exported ", "bold"), f"devnet {show(spec.name)}: {len(report.nodes)} nodes, "
            f"chain {report.chain_id}, to ", show(report.path))
        say(f"{len(report.secret_files)} files hold keys or the wallets' password (mode "
            "0600); the password is in ", show(report.password_file))
        for n in report.nodes:
            role = "trustee" if n.trustee else "follower"
            where = n.api if n.api else n.host
            say(f"  {show(n.workload)}: node {show(n.name)} ({role}), {show(where)}")
        build = f"docker build -t {shlex.quote(image)} ."
        if report.kind == "compose":
            say("next: ", build, f"; cd {shlex.quote(str(report.path.parent))} && "
                "docker compose up -d")
        else:
            say("next: ", build, " (and push it); kubectl apply -f ",
                shlex.quote(str(report.path)))

    emit(as_json, report.to_dict(), human)


def _examples(fn: Any, *lines: str) -> None:
    fn.__doc__ = (fn.__doc__ or "") + examples(*lines)


_examples(up, "daoli devnet up", "daoli devnet up devnet/wan-7.toml --detach",
          "sudo daoli devnet up --netns --detach",
          "daoli devnet up --from-snapshot s.tar.gz --dir /tmp/copy --detach",
          "daoli devnet up --demo --duration 60",
          "daoli devnet up --nodes 7 --dir /tmp/net7 --detach",
          "daoli --json devnet up --detach | jq .seconds_to_first_block")
_examples(status, "daoli devnet status", "daoli devnet status --watch",
          "daoli --json devnet status | jq '.nodes[] | {name, height}'")
_examples(logs, "daoli devnet logs n0", "daoli devnet logs n2 --follow --lines 0")
_examples(down, "daoli devnet down", "daoli devnet down --keep-data")
_examples(kill, "daoli devnet kill n3", "daoli devnet kill n3 && daoli devnet restart n3")
_examples(restart, "daoli devnet restart n3")
_examples(pause, "daoli devnet pause n1 && sleep 10 && daoli devnet resume n1")
_examples(resume, "daoli devnet resume n1")
_examples(partition, "daoli devnet partition n0,n1 n2,n3", "daoli devnet partition n3")
_examples(heal, "daoli devnet heal")
_examples(netem, "daoli devnet netem n2 --delay 80ms --jitter 20ms --loss 1%",
          "daoli devnet netem n1 --rate 1mbit   # a --netns devnet",
          "daoli devnet netem n2 --delay 0 --jitter 0 --loss 0", "daoli devnet netem n2")
_examples(env, 'eval "$(daoli devnet env)"', 'eval "$(daoli devnet env n2)"',
          "daoli --json devnet env n1")
_examples(faucet, "daoli devnet faucet dlc1... 100DLC", "daoli devnet faucet alice 5DLC",
          "daoli --json devnet faucet bob 1DLC --no-wait")
_examples(add_node, "daoli devnet add-node", "daoli devnet add-node --trustee --wait-votes",
          "daoli --json devnet add-node --name late --miners 2 | jq .height")
_examples(snapshot, "daoli devnet snapshot before-upgrade.tar.gz",
          "daoli devnet snapshot s.tar.gz && daoli devnet up --from-snapshot s.tar.gz --dir "
          "/tmp/copy --detach")
_examples(run_faults, "daoli devnet run-faults --dir .devnet --t0 1790000000.0")
_examples(export, "daoli devnet export --compose deploy/docker-compose.yml",
          "daoli devnet export devnet/wan-7.toml --k8s deploy/k8s --image "
          "registry.example/daoli:0.1",
          "daoli --json devnet export --nodes 7 --compose /tmp/net7/compose.yml | jq .nodes")


__all__ = ["app"]
