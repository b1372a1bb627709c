"""Real node processes on 127.0.0.1 for integration tests (real LMDB, real libp2p).

A small cousin of Bitcoin Core's functional test framework: homes made with the real
``daoli init``, nodes started with the real ``daoli node start`` as child processes, talked
to through their real HTTP API, stopped by PID with SIGTERM. Nothing sleeps and hopes:
:func:`wait_for` polls a condition with a deadline and says what it was waiting for.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from daoli.core.address import decode_address
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import ChainParams
from daoli.node.config import NodeConfig, dump_config_toml, dump_genesis_toml
from daoli.node.home import DEV_WALLET_FUNDS, Home

DAOLI = [sys.executable, "-m", "daoli.cli.app"]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30.0,
             every: float = 0.1) -> Any:
    """Poll ``cond`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))


def daoli(*args: str, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DAOLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@dataclass
class NodeProc:
    home: Path
    proc: subprocess.Popen[str] | None = None
    started: dict[str, Any] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    @property
    def api(self) -> str:
        return str(self.started["api"])

    @property
    def token(self) -> str:
        return (self.home / "api_token").read_text().split()[0]

    def start(self, *args: str) -> NodeProc:
        log = open(self.home / "stderr.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [*DAOLI, "node", "start", "--home", str(self.home), "--json", *self.extra, *args],
            stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line:
            self.kill()
            raise AssertionError(f"node {self.home.name} did not start: "
                                 + self.stderr_tail())
        self.started = json.loads(line)
        return self

    def stderr_tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return (self.home / "stderr.log").read_text(errors="replace")[-n:]
        return ""

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.api + path, params=params, timeout=10,
                      headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any) -> Any:
        r = httpx.post(self.api + path, json=body, timeout=10,
                       headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()

    def height(self) -> int:
        return int(self.get("/v1/status")["height"])

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM by PID; the exit code (fails if the node does not stop in time)."""
        p = self.proc
        assert p is not None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"node {self.home.name} ignored SIGTERM for {timeout} s"
                                 ) from None
        finally:
            if p.stdout:
                p.stdout.close()

    def kill(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)
        if p is not None and p.stdout:
            p.stdout.close()


def init_home(path: Path, *args: str) -> dict[str, Any]:
    r = daoli("--json", "init", "--home", str(path), *args)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def peer_id_of(home: Path) -> str:
    from libp2p.crypto.secp256k1 import create_new_key_pair
    from libp2p.peer.id import ID

    secret = Home(home).node_secret()
    return str(ID.from_pubkey(create_new_key_pair(secret).public_key))


def make_network(root: Path, n: int, *, chain_id: str = "devnet-test",
                 params: ChainParams | None = None, trustees: int | None = None,
                 allocations: tuple[Allocation, ...] = ()) -> list[NodeProc]:
    """``n`` homes on one chain: the first ``trustees`` (default all) genesis trustees,
    every node a miner, fixed ports, each bootstrapping from all the others; node 0's
    ``dev`` wallet holds the funds."""
    homes = [root / f"node{i}" for i in range(n)]
    inits = [init_home(h) for h in homes]
    ports = [(free_port(), free_port()) for _ in homes]
    addrs = [f"/ip4/127.0.0.1/tcp/{p2p}/p2p/{peer_id_of(h)}"
             for h, (p2p, _) in zip(homes, ports, strict=True)]
    params = params or ChainParams()
    trustees = tuple(GenesisTrustee(pubkey_from_secret(Home(h).signer_secret()),
                                    params.min_bond, addrs[i])
                     for i, h in enumerate(homes[:n if trustees is None else trustees]))
    dev = inits[0]["dev_wallet"]["address"]
    genesis = Genesis(chain_id, int(time.time()) * 1000, params,
                      (Allocation(decode_address(dev), DEV_WALLET_FUNDS), *allocations),
                      trustees)
    text = dump_genesis_toml(genesis)
    for i, h in enumerate(homes):
        (h / "genesis.toml").write_text(text)
        cfg = NodeConfig(p2p_listen=f"/ip4/127.0.0.1/tcp/{ports[i][0]}",
                         api_listen=f"127.0.0.1:{ports[i][1]}",
                         bootstrap_peers=tuple(a for j, a in enumerate(addrs) if j != i))
        (h / "config.toml").write_text(dump_config_toml(cfg))
    return [NodeProc(h) for h in homes]


@contextlib.contextmanager
def running(nodes: list[NodeProc]) -> Iterator[list[NodeProc]]:
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()
