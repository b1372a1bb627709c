"""``daoli provider start`` and ``daoli cloud put|get|ls|run`` on a real lease: one dev node,
the provider agent as its own process (the signer key's wallet, lined up), an offer that
publishes the agent's endpoint, a buyer's order matched into a lease, then storage and
compute over real libp2p, with the buyer's receipts submitted on chain and paid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from daoli.cli.app import run
from daoli.node.config import NodeConfig, dump_config_toml
from tests.node.nodeproc import NodeProc, free_port, init_home, wait_for

pytestmark = pytest.mark.slow


@dataclass
class Env:
    home: Path
    node: NodeProc
    lease: str
    endpoint: str
    capsys: Any = None

    def __call__(self, *args: str) -> tuple[int, str, str]:
        assert self.capsys is not None
        self.capsys.readouterr()
        code = run(["--home", str(self.home), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> dict[str, Any]:
        code, out, err = self("--json", *args)
        assert code == 0, (out, err)
        return dict(json.loads(out))

    def wallet(self, name: str) -> list[str]:
        return ["--wallet", name, "--password-file", str(self.home / f"{name}.password")]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("cloud") / "home"
    init_home(home)
    cfg = NodeConfig(p2p_listen=f"/ip4/127.0.0.1/tcp/{free_port()}",
                     api_listen=f"127.0.0.1:{free_port()}")
    (home / "config.toml").write_text(dump_config_toml(cfg))
    (home / "prov.password").write_text("provider password\n")
    assert run(["--home", str(home), "--json", "wallet", "import", "prov", "--key-file",
                str(home / "signer_key"), "--light-kdf", "--password-file",
                str(home / "prov.password")]) == 0
    node = NodeProc(home).start("--mine", "2")
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    agent = subprocess.Popen(
        [sys.executable, "-m", "daoli.cli.app", "--home", str(home), "--json", "provider",
         "start", "--wallet", "prov", "--password-file", str(home / "prov.password"),
         "--listen", f"/ip4/127.0.0.1/tcp/{free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_vars)
    try:
        assert agent.stdout is not None
        started = json.loads(agent.stdout.readline() or "{}")
        assert started.get("event") == "provider_started", agent.stderr.read() \
            if agent.poll() is not None and agent.stderr else started
        e = Env(home, node, "", started["endpoint"])
        yield e
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(10)
        node.stop()


@pytest.fixture
def cli(env: Env, capsys: pytest.CaptureFixture[str]) -> Env:
    env.capsys = capsys
    if not env.lease:
        made = env.ok("resource", "offer", "--cpu", "1", "--mem", "256Mi", "--disk", "1Gi",
                      "--price", "10", "--unit-price", "1000", "--capacity", "2",
                      "--expires", "100000", "--endpoint", env.endpoint, *env.wallet("prov"),
                      "--wait")
        assert made["endpoint"] == env.endpoint
        dev = ["--wallet", "dev", "--password-file", str(env.home / "dev.password")]
        ordered = env.ok("resource", "order", "--cpu", "1", "--mem", "128Mi", "--max-price",
                         "10", "--blocks", "5000", "--deposit", "0.1DLC", *dev, "--wait")
        assert ordered["state"] == "leased", ordered
        env.lease = ordered["lease"]["id"]
    return env


def dev(env: Env) -> list[str]:
    return ["--wallet", "dev", "--password-file", str(env.home / "dev.password")]


def test_storage_and_compute_on_a_lease_with_receipts_paid_on_chain(
        cli: Env, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    put = cli.ok("cloud", "put", cli.lease, str(src), *dev(cli))
    assert put["size"] == len(data) and put["name"] == "blob.bin"
    listed = cli.ok("cloud", "ls", cli.lease, *dev(cli))
    assert [f["name"] for f in listed["files"]] == ["blob.bin"]
    back = tmp_path / "back.bin"
    got = cli.ok("cloud", "get", cli.lease, "blob.bin", "-o", str(back), *dev(cli))
    assert back.read_bytes() == data and got["sha256"] == put["sha256"]
    ran = cli.ok("cloud", "run", cli.lease, *dev(cli), "--", sys.executable, "-c",
                 "print(6 * 7)")
    assert ran["code"] == 0 and ran["stdout"].strip() == "42"
    # the text mode streams the command's output and exits with its code
    code, out, _ = cli("cloud", "run", cli.lease, *dev(cli), "--", sys.executable, "-c",
                       "import sys; print('hi'); sys.exit(3)")
    assert code == 3 and "hi" in out
    signed = [r for x in (put, listed, got, ran) for r in x["receipts"]]
    assert signed, "the provider asked for no receipt"
    top = max(r["seq"] for r in signed)
    # the provider submits what the buyer signed; the chain bills it at the unit price
    def billed() -> dict[str, Any] | None:
        lease = dict(cli.node.get(f"/v1/leases/{cli.lease}"))
        return lease if lease["last_seq"] >= top else None

    lease = wait_for("the receipts on chain", billed, 60)
    assert lease["paid"] >= 1000 * sum(r["units"] for r in signed)


def test_someone_elses_lease_or_junk_is_one_line(cli: Env) -> None:
    code, _, err = cli("cloud", "ls", cli.lease, *cli.wallet("prov"))
    assert code == 2 and "is not" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("cloud", "ls", "abc", *dev(cli))
    assert code == 2 and "64 hex" in err
    code, _, err = cli("cloud", "ls", "00" * 32, *dev(cli))
    assert code == 2 and "no active lease" in err
    code, _, err = cli("cloud", "run", cli.lease, *dev(cli))
    assert code == 2 and "after --" in err
