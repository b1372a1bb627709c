"""A devnet directory: node homes made from a manifest, node processes started detached,
their PIDs recorded, and everything stopped again by those PIDs.

Layout of ``<dir>``::

    devnet.json        the record: manifest name, chain, nodes (ports, peer ids, PIDs)
    manifest.toml      the manifest the devnet was made from (``up`` on a kept dir reuses it)
    genesis.toml       the shared genesis
    wallets.password   the password of every devnet wallet (mode 0600)
    <node>/            one node home per node (config.toml, keys, data/, wallets/, logs)

Processes are started with ``start_new_session`` so they outlive the command (``--detach``)
and a Ctrl-C in the terminal reaches only the dashboard, which then stops them in order. A
PID is trusted only while ``/proc/<pid>/cmdline`` still names ``node start`` and the node's
home, so a recycled PID is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.peerid import peer_id_of_secret
from daoli.devnet.keys import make_genesis, make_keys
from daoli.devnet.manifest import (
    SIGNER_WALLET,
    FaultSpec,
    Manifest,
    load_manifest,
)
from daoli.errors import ConfigError
from daoli.files import MAX_CONFIG_FILE, quote, read_text, show
from daoli.node.config import NodeConfig, dump_config_toml, dump_genesis_toml
from daoli.node.home import write_file
from daoli.wallet.keystore import WalletStore

STATE_FILE = "devnet.json"
MANIFEST_FILE = "manifest.toml"
GENESIS_FILE = "genesis.toml"
PASSWORD_FILE = "wallets.password"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


@dataclass
class NodeRecord:
    name: str
    home: str
    p2p_port: int
    api_port: int
    peer_id: str
    signer_pubkey: str
    trustee: bool
    pid: int | None = None
    blocked: list[str] | None = None
    """Names of the nodes this one refuses (a partition), re-applied when it restarts."""
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def p2p_addr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.p2p_port}/p2p/{self.peer_id}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Devnet:
    """One devnet directory and the processes it recorded."""

    def __init__(self, directory: Path, manifest: Manifest, chain_id: str, genesis_id: str,
                 nodes: list[NodeRecord]) -> None:
        self.dir = directory
        self.manifest = manifest
        self.chain_id = chain_id
        self.genesis_id = genesis_id
        self.nodes = nodes
        self.miner_pids: dict[str, int] = {}
        """``wallet@sponsor`` -> PID of a running light miner (``[[light_miners]]``)."""

    # --- making and loading ------------------------------------------------------------

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (directory / STATE_FILE).is_file()

    @classmethod
    def create(cls, directory: Path, manifest: Manifest, manifest_text: str) -> Devnet:
        """Homes, keys, wallets and the shared genesis for ``manifest`` in ``directory``
        (which must not exist or be empty)."""
        if directory.exists():
            if not directory.is_dir():
                raise ConfigError(f"{quote(directory)} is not a directory")
            if any(directory.iterdir()):
                raise ConfigError(f"{quote(directory)} is not empty and holds no devnet; "
                                  "choose another --dir")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            return cls._create(directory, manifest, manifest_text)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    @classmethod
    def _create(cls, directory: Path, manifest: Manifest, manifest_text: str) -> Devnet:
        (directory / MANIFEST_FILE).write_text(manifest_text)
        password = secrets.token_hex(16)
        write_file(directory / PASSWORD_FILE, (password + "\n").encode(), secret=True)
        n = len(manifest.nodes)
        if manifest.base_port:
            ports = [(manifest.base_port + 2 * i, manifest.base_port + 2 * i + 1)
                     for i in range(n)]
        else:
            ports = [(free_port(), free_port()) for _ in range(n)]
        keys = make_keys(manifest)
        node_keys, signer_keys, wallet_keys = keys.node_keys, keys.signer_keys, keys.wallet_keys
        records = []
        for i, spec in enumerate(manifest.nodes):
            home = directory / spec.name
            records.append(NodeRecord(
                spec.name, str(home), ports[i][0], ports[i][1], peer_id_of_secret(node_keys[i]),
                pubkey_from_secret(signer_keys[i]).hex(), spec.trustee,
                delay_ms=spec.latency_ms, jitter_ms=spec.jitter_ms, loss=spec.loss))
        genesis = make_genesis(manifest, keys, [r.p2p_addr for r in records],
                               int(time.time()) * 1000)
        genesis_text = dump_genesis_toml(genesis)
        (directory / GENESIS_FILE).write_text(genesis_text)
        for i, (spec, rec) in enumerate(zip(manifest.nodes, records, strict=True)):
            home = Path(rec.home)
            home.mkdir(mode=0o700)
            (home / "genesis.toml").write_text(genesis_text)
            cfg = NodeConfig(
                p2p_listen=f"/ip4/127.0.0.1/tcp/{rec.p2p_port}",
                api_listen=f"127.0.0.1:{rec.api_port}",
                bootstrap_peers=tuple(r.p2p_addr for r in records if r is not rec),
                trustee=spec.trustee, mine=spec.miners, sponsor=spec.sponsor)
            (home / "config.toml").write_text(dump_config_toml(cfg))
            write_file(home / "node_key", (node_keys[i].hex() + "\n").encode(), secret=True)
            write_file(home / "signer_key", (signer_keys[i].hex() + "\n").encode(),
                       secret=True)
            store = WalletStore(home / "wallets")
            for name, key in wallet_keys.items():
                store.import_secret(name, key, password, light_kdf=True)
            store.import_secret(SIGNER_WALLET, signer_keys[i], password, light_kdf=True)
        net = cls(directory, manifest, genesis.chain_id, genesis.id.hex(), records)
        net.save()
        return net

    @classmethod
    def load(cls, directory: Path) -> Devnet:
        state_file = directory / STATE_FILE
        if not state_file.is_file():
            raise ConfigError(f"no devnet in {quote(directory)} (no {STATE_FILE}); start one "
                              f"with: daoli devnet up --dir {show(directory)}")
        try:
            doc = json.loads(read_text(state_file, "devnet record", max_bytes=MAX_CONFIG_FILE))
            nodes = [NodeRecord(**n) for n in doc["nodes"]]
            chain_id, genesis_id = str(doc["chain_id"]), str(doc["genesis_id"])
            miners = {str(k): int(v) for k, v in doc.get("light_miners", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{quote(state_file)} is damaged: {exc}") from None
        manifest = load_manifest(directory / MANIFEST_FILE)
        net = cls(directory, manifest, chain_id, genesis_id, nodes)
        net.miner_pids = miners
        return net

    def save(self) -> None:
        doc = {"name": self.manifest.name, "chain_id": self.chain_id,
               "genesis_id": self.genesis_id, "nodes": [asdict(n) for n in self.nodes],
               "light_miners": self.miner_pids}
        write_file(self.dir / STATE_FILE, (json.dumps(doc, indent=2) + "\n").encode())

    # --- the nodes -------------------------------------------------------------------------

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node {show(name)} in this devnet (nodes: "
                          f"{', '.join(n.name for n in self.nodes)})")

    def alive(self, rec: NodeRecord) -> bool:
        """Whether the recorded PID is still this node's process (not a recycled PID)."""
        cmd = _live_cmdline(rec.pid)
        return cmd is not None and b"start" in cmd and rec.home.encode() in cmd

    def running(self) -> list[NodeRecord]:
        return [n for n in self.nodes if self.alive(n)]

    def token(self, rec: NodeRecord) -> str | None:
        with contextlib.suppress(OSError):
            return (Path(rec.home) / "api_token").read_text().split()[0]
        return None

    def start(self, rec: NodeRecord) -> int:
        """Start ``rec``'s node detached; its PID (recorded)."""
        if self.alive(rec):
            raise ConfigError(f"node {rec.name} is already running (pid {rec.pid})")
        home = Path(rec.home)
        out = open(home / "node.out", "wb")  # noqa: SIM115 - handed to the child
        err = open(home / "stderr.log", "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "daoli.cli.app", "node", "start", "--home", rec.home,
                 "--json"], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, close_fds=True)
        finally:
            out.close()
            err.close()
        rec.pid = proc.pid
        self.save()
        return proc.pid

    def wait_started(self, rec: NodeRecord, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """The node's start-up line, once it has printed it."""
        deadline = time.monotonic() + timeout
        out = Path(rec.home) / "node.out"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = out.read_text()
                if text.endswith("\n"):
                    return dict(json.loads(text.splitlines()[0]))
            if not self.alive(rec):
                tail = ""
                with contextlib.suppress(OSError):
                    tail = (Path(rec.home) / "stderr.log").read_text(errors="replace")
                    tail = " ".join(tail.strip().splitlines()[-1:])
                raise ConfigError(f"node {rec.name} exited during start-up"
                                  + (f": {tail}" if tail else ""))
            time.sleep(0.05)
        raise TimeoutError(f"node {rec.name} did not start within {timeout:.0f} s")

    def signal(self, rec: NodeRecord, sig: signal.Signals) -> bool:
        if not self.alive(rec):
            return False
        assert rec.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)
        return True

    def stop(self, rec: NodeRecord, *, kill: bool = False,
             timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM (or SIGKILL) the node and wait for it; whether it was running."""
        if not self.alive(rec):
            rec.pid = None
            self.save()
            return False
        assert rec.pid is not None
        if not kill:
            self.signal(rec, signal.SIGCONT)  # a paused node cannot handle SIGTERM
        self.signal(rec, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive(rec) and time.monotonic() < deadline:
            _reap(rec.pid)
            time.sleep(0.05)
        if self.alive(rec):
            self.signal(rec, signal.SIGKILL)
            deadline = time.monotonic() + timeout
            while self.alive(rec) and time.monotonic() < deadline:
                _reap(rec.pid)
                time.sleep(0.05)
        _reap(rec.pid)
        rec.pid = None
        self.save()
        return True

    def stop_all(self, *, kill: bool = False) -> int:
        self.stop_light_miners()
        return sum(self.stop(n, kill=kill) for n in self.nodes)

    # --- light miners (``daoli mine`` processes for a sponsor node) -----------------------

    def _miner_alive(self, key: str, pid: int) -> bool:
        wallet, sponsor = key.split("@", 1)
        cmd = _live_cmdline(pid)
        return (cmd is not None and b"mine" in cmd and wallet.encode() in cmd
                and str(self.dir / sponsor).encode() in cmd)

    def start_light_miners(self) -> int:
        """Start every ``[[light_miners]]`` entry that is not running; how many started."""
        started = 0
        for lm in self.manifest.light_miners:
            key = f"{lm.wallet}@{lm.sponsor}"
            pid = self.miner_pids.get(key)
            if pid is not None and self._miner_alive(key, pid):
                continue
            rec = self.node(lm.sponsor)
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")},
                   "DAOLI_PASSWORD_FILE": str(self.dir / PASSWORD_FILE),
                   "DAOLI_API_TOKEN": self.token(rec) or ""}
            log = open(Path(rec.home) / f"light-miner-{lm.wallet}.log", "ab")  # noqa: SIM115
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "daoli.cli.app", "mine", "--sponsor", rec.api,
                     "--wallet", lm.wallet, "--home", rec.home], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, env=env, start_new_session=True, close_fds=True)
            finally:
                log.close()
            self.miner_pids[key] = proc.pid
            started += 1
        self.save()
        return started

    def stop_light_miners(self) -> int:
        stopped = 0
        for key, pid in list(self.miner_pids.items()):
            if self._miner_alive(key, pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)  # Ctrl-C: the miner prints its summary
                deadline = time.monotonic() + STOP_TIMEOUT_S
                while self._miner_alive(key, pid) and time.monotonic() < deadline:
                    _reap(pid)
                    time.sleep(0.05)
                if self._miner_alive(key, pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                _reap(pid)
                stopped += 1
            del self.miner_pids[key]
        self.save()
        return stopped

    def remove(self) -> None:
        """Delete the devnet directory (its nodes must be stopped)."""
        if self.running():
            raise ConfigError("nodes are still running; stop them first")
        shutil.rmtree(self.dir)


    # --- network faults (applied by the nodes themselves: POST /v1/admin/net) -------------

    @staticmethod
    def shaped(rec: NodeRecord) -> bool:
        return bool(rec.blocked or rec.delay_ms or rec.jitter_ms or rec.loss)

    def shaping_of(self, rec: NodeRecord) -> dict[str, Any]:
        blocked = [self.node(n).peer_id for n in (rec.blocked or [])]
        return {"blocked_peers": blocked, "delay_ms": rec.delay_ms,
                "jitter_ms": rec.jitter_ms, "loss": rec.loss}

    def apply_shaping(self, rec: NodeRecord, timeout: float = 10.0) -> dict[str, Any]:
        """Send ``rec``'s recorded faults to its running node; what the node now applies."""
        import httpx

        token = self.token(rec)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                r = httpx.post(f"{rec.api}/v1/admin/net", json=self.shaping_of(rec),
                               headers={"Authorization": f"Bearer {token}"}, timeout=5)
                if r.status_code == 200:
                    return dict(r.json())
                raise ConfigError(f"node {rec.name} refused the network faults: "
                                  f"{r.json().get('error', r.status_code)}")
            except (httpx.HTTPError, ValueError) as exc:  # still starting up
                last = exc
                time.sleep(0.2)
        raise ConfigError(f"node {rec.name} did not take its network faults: {last}")

    def partition(self, groups: list[list[str]]) -> None:
        """Every node refuses the nodes outside its group (nodes named in no group form one
        more group together)."""
        names = [n.name for n in self.nodes]
        seen = [n for g in groups for n in g]
        for n in seen:
            self.node(n)
        if len(set(seen)) != len(seen):
            raise ConfigError("a node is in two groups")
        rest = [n for n in names if n not in seen]
        all_groups = [list(g) for g in groups] + ([rest] if rest else [])
        if len(all_groups) < 2:
            raise ConfigError("a partition needs at least two groups")
        for g in all_groups:
            for n in g:
                self.node(n).blocked = [m for m in names if m not in g]
        self.save()
        self._push()

    def heal(self) -> None:
        for rec in self.nodes:
            rec.blocked = None
        self.save()
        self._push()

    def netem(self, rec: NodeRecord, delay_ms: float | None, jitter_ms: float | None,
              loss: float | None) -> dict[str, Any]:
        if delay_ms is not None:
            rec.delay_ms = delay_ms
        if jitter_ms is not None:
            rec.jitter_ms = jitter_ms
        if loss is not None:
            rec.loss = loss
        self.save()
        return self.apply_shaping(rec) if self.alive(rec) else self.shaping_of(rec)

    def _push(self) -> None:
        for rec in self.nodes:
            if self.alive(rec):
                self.apply_shaping(rec)


def apply_fault(net: Devnet, fault: FaultSpec) -> str:
    """Carry out one scheduled fault of the manifest; a one-line account of it."""
    if fault.action == "partition":
        net.partition([list(g) for g in fault.groups])
        return "partition " + " | ".join(",".join(g) for g in fault.groups)
    if fault.action == "heal":
        net.heal()
        return "heal"
    done = []
    for name in fault.nodes:
        rec = net.node(name)
        if fault.action == "kill":
            net.stop(rec, kill=True)
        elif fault.action == "restart":
            net.stop(rec)
            net.start(rec)
            net.wait_started(rec)
            if net.shaped(rec):
                net.apply_shaping(rec)
        elif fault.action == "pause":
            net.signal(rec, signal.SIGSTOP)
        else:
            net.signal(rec, signal.SIGCONT)
        done.append(name)
    return f"{fault.action} {','.join(done)}"


def _live_cmdline(pid: int | None) -> list[bytes] | None:
    """The arguments of a running process (None if there is none, or only a zombie left):
    what a devnet checks before it signals a recorded PID, which may have been recycled."""
    if pid is None:
        return None
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else cmd


def _reap(pid: int | None) -> None:
    """Collect our own child if it exited (a devnet command that started it and waits)."""
    if pid is None:
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(what: str, cond: Callable[[], bool], timeout: float,
               every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def wallet_address(net: Devnet, name: str) -> str:
    store = WalletStore(Path(net.nodes[0].home) / "wallets")
    return str(store.info(name).address)


__all__ = ["Devnet", "NodeRecord", "address_of", "apply_fault", "wait_until",
           "wallet_address"]
