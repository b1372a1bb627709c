"""Integration: a light miner's tickets win blocks through its sponsor, and a trustee bonded
with ``daoli trustee join`` votes from the next epoch (real processes, real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.params import ChainParams
from daoli.node.home import Home
from tests.node.nodeproc import (
    DAOLI,
    NodeProc,
    daoli,
    init_home,
    make_network,
    running,
    wait_for,
)

pytestmark = pytest.mark.slow


def cli_env(home: Path) -> dict[str, str]:
    return {"DAOLI_HOME": str(home), "DAOLI_PASSWORD_FILE": str(home / "dev.password")}


def test_a_light_miners_tickets_win_blocks(tmp_path: Path) -> None:
    home = tmp_path / "sponsor"
    info = init_home(home)
    node = NodeProc(home, extra=("--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0",
                                 "--mine", "0"))
    with running([node]):
        node.start()
        # no local miner: nothing is finalized until the light miner works
        miner = subprocess.Popen(
            [*DAOLI, "--json", "mine", "--sponsor", node.api, "--wallet", "dev",
             "--duration", "40", "--count", "3"],
            env={**os.environ, **cli_env(home)}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            out, err = miner.communicate(timeout=90)
        finally:
            if miner.poll() is None:
                miner.kill()
        assert miner.returncode == 0, err
        wait_for("a block", lambda: node.height() >= 1, timeout=30)
        dev = info["dev_wallet"]["address"]
        winners = {node.get(f"/v1/blocks/{h}")["winner"]["miner"]
                   for h in range(1, node.height() + 1)}
        assert winners == {dev}, winners
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["accepted"] >= 1
        assert node.stop() == 0


def test_a_new_trustee_votes_from_the_next_epoch(tmp_path: Path) -> None:
    params = ChainParams(epoch_blocks=4)
    nodes = make_network(tmp_path, 2, params=params, trustees=1)
    a, b = nodes
    with running(nodes):
        a.start()
        b.start()
        wait_for("b follows a", lambda: b.height() >= 2, timeout=60)
        b_secret = Home(b.home).signer_secret()
        b_pub = pubkey_from_secret(b_secret)
        env = {**cli_env(a.home), "DAOLI_NODE": a.api}
        r = daoli("wallet", "send", "dev", address_of(b_pub), "1100DLC", "--wait",
                  "--timeout", "60", env=env)
        assert r.returncode == 0, r.stderr
        key_file = tmp_path / "b.key"
        key_file.write_text(Home(b.home).signer_secret().hex() + "\n")
        env_b = {"DAOLI_HOME": str(b.home), "DAOLI_NODE": b.api,
                 "DAOLI_PASSWORD": "correct horse battery staple"}
        r = daoli("wallet", "import", "signer", "--key-file", str(key_file), env=env_b)
        assert r.returncode == 0, r.stderr
        r = daoli("--json", "trustee", "join", "--wallet", "signer", "--bond", "1000DLC",
                  "--wait", "--timeout", "60", env=env_b)
        assert r.returncode == 0, r.stderr
        joined = json.loads(r.stdout)["height"]
        wait_for("b is an active trustee",
                 lambda: any(t["pubkey"] == b_pub.hex() and t["active"]
                             for t in a.get("/v1/trustees")["trustees"]), timeout=60)
        # the next epoch's certificates carry b's precommit
        boundary = (joined // params.epoch_blocks + 1) * params.epoch_blocks
        wait_for("a block certified by b",
                 lambda: a.height() > boundary + 2
                 and b_pub.hex() in a.get(f"/v1/blocks/{boundary + 2}")["certificate"]
                 ["signers"], timeout=90)
        for n in nodes:
            assert n.stop() == 0
