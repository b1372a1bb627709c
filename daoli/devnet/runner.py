"""A devnet directory: node homes made from a manifest, node processes started detached,
their PIDs recorded, and everything stopped again by those PIDs.

Layout of ``<dir>``::

    devnet.json        the record: manifest name, chain, nodes (ports, peer ids, PIDs)
    devnet.lock        flock'd while a command reads-merges-writes devnet.json
    faults.log         JSON lines: the fault schedule's progress (``up --detach``)
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
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.peerid import peer_id_of_secret
from daoli.devnet.keys import make_genesis, make_keys
from daoli.devnet.manifest import (
    FAUCET_WALLET,
    MAX_NODES,
    NAME_RE,
    SIGNER_WALLET,
    FaultSpec,
    Manifest,
    load_manifest,
)
from daoli.errors import ConfigError, DaoliError
from daoli.files import MAX_CONFIG_FILE, MAX_SECRET_FILE, quote, read_text, show
from daoli.node.config import (
    NodeConfig,
    dump_config_toml,
    dump_genesis_toml,
    load_config_file,
)
from daoli.node.home import new_secret, write_file
from daoli.wallet.keystore import WalletStore

STATE_FILE = "devnet.json"
LOCK_FILE = "devnet.lock"
FAULTS_LOG = "faults.log"
MANIFEST_FILE = "manifest.toml"
GENESIS_FILE = "genesis.toml"
PASSWORD_FILE = "wallets.password"
SNAPSHOT_FORMAT = "daoli-devnet-snapshot"
SNAPSHOT_HEADER = "snapshot.json"
_SNAPSHOT_FILES = frozenset({"config.toml", "genesis.toml", "node_key", "signer_key",
                             "sign_state"})
"""What of a node home a snapshot keeps besides ``data/`` and ``wallets/`` (not logs, not
the API token, which the node makes anew)."""
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
    added: bool = False
    """Added to a running devnet by ``devnet add-node`` (not in the manifest)."""
    host: str = "127.0.0.1"
    """Where the node listens: 127.0.0.1, or its namespace's address (``--netns``)."""
    rate: str | None = None
    """A bandwidth limit (``--netns`` only: tc tbf), re-applied when the network is made."""

    @property
    def api(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def p2p_listen(self) -> str:
        return f"/ip4/{self.host}/tcp/{self.p2p_port}"

    @property
    def p2p_addr(self) -> str:
        return f"{self.p2p_listen}/p2p/{self.peer_id}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Devnet:
    """One devnet directory and the processes it recorded."""

    def __init__(self, directory: Path, manifest: Manifest, chain_id: str, genesis_id: str,
                 nodes: list[NodeRecord], netns: bool = False) -> None:
        self.dir = directory
        self.netns = netns
        """Each node in its own network namespace (``up --netns``): kernel partitions and
        bandwidth limits (daoli.devnet.netns)."""
        self._network: Any = None
        self._kernel_netem: bool | None = None
        self.manifest = manifest
        self.chain_id = chain_id
        self.genesis_id = genesis_id
        self.nodes = nodes
        self.miner_pids: dict[str, int] = {}
        """``wallet@sponsor`` -> PID of a running light miner (``[[light_miners]]``)."""
        self.scheduler_pid: int | None = None
        """PID of the detached process running the manifest's fault schedule."""
        self._seen: dict[str, Any] = self._doc()
        """devnet.json as this process last read or wrote it: what differs from it in
        memory is this process's change, the rest is taken from the file (``save``)."""

    # --- making and loading ------------------------------------------------------------

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (directory / STATE_FILE).is_file()

    @classmethod
    def create(cls, directory: Path, manifest: Manifest, manifest_text: str, *,
               netns: bool = False) -> Devnet:
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
            return cls._create(directory, manifest, manifest_text, netns)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    @classmethod
    def _create(cls, directory: Path, manifest: Manifest, manifest_text: str,
                netns: bool) -> Devnet:
        (directory / MANIFEST_FILE).write_text(manifest_text)
        password = secrets.token_hex(16)
        write_file(directory / PASSWORD_FILE, (password + "\n").encode(), secret=True)
        n = len(manifest.nodes)
        hosts = ["127.0.0.1"] * n
        if netns:  # every node has its own ports: the usual ones, on its own address
            from daoli.devnet.netns import NetnsDevnet

            hosts = NetnsDevnet(directory).planned(n).addresses
            ports = [_netns_ports(manifest)] * n
        elif manifest.base_port:
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
                delay_ms=spec.latency_ms, jitter_ms=spec.jitter_ms, loss=spec.loss,
                host=hosts[i]))
        genesis = make_genesis(manifest, keys, [r.p2p_addr for r in records],
                               int(time.time()) * 1000)
        genesis_text = dump_genesis_toml(genesis)
        (directory / GENESIS_FILE).write_text(genesis_text)
        for i, (spec, rec) in enumerate(zip(manifest.nodes, records, strict=True)):
            home = Path(rec.home)
            home.mkdir(mode=0o700)
            (home / "genesis.toml").write_text(genesis_text)
            cfg = NodeConfig(
                p2p_listen=rec.p2p_listen, api_listen=f"{rec.host}:{rec.api_port}",
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
        net = cls(directory, manifest, genesis.chain_id, genesis.id.hex(), records, netns)
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
            scheduler = doc.get("scheduler_pid")
            scheduler = None if scheduler is None else int(scheduler)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{quote(state_file)} is damaged: {exc}") from None
        manifest = load_manifest(directory / MANIFEST_FILE)
        net = cls(directory, manifest, chain_id, genesis_id, nodes, bool(doc.get("netns")))
        net.miner_pids = miners
        net.scheduler_pid = scheduler
        net._seen = net._doc()
        return net

    def _doc(self) -> dict[str, Any]:
        return {"name": self.manifest.name, "chain_id": self.chain_id,
                "genesis_id": self.genesis_id, "nodes": [asdict(n) for n in self.nodes],
                "light_miners": dict(self.miner_pids), "scheduler_pid": self.scheduler_pid,
                "netns": self.netns}

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Several commands may act on one devnet at once (a dashboard or the detached
        fault scheduler and the user's ``devnet kill``): each read-merge-write of
        devnet.json holds this lock so no command's change is lost."""
        try:
            fd = os.open(self.dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot lock {quote(self.dir / LOCK_FILE)}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _merge(self) -> None:
        """Take from devnet.json what another process changed since we read it, keep
        what we changed ourselves (per node, per light miner, the scheduler)."""
        try:
            disk = json.loads((self.dir / STATE_FILE).read_text())
            disk_nodes = {n["name"]: n for n in disk["nodes"]}
        except (OSError, ValueError, KeyError, TypeError):
            return
        seen_nodes = {n["name"]: n for n in self._seen.get("nodes", [])}
        for rec in self.nodes:
            other = disk_nodes.get(rec.name)
            if other is not None and asdict(rec) == seen_nodes.get(rec.name):
                with contextlib.suppress(TypeError):
                    fresh = NodeRecord(**other)
                    for key, value in asdict(fresh).items():
                        setattr(rec, key, value)
        mine = {n.name for n in self.nodes}
        for name, other in disk_nodes.items():
            if name not in mine:
                with contextlib.suppress(TypeError):
                    self.nodes.append(NodeRecord(**other))
        seen_miners = self._seen.get("light_miners", {})
        disk_miners = {str(k): int(v) for k, v in disk.get("light_miners", {}).items()}
        for key in set(seen_miners) | set(disk_miners) | set(self.miner_pids):
            if self.miner_pids.get(key) == seen_miners.get(key):  # unchanged here
                if key in disk_miners:
                    self.miner_pids[key] = disk_miners[key]
                else:
                    self.miner_pids.pop(key, None)
        if self.scheduler_pid == self._seen.get("scheduler_pid"):
            self.scheduler_pid = disk.get("scheduler_pid")

    def refresh(self) -> None:
        """Catch up with changes other commands made to devnet.json."""
        with self._lock():
            self._merge()
            self._seen = self._doc()

    def save(self) -> None:
        with self._lock():
            self._merge()
            doc = self._doc()
            write_file(self.dir / STATE_FILE, (json.dumps(doc, indent=2) + "\n").encode())
            self._seen = doc

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
            argv = [sys.executable, "-m", "daoli.cli.app", "node", "start", "--home", rec.home,
                    "--json"]
            if self.netns:
                argv = self.network().wrap(self.nodes.index(rec), argv)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
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
            # the PID we just started, not yet recyclable: only whether it still runs (its
            # cmdline may be blank for an instant while ``ip netns exec`` execs the node)
            _reap(rec.pid)
            if _live_cmdline(rec.pid) is None:
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
        """Stop the fault scheduler first (so it restarts nothing behind us), then light
        miners and nodes, by the PIDs recorded (re-read: the scheduler may have restarted
        some)."""
        self.stop_scheduler()
        self.refresh()
        self.stop_light_miners()
        return sum(self.stop(n, kill=kill) for n in self.nodes)

    # --- the fault schedule of a detached devnet ------------------------------------------

    def scheduler_alive(self) -> bool:
        cmd = _live_cmdline(self.scheduler_pid)
        return cmd is not None and b"run-faults" in cmd and str(self.dir).encode() in cmd

    def start_scheduler(self) -> int | None:
        """Run the manifest's fault schedule in a detached process (``at`` counts from
        now); its PID, or None when the manifest schedules no fault."""
        if not self.manifest.faults:
            return None
        self.stop_scheduler()
        with contextlib.suppress(OSError):
            (self.dir / FAULTS_LOG).unlink()
        log = open(self.dir / "faults.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "daoli.cli.app", "devnet", "run-faults", "--dir",
                 str(self.dir), "--t0", repr(time.time())], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True, close_fds=True)
        finally:
            log.close()
        self.scheduler_pid = proc.pid
        self.save()
        return proc.pid

    def stop_scheduler(self) -> bool:
        """SIGTERM the scheduler; it finishes the fault at hand (a restart records its
        PID) and exits."""
        if not self.scheduler_alive():
            if self.scheduler_pid is not None:
                self.scheduler_pid = None
                self.save()
            return False
        assert self.scheduler_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.scheduler_pid, signal.SIGTERM)
        deadline = time.monotonic() + START_TIMEOUT_S + STOP_TIMEOUT_S
        while self.scheduler_alive() and time.monotonic() < deadline:
            _reap(self.scheduler_pid)
            time.sleep(0.05)
        if self.scheduler_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.scheduler_pid, signal.SIGKILL)
        _reap(self.scheduler_pid)
        self.scheduler_pid = None
        self.save()
        return True

    def faults_done(self) -> list[dict[str, Any]]:
        """What the detached schedule has done so far (faults.log)."""
        out = []
        with contextlib.suppress(OSError):
            for line in (self.dir / FAULTS_LOG).read_text().splitlines():
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if isinstance(item, dict):
                        out.append(item)
        return out

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

    # --- open membership: nodes added to a live devnet ------------------------------------

    def _ports(self, index: int) -> tuple[int, int]:
        if self.netns:
            return _netns_ports(self.manifest)
        if self.manifest.base_port:
            return self.manifest.base_port + 2 * index, self.manifest.base_port + 2 * index + 1
        return free_port(), free_port()

    def add_node(self, name: str | None = None, *, trustee: bool = False, miners: int = 0,
                 sponsor: bool = True) -> NodeRecord:
        """A new node home that joins this chain: fresh keys, the shared genesis, every
        other node as bootstrap peer, the devnet's wallets (and its own ``signer``).
        ``trustee`` makes it vote once its signer key is bonded (``bond_trustee``); it is
        not a genesis trustee, so until then it only follows the chain."""
        self.refresh()
        taken = {n.name for n in self.nodes}
        if len(self.nodes) >= MAX_NODES:
            raise ConfigError(f"a devnet has at most {MAX_NODES} nodes")
        if name is None:
            i = len(self.nodes)
            while f"n{i}" in taken:
                i += 1
            name = f"n{i}"
        if not NAME_RE.match(name):
            raise ConfigError("the node name must be 1-32 of a-z, 0-9 and '-', starting with "
                              "a letter")
        if name in taken or name in (PASSWORD_FILE, MANIFEST_FILE, GENESIS_FILE):
            raise ConfigError(f"there is already a node {name} in this devnet")
        home = self.dir / name
        if home.exists():
            raise ConfigError(f"{quote(home)} already exists")
        p2p_port, api_port = self._ports(len(self.nodes))
        node_key, signer_key = new_secret(), new_secret()
        host = self.network().add() if self.netns else "127.0.0.1"
        rec = NodeRecord(name, str(home), p2p_port, api_port, peer_id_of_secret(node_key),
                         pubkey_from_secret(signer_key).hex(), trustee, added=True, host=host)
        password = self.password()
        source = WalletStore(Path(self.nodes[0].home) / "wallets")
        try:
            home.mkdir(mode=0o700)
            shutil.copyfile(self.dir / GENESIS_FILE, home / "genesis.toml")
            cfg = NodeConfig(
                p2p_listen=rec.p2p_listen, api_listen=f"{host}:{api_port}",
                bootstrap_peers=tuple(r.p2p_addr for r in self.nodes), trustee=trustee,
                mine=miners, sponsor=sponsor)
            (home / "config.toml").write_text(dump_config_toml(cfg))
            write_file(home / "node_key", (node_key.hex() + "\n").encode(), secret=True)
            write_file(home / "signer_key", (signer_key.hex() + "\n").encode(), secret=True)
            store = WalletStore(home / "wallets")
            for wallet in source.names():
                if wallet != SIGNER_WALLET:
                    store.import_secret(wallet, source.unlock(wallet, password), password,
                                        light_kdf=True)
            store.import_secret(SIGNER_WALLET, signer_key, password, light_kdf=True)
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        self.nodes.append(rec)
        self.save()
        return rec

    def password(self) -> str:
        return read_text(self.dir / PASSWORD_FILE, "password file",
                         max_bytes=MAX_SECRET_FILE).splitlines()[0]

    def bond_trustee(self, rec: NodeRecord, timeout: float = 120.0) -> dict[str, Any]:
        """Make ``rec``'s signer key a trustee: the faucet pays it the bond and fees, then
        it sends ``TrusteeJoin`` (bond ``min_bond``, dialled at its P2P address) through
        its own node. Both waited for until final; what ``trustee join --json`` says."""
        from daoli.client import Client

        params = self.manifest.params
        password = self.password()
        client = Client(rec.api, self.token(rec), timeout=10.0)
        faucet = WalletStore(Path(rec.home) / "wallets").unlock(FAUCET_WALLET, password)
        signer = WalletStore(Path(rec.home) / "wallets").unlock(SIGNER_WALLET, password)
        signer_addr = address_of(pubkey_from_secret(signer))
        fund = params.min_bond + 10 * params.min_fee
        deadline = time.monotonic() + timeout
        pay = client.transfer(faucet, signer_addr, fund, params.min_fee)
        result = client.submit(pay)
        if not result.ok:
            raise ConfigError(f"the faucet could not fund {rec.name}'s signer: {result.reason}")
        client.wait_for_tx(pay.id, timeout=max(1.0, deadline - time.monotonic()))
        join = client.trustee_join(signer, params.min_bond, rec.p2p_addr, params.min_fee)
        result = client.submit(join)
        if not result.ok:
            raise ConfigError(f"the node refused {rec.name}'s TrusteeJoin: {result.reason}")
        final = client.wait_for_tx(join.id, timeout=max(1.0, deadline - time.monotonic()))
        return {"tx_id": join.id.hex(), "trustee": signer_addr,
                "pubkey": rec.signer_pubkey, "bond": params.min_bond,
                "multiaddr": rec.p2p_addr, "height": final.height,
                "epoch_blocks": params.epoch_blocks}

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self, target: Path) -> dict[str, Any]:
        """Write the whole devnet to ``target`` (a .tar.gz, mode 0600: it holds every key):
        per node its settings, keys, wallets, vote record and a consistent copy of its
        chain store (LMDB's own copy: running nodes need not stop). Heights may differ
        between nodes; restored nodes catch up from each other."""
        import io
        import tarfile
        import tempfile

        from daoli.store.blockstore import BlockStore

        self.refresh()
        heights: dict[str, int | None] = {}
        tmp = target.with_name(f".{target.name}.part-{secrets.token_hex(4)}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar, \
                    tempfile.TemporaryDirectory(prefix="daoli-snap-") as stage:
                for name in (MANIFEST_FILE, GENESIS_FILE, PASSWORD_FILE):
                    tar.add(self.dir / name, arcname=name, recursive=False)
                for rec in self.nodes:
                    home = Path(rec.home)
                    data = home / "data"
                    if (data / "data.mdb").is_file():
                        copy = Path(stage) / rec.name
                        copy.mkdir()
                        with BlockStore.open(data, readonly=True) as store:
                            store.copy_to(copy)
                            heights[rec.name] = store.tip_height
                        tar.add(copy, arcname=f"{rec.name}/data")
                    else:
                        heights[rec.name] = None
                    # after the store: a vote record newer than the store is safe on restore
                    for entry in sorted(home.iterdir()):
                        if entry.name in _SNAPSHOT_FILES or entry.name == "wallets":
                            tar.add(entry, arcname=f"{rec.name}/{entry.name}")
                nodes = [{**asdict(n), "pid": None} for n in self.nodes]
                doc = {**self._doc(), "nodes": nodes, "light_miners": {},
                       "scheduler_pid": None}
                header = {"format": SNAPSHOT_FORMAT, "version": 1, "chain_id": self.chain_id,
                          "genesis_id": self.genesis_id, "name": self.manifest.name,
                          "created_ms": int(time.time() * 1000), "heights": heights}
                for arcname, obj in ((SNAPSHOT_HEADER, header), (STATE_FILE, doc)):
                    blob = (json.dumps(obj, indent=2) + "\n").encode()
                    info = tarfile.TarInfo(arcname)
                    info.size, info.mode, info.mtime = len(blob), 0o600, int(time.time())
                    tar.addfile(info, io.BytesIO(blob))
            os.replace(tmp, target)
        except OSError as exc:
            raise ConfigError(f"cannot write snapshot {quote(target)}: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return {"file": str(target), "chain_id": self.chain_id, "genesis_id": self.genesis_id,
                "heights": heights, "bytes": target.stat().st_size}

    @classmethod
    def restore(cls, source: Path, directory: Path) -> Devnet:
        """A devnet in ``directory`` (absent or empty) from a snapshot: the same chain,
        keys and wallets, on fresh ports (the original may still be running)."""
        import tarfile

        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise ConfigError(f"{quote(directory)} is not empty; restore a snapshot into a "
                              "new --dir")
        try:
            tar = tarfile.open(source, mode="r:gz")  # noqa: SIM115 - closed by "with tar"
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise ConfigError(f"{quote(source)} is not a devnet snapshot: {exc}") from None
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with tar:
                try:
                    member = tar.getmember(SNAPSHOT_HEADER)
                    f = tar.extractfile(member)
                    header = json.loads(f.read(MAX_CONFIG_FILE)) if f else None
                except (KeyError, ValueError, tarfile.TarError, OSError, EOFError):
                    header = None
                if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
                    raise ConfigError(f"{quote(source)} is not a devnet snapshot (no "
                                      f"{SNAPSHOT_HEADER})")
                if header.get("version") != 1:
                    raise ConfigError(f"{quote(source)}: snapshot version "
                                      f"{show(str(header.get('version')))} is not supported")
                try:
                    tar.extractall(directory, filter="data")
                except (OSError, tarfile.TarError, EOFError) as exc:
                    raise ConfigError(f"{quote(source)}: cannot extract: {exc}") from None
            (directory / SNAPSHOT_HEADER).unlink(missing_ok=True)
            net = cls.load(directory)
            if net.chain_id != header.get("chain_id"):
                raise ConfigError(f"{quote(source)} is damaged: its record and header name "
                                  "different chains")
            for i, rec in enumerate(net.nodes):
                rec.home = str(directory / rec.name)
                rec.pid, rec.blocked = None, None
                rec.p2p_port, rec.api_port = net._ports(i)
            if net.netns:  # new directory, new names and subnet
                from daoli.devnet.netns import NetnsDevnet

                hosts = NetnsDevnet(directory).planned(len(net.nodes)).addresses
                for rec, host in zip(net.nodes, hosts, strict=True):
                    rec.host = host
            net.write_configs()
            for rec in net.nodes:
                home = Path(rec.home)
                for secret in ("node_key", "signer_key"):
                    with contextlib.suppress(OSError):
                        os.chmod(home / secret, 0o600)
            with contextlib.suppress(OSError):
                os.chmod(directory / PASSWORD_FILE, 0o600)
            net.miner_pids, net.scheduler_pid = {}, None
            net._seen = {}
            net.save()
            return net
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    def write_configs(self) -> None:
        """Every node's listen and bootstrap addresses from the record (after ports or
        hosts changed: a restore, a network made again on another subnet)."""
        for rec in self.nodes:
            path = Path(rec.home) / "config.toml"
            cfg = load_config_file(path)
            cfg = replace(cfg, p2p_listen=rec.p2p_listen, api_listen=f"{rec.host}:{rec.api_port}",
                          bootstrap_peers=tuple(r.p2p_addr for r in self.nodes if r is not rec))
            path.write_text(dump_config_toml(cfg))

    # --- the network of a --netns devnet ----------------------------------------------------

    def network(self) -> Any:
        """This devnet's namespaces (daoli.devnet.netns.NetnsDevnet)."""
        from daoli.devnet.netns import NetnsDevnet

        if not self.netns:
            raise ConfigError("this devnet runs on 127.0.0.1, not in network namespaces "
                              "(make it with 'daoli devnet up --netns')")
        if self._network is None:
            self._network = NetnsDevnet(self.dir)
        return self._network

    def setup_network(self) -> bool:
        """Make the namespaces, bridge and links (none of the nodes may be running): what a
        crashed command left is removed first; nodes get the addresses of the new plan
        (configs rewritten if the subnet moved); recorded partitions and bandwidth limits
        are applied again. Whether anything was made (False without --netns)."""
        if not self.netns:
            return False
        if self.running():
            raise ConfigError("nodes are running; the network can only be made before")
        net = self.network()
        net.destroy()
        addresses = net.create(len(self.nodes))
        if [r.host for r in self.nodes] != addresses:
            for rec, host in zip(self.nodes, addresses, strict=True):
                rec.host = host
            self.write_configs()
        self.save()
        groups = self._groups()
        if groups:
            net.partition(groups)
        for rec in self.nodes:
            if rec.rate or (self.kernel_netem() and self.shaped(rec)):
                self._shape_link(rec)
        return True

    def teardown_network(self) -> list[str]:
        """Remove this devnet's namespaces, links and bridge (after its nodes stopped)."""
        if not self.netns:
            return []
        return list(self.network().destroy())

    def _groups(self) -> list[list[int]]:
        """The recorded partition as groups of node indexes ([] when none)."""
        if not any(r.blocked for r in self.nodes):
            return []
        index = {r.name: i for i, r in enumerate(self.nodes)}
        groups: list[list[int]] = []
        placed: set[int] = set()
        for i, rec in enumerate(self.nodes):
            if i in placed:
                continue
            blocked = set(rec.blocked or [])
            group = [index[r.name] for r in self.nodes if r.name not in blocked]
            placed.update(group)
            groups.append(group)
        return groups

    def kernel_netem(self) -> bool:
        """Whether delay and loss go through the kernel's sch_netem on the node's link
        (--netns, where the kernel has it) rather than through the node's own shaping."""
        if not self.netns:
            return False
        if self._kernel_netem is None:
            from daoli.devnet.netns import netem_supported

            self._kernel_netem = netem_supported()
        return self._kernel_netem

    def _shape_link(self, rec: NodeRecord) -> None:
        """The node's recorded rate (and, with sch_netem, delay and loss) on its links."""
        net = self.network()
        i = self.nodes.index(rec)
        if self.kernel_netem():
            net.netem(i, rec.delay_ms, rec.jitter_ms, rec.loss, rec.rate)
        elif rec.rate is None:
            net.unlimit(i)
        else:
            net.limit(i, rec.rate)

    def set_rate(self, rec: NodeRecord, rate: str | None) -> None:
        """Limit (or with None: unlimit) a node's bandwidth with tc (--netns only)."""
        self.network()
        rec.rate = rate
        self._shape_link(rec)
        self.save()

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
        # with --netns a partition is cut by the kernel (routes), not by the nodes, and so
        # are delay and loss where the kernel has sch_netem
        blocked = [] if self.netns else [self.node(n).peer_id for n in (rec.blocked or [])]
        if self.kernel_netem():
            return {"blocked_peers": blocked, "delay_ms": 0.0, "jitter_ms": 0.0, "loss": 0.0}
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
        if self.netns:
            self.network().partition(self._groups())
        else:
            self._push()

    def heal(self) -> None:
        for rec in self.nodes:
            rec.blocked = None
        self.save()
        if self.netns:
            self.network().heal()
        else:
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
        if self.kernel_netem():
            self._shape_link(rec)
        changed = delay_ms is not None or jitter_ms is not None or loss is not None
        # nothing changed for the node itself: do not call it (maybe over a link just
        # limited to a few kbit/s)
        return self.apply_shaping(rec) if changed and self.alive(rec) else self.shaping_of(rec)

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


def _netns_ports(manifest: Manifest) -> tuple[int, int]:
    from daoli.node.config import DEFAULT_API_PORT, DEFAULT_P2P_PORT

    if manifest.base_port:
        return manifest.base_port, manifest.base_port + 1
    return DEFAULT_P2P_PORT, DEFAULT_API_PORT


def apply_due(net: Devnet, pending: list[FaultSpec], elapsed_s: float
              ) -> list[tuple[FaultSpec, str, bool]]:
    """Pop and carry out the faults of ``pending`` (sorted by time) due at ``elapsed_s``:
    one loop for the foreground dashboard and the detached scheduler alike. A fault that
    fails is reported, not raised: the schedule goes on."""
    done = []
    while pending and elapsed_s >= pending[0].at_s:
        fault = pending.pop(0)
        net.refresh()  # another command may have restarted a node meanwhile
        try:
            done.append((fault, apply_fault(net, fault), True))
        except (DaoliError, TimeoutError) as exc:
            done.append((fault, f"{fault.action} failed: {exc}", False))
    return done


def run_scheduler(net: Devnet, t0_wall: float, stop: Callable[[], bool]) -> int:
    """The detached scheduler's loop: faults at ``t0_wall + at``, each written to
    faults.log as a JSON line; returns how many failed. ``stop`` is polled between faults
    (a fault in progress is finished, so a restarted node's PID is always recorded)."""
    pending = list(net.manifest.faults)
    failed = 0
    while pending and not stop():
        for fault, what, ok in apply_due(net, pending, time.time() - t0_wall):
            failed += not ok
            line = {"at_s": fault.at_s, "action": fault.action, "result": what, "ok": ok,
                    "time_ms": int(time.time() * 1000)}
            with open(net.dir / FAULTS_LOG, "a") as f:
                f.write(json.dumps(line) + "\n")
        if pending:
            time.sleep(min(0.1, max(0.0, pending[0].at_s - (time.time() - t0_wall))))
    return failed


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


__all__ = ["Devnet", "NodeRecord", "address_of", "apply_due", "apply_fault", "run_scheduler",
           "wait_until", "wallet_address"]
