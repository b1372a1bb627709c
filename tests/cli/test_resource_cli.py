"""``daoli resource`` end to end against one real dev node (three local miners, so the node's
signer key is lined up): offer, offers, order --wait printing the lease, leases, lease show,
close, cancel; the --json schemas; and the one-line errors with their exit codes.

The CLI runs in this process (``daoli.cli.app.run``), which is what the console script runs,
so each command costs milliseconds instead of an interpreter start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from daoli.cli.app import run
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.node.config import NodeConfig, dump_config_toml
from daoli.node.home import Home
from tests.node.nodeproc import NodeProc, free_port, init_home, wait_for

OFFER_KEYS = {"id", "provider", "provider_pubkey", "lined_up", "cpu_millicores", "mem_mib",
              "disk_gib", "net_mbps", "price_per_block", "price_per_block_dlc", "unit_price",
              "unit_price_dlc", "capacity", "active", "expires_height", "endpoint", "height"}
LEASE_KEYS = {"id", "order_id", "offer_id", "provider", "provider_pubkey", "buyer",
              "buyer_pubkey", "price_per_block", "price_per_block_dlc", "unit_price",
              "unit_price_dlc", "start", "end", "duration_end", "as_of", "paid", "paid_dlc",
              "owed", "owed_dlc", "escrow_left", "escrow_left_dlc", "last_seq"}
TX_KEYS = {"tx_id", "fee", "nonce", "status", "height"}


@dataclass
class Env:
    home: Path
    node: NodeProc
    provider: str  # the signer key's address (lined up)
    buyer: str  # the dev wallet's address
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

    def fails(self, code: int, *args: str) -> str:
        got, out, err = self(*args)
        assert got == code, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in out + err
        got, out, err = self("--json", *args)
        assert got == code and json.loads(out)["error"]["exit_code"] == code, (out, err)
        return lines[0]

    def prov(self) -> list[str]:
        return ["--wallet", "prov", "--password-file", str(self.home / "prov.password")]

    def dev(self) -> list[str]:
        return ["--wallet", "dev", "--password-file", str(self.home / "dev.password")]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("resource") / "home"
    info = init_home(home)
    cfg = NodeConfig(p2p_listen=f"/ip4/127.0.0.1/tcp/{free_port()}",
                     api_listen=f"127.0.0.1:{free_port()}")
    (home / "config.toml").write_text(dump_config_toml(cfg))
    (home / "prov.password").write_text("provider password\n")
    assert run(["--home", str(home), "--json", "wallet", "import", "prov", "--key-file",
                str(home / "signer_key"), "--light-kdf", "--password-file",
                str(home / "prov.password")]) == 0
    node = NodeProc(home).start("--mine", "3")
    signer = pubkey_from_secret(Home(home).signer_secret())
    try:
        wait_for("the signer key lined up",
                 lambda: any(e["miner_pubkey"] == signer.hex()
                             for e in node.get("/v1/lineup")["lineup"]), 60)
        yield Env(home, node, address_of(signer), info["dev_wallet"]["address"])
    finally:
        node.stop()


@pytest.fixture
def cli(env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("COLUMNS", "400")  # tables on one line each, for the text checks
    env.capsys = capsys
    return env


def test_offer_order_lease_close_cancel(cli: Env) -> None:
    made = cli.ok("resource", "offer", "--cpu", "2000m", "--mem", "4GiB", "--disk", "100GiB",
                  "--net", "100Mbps", "--price", "0.00005DLC/block", "--unit-price", "100",
                  "--capacity", "2", "--expires", "5000", "--endpoint", "[bold]ssh x",
                  *cli.prov(), "--wait")
    assert set(made) == TX_KEYS | (OFFER_KEYS - {"id", "lined_up", "active", "height"}) | {
        "offer_id"}
    assert made["status"] == "final" and made["offer_id"] == made["tx_id"]
    assert (made["cpu_millicores"], made["mem_mib"], made["disk_gib"], made["net_mbps"],
            made["price_per_block"], made["provider"]) == (2000, 4096, 100, 100, 5000,
                                                           cli.provider)
    offer_id = made["offer_id"]

    listed = cli.ok("resource", "offers")
    assert set(listed) == {"height", "count", "offers"}
    mine = [o for o in listed["offers"] if o["id"] == offer_id]
    assert len(mine) == 1 and set(mine[0]) == OFFER_KEYS and mine[0]["lined_up"] is True
    assert mine[0]["endpoint"] == "[bold]ssh x"
    for args in (["--min-cpu", "3"], ["--max-price", "4999"], ["--min-net", "1Gbps"]):
        assert offer_id not in [o["id"] for o in cli.ok("resource", "offers", *args)["offers"]]
    assert offer_id in [o["id"] for o in cli.ok("resource", "offers", "--provider", "prov",
                                                "--lined-up", "--min-mem", "4Gi")["offers"]]
    code, out, _ = cli("resource", "offers", "--provider", "prov")
    assert code == 0 and "* " in out and "[bold]ssh x" in out and cli.provider[:20] in out

    lineup = cli.ok("payroll", "lineup")
    mine_lined = [e for e in lineup["lineup"] if e["miner"] == cli.provider]
    assert mine_lined and offer_id in [o["id"] for o in mine_lined[0]["offers"]]

    ordered = cli.ok("resource", "order", "--cpu", "1", "--mem", "1Gi", "--max-price",
                     "0.0001DLC/block", "--blocks", "30", *cli.dev(), "--wait")
    assert ordered["state"] == "leased" and ordered["deposit"] == 10_000 * 30
    lease = ordered["lease"]
    assert set(lease) == LEASE_KEYS and lease["id"] == ordered["order_id"]
    assert (lease["provider"], lease["buyer"], lease["offer_id"], lease["start"]) == (
        cli.provider, cli.buyer, offer_id, ordered["height"])
    lease_id = lease["id"]

    as_buyer = cli.ok("resource", "leases", "--mine", *cli.dev()[:2])
    row = [r for r in as_buyer["leases"] if r["id"] == lease_id]
    assert as_buyer["account"] == cli.buyer and row and row[0]["role"] == "buyer"
    as_provider = cli.ok("resource", "leases", "--account", "prov")
    assert [r["role"] for r in as_provider["leases"] if r["id"] == lease_id] == ["provider"]
    assert lease_id in [r["id"] for r in cli.ok("resource", "leases")["leases"]]

    shown = cli.ok("resource", "lease", "show", lease_id)
    assert set(shown) == LEASE_KEYS
    assert shown["paid"] == 5000 * (shown["as_of"] - shown["start"])
    assert shown["paid"] + shown["escrow_left"] == 10_000 * 30
    code, out, _ = cli("resource", "lease", "show", lease_id)
    assert code == 0 and "escrow left" in out and "none billed" in out

    closed = cli.ok("resource", "close", lease_id, *cli.dev(), "--wait")
    assert set(closed) == TX_KEYS | {"lease_id", "by", "role"}
    assert closed["role"] == "buyer" and closed["status"] == "final"
    assert "unknown lease" in cli.fails(2, "resource", "lease", "show", lease_id)
    assert "unknown lease" in cli.fails(2, "resource", "close", lease_id, *cli.dev())

    assert "not to wallet dev" in cli.fails(2, "resource", "cancel", offer_id, *cli.dev())
    cancelled = cli.ok("resource", "cancel", offer_id, *cli.prov(), "--wait")
    assert set(cancelled) == TX_KEYS | {"offer_id", "provider"}
    assert offer_id not in [o["id"] for o in cli.ok("resource", "offers")["offers"]]
    assert "unknown offer" in cli.fails(2, "resource", "cancel", offer_id, *cli.prov())


def test_unmatched_order_is_open(cli: Env) -> None:
    ordered = cli.ok("resource", "order", "--cpu", "900000", "--mem", "1Mi", "--max-price",
                     "1000", "--blocks", "50", "--deposit", "0.001DLC", *cli.dev(), "--wait")
    assert ordered["state"] == "open" and ordered["lease"] is None
    assert ordered["deposit"] == 100_000
    code, out, _ = cli("resource", "order", "--cpu", "900000", "--mem", "1Mi", "--max-price",
                       "1000", "--blocks", "50", *cli.dev())
    assert code == 0 and "order id" in out


@pytest.mark.parametrize(("args", "needle"), [
    (["offer", "--cpu", "-1", "--mem", "1Gi", "--price", "1"], "negative"),
    (["offer", "--cpu", "1", "--mem", "4m", "--price", "1"], "thousandths"),
    (["offer", "--cpu", "1", "--mem", "1Gi", "--price", "1DLC/hour"], "per block"),
    (["offer", "--cpu", "1000000000", "--mem", "1Gi", "--price", "1"], "absurd"),
    (["offer", "--cpu", "1", "--mem", "1Gi", "--net", "1MB/s", "--price", "1"], "bits"),
    (["order", "--cpu", "1", "--mem", "1Gi", "--max-price", "1DLC", "--blocks", "10",
      "--deposit", "0.5DLC"], "does not cover"),
    (["order", "--cpu", "1", "--mem", "1Gi", "--max-price", "90000000000DLC", "--blocks",
      "1000"], "balance"),
    (["cancel", "zz"], "64 hex"),
    (["close", "ab" * 32], "unknown lease"),
    (["cancel", "ab" * 32], "unknown offer"),
])
def test_bad_input_is_exit_2(cli: Env, args: list[str], needle: str) -> None:
    assert needle in cli.fails(2, "resource", *args, *cli.dev())


def test_lease_show_and_listing_errors(cli: Env) -> None:
    assert "64 hex" in cli.fails(2, "resource", "lease", "show", "xyz")
    assert "unknown lease" in cli.fails(2, "resource", "lease", "show", "cd" * 32)
    assert "not both" in cli.fails(2, "resource", "leases", "--mine", "--wallet", "dev",
                                   "--account", "dev")
    assert "--wallet" in cli.fails(2, "resource", "leases", "--mine")
    cli.fails(2, "resource", "offers", "--min-mem", "lots")


def test_refusals_unreachable_and_timeouts(cli: Env) -> None:
    # the node refuses a fee below min_fee: exit 1
    assert "refused" in cli.fails(1, "resource", "offer", "--cpu", "1", "--mem", "1Gi",
                                  "--price", "1", "--fee", "1", *cli.prov())
    # a buyer who cannot pay the deposit: exit 1 before any password
    assert "less than" in cli.fails(1, "resource", "order", "--cpu", "1", "--mem", "1Gi",
                                    "--max-price", "1000000DLC", "--blocks", "100",
                                    *cli.prov())
    # nobody listening: exit 3
    cli.fails(3, "--node", f"127.0.0.1:{free_port()}", "resource", "offers")
    # --wait that runs out: exit 4 (the offer itself is harmless and lands later)
    cli.fails(4, "resource", "offer", "--cpu", "1m", "--mem", "1Mi", "--price", "7",
              "--expires", "10", *cli.prov(), "--wait", "--timeout", "0.001")
