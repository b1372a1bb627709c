"""``sync``: a fresh node catching up a finalized chain from a peer, in blocks per second.

The chain (``blocks`` blocks of ``txs_per_block`` signed transfers from 100 senders, one
genesis trustee certifying each block) is built once per invocation by the core's own block
builder, straight into node A's LMDB store (about 70 s for 5,000 x 100: the 500,000
signatures dominate), and reused by every run. A run starts A (it serves the chain, mines
nothing, so the chain stands still) and a fresh observer B bootstrapping from A, twice:

- **trusted**: B with ``sync_trust_certificates = true`` (the default): a block whose commit
  certificate verifies against the trustees is applied without verifying its transactions'
  signatures again; state roots are still recomputed and compared (docs/protocol.md,
  "Sync trusting certificates", the choice Bitcoin Core's assumevalid makes for old blocks);
- **verified**: B with ``sync_trust_certificates = false``: every signature checked.

Blocks/s is measured from B's first synced block to B reaching the chain's height (B's
process start and libp2p connection are left out: ``startup`` measures those).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import proc_rss_mib, start_profilers, stop_profilers
from daoli.core.address import address_bytes_of
from daoli.core.blockbuild import build_block
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.vote import PRECOMMIT, CommitCertificate, Vote
from daoli.node.chain import EVERY_ID, StoreChain
from daoli.node.config import NodeConfig, dump_config_toml, dump_genesis_toml
from daoli.node.home import Home
from daoli.store.blockstore import BlockStore

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.node.nodeproc import NodeProc, free_port, init_home, peer_id_of, wait_for  # noqa: E402

SENDERS = 100
CHAIN_ID = "bench-sync"


def _key(tag: str, i: int) -> bytes:
    return hashlib.sha256(f"bench-sync/{tag}/{i}".encode()).digest()


def build(root: Path, blocks: int, txs_per_block: int) -> dict[str, Any]:
    """Homes A (serving, holding the chain) and B (empty) under ``root``."""
    homes = {"a": root / "a", "b": root / "b"}
    for home in homes.values():
        init_home(home)
    ports = {k: (free_port(), free_port()) for k in homes}
    a_addr = f"/ip4/127.0.0.1/tcp/{ports['a'][0]}/p2p/{peer_id_of(homes['a'])}"
    trustee_secret = Home(homes["a"]).signer_secret()
    trustee = pubkey_from_secret(trustee_secret)
    keys = [_key("sender", i) for i in range(SENDERS)]
    pubs = [pubkey_from_secret(k) for k in keys]
    params = ChainParams(pow_difficulty=1)
    genesis_ms = (int(time.time()) - blocks - 3_600) * 1000
    genesis = Genesis(CHAIN_ID, genesis_ms, params,
                      tuple(Allocation(address_bytes_of(p), 1_000_000 * LI_PER_DLC)
                            for p in pubs),
                      (GenesisTrustee(trustee, params.min_bond, a_addr),))
    text = dump_genesis_toml(genesis)
    for name, home in homes.items():
        (home / "genesis.toml").write_text(text)
        boot = () if name == "a" else (a_addr,)
        cfg = NodeConfig(p2p_listen=f"/ip4/127.0.0.1/tcp/{ports[name][0]}",
                         api_listen=f"127.0.0.1:{ports[name][1]}", bootstrap_peers=boot,
                         trustee=name == "a", mine=0, sponsor=False)
        (home / "config.toml").write_text(dump_config_toml(cfg))
    t0 = time.monotonic()
    store = BlockStore.open(Home(homes["a"]).data_dir)
    try:
        chain = StoreChain(store, genesis, verified_txs=EVERY_ID)
        to = address_bytes_of(pubkey_from_secret(_key("to", 0)))
        nonces = [0] * SENDERS
        cert: CommitCertificate | None = None
        sender = 0
        for h in range(1, blocks + 1):
            txs = []
            for _ in range(txs_per_block):
                s = sender % SENDERS
                sender += 1
                txs.append(Transaction(CHAIN_ID, pubs[s], nonces[s], params.min_fee,
                                       Transfer(to, 1)).signed(keys[s]))
                nonces[s] += 1
            time_ms = genesis_ms + h * params.cycle_ms + 100
            ticket = Ticket(CHAIN_ID, h, h, store.tip_id, trustee, trustee, h,
                            time_ms).signed(trustee_secret)
            state = chain.state_after(store.tip_id)
            built = build_block(state, state.acc, genesis, winner=ticket, payroll=(), txs=txs,
                                last_commit=cert, time_ms=time_ms,
                                sign=lambda hdr: hdr.signed(trustee_secret),
                                verify_signatures=False)
            if len(built.block.payload) != len(txs):
                raise RuntimeError(f"block {h}: {len(built.skipped)} transfers refused")
            vote = Vote(CHAIN_ID, PRECOMMIT, h, 0, built.block.id, trustee,
                        time_ms + 200).signed(trustee_secret)
            cert = CommitCertificate.from_votes([vote])
            chain.commit(built.block, cert)
    finally:
        store.close()
    return {"homes": {k: str(v) for k, v in homes.items()}, "build_seconds":
            time.monotonic() - t0, "blocks": blocks, "txs_per_block": txs_per_block}


def _set_trust(home: Path, trust: bool) -> None:
    cfg = home / "config.toml"
    lines = [ln for ln in cfg.read_text().splitlines()
             if not ln.startswith("sync_trust_certificates")]
    lines.append(f"sync_trust_certificates = {'true' if trust else 'false'}")
    cfg.write_text("\n".join(lines) + "\n")


def _sync_once(a: NodeProc, b_home: Path, target: int, trust: bool,
               profile: Path | None = None) -> dict[str, float]:
    shutil.rmtree(b_home / "data", ignore_errors=True)
    _set_trust(b_home, trust)
    b = NodeProc(b_home)
    b.start()
    assert b.proc is not None
    spies = (start_profilers(profile, {"trusted" if trust else "verified": b.proc.pid})
             if profile is not None else [])
    try:
        wait_for("B's API", lambda: b.height() >= 0, timeout=60, every=0.02)
        first: list[float] = []

        def progressed() -> bool:
            h = b.height()
            if h >= 1 and not first:
                first.append(time.monotonic())
            return h >= target

        wait_for(f"B at height {target}", progressed, timeout=600, every=0.02)
        t_last = time.monotonic()
        seconds = t_last - first[0]
        assert b.proc is not None
        return {"seconds": seconds, "blocks_per_s": (target - 1) / seconds if seconds else 0.0,
                "rss_mib": proc_rss_mib(b.proc.pid) or 0.0}
    finally:
        stop_profilers(spies)
        b.kill()


_BUILT: dict[tuple[int, int], dict[str, Any]] = {}
"""Chains built in this process by (blocks, txs per block): every run of one invocation
syncs the same chain (each run gets a fresh directory; the chain lives in its own)."""


def _cached_chain(blocks: int, txs_per_block: int) -> dict[str, Any]:
    key = (blocks, txs_per_block)
    made = _BUILT.get(key)
    if made is None or not Path(made["homes"]["a"]).is_dir():
        where = Path(tempfile.mkdtemp(prefix="daoli-bench-sync-chain-"))
        atexit.register(shutil.rmtree, where, True)
        made = _BUILT[key] = build(where, blocks, txs_per_block)
    return made


def one_run(root: Path, blocks: int = 5_000, txs_per_block: int = 100,
            chain: dict[str, Any] | None = None, profile: Path | None = None
            ) -> dict[str, Any]:
    """One measurement of both modes; ``chain`` reuses a :func:`build` result, else the
    chain built earlier in this process for the same sizes is (``root`` is not used then)."""
    made = chain or _cached_chain(blocks, txs_per_block)
    a = NodeProc(Path(made["homes"]["a"]))
    b_home = Path(made["homes"]["b"])
    a.start()
    try:
        wait_for("A's API", lambda: a.height() >= made["blocks"], timeout=60, every=0.05)
        trusted = _sync_once(a, b_home, made["blocks"], True, profile)
        verified = _sync_once(a, b_home, made["blocks"], False, profile)
    finally:
        a.kill()
    return {"blocks": made["blocks"], "txs_per_block": made["txs_per_block"],
            "trusted_blocks_per_s": trusted["blocks_per_s"],
            "verified_blocks_per_s": verified["blocks_per_s"],
            "trusted_seconds": trusted["seconds"], "verified_seconds": verified["seconds"],
            "trusted_tx_per_s": trusted["blocks_per_s"] * made["txs_per_block"],
            "verified_tx_per_s": verified["blocks_per_s"] * made["txs_per_block"],
            "syncing_node_rss_mib": max(trusted["rss_mib"], verified["rss_mib"]),
            "build_seconds": made["build_seconds"]}


if __name__ == "__main__":  # python -m bench.sync [BLOCKS] [TXS]: one run, kept in /tmp
    keep = Path("/tmp/daoli-bench-sync")
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir()
    blocks, txs = (int(sys.argv[1]) if len(sys.argv) > 1 else 5_000,
                   int(sys.argv[2]) if len(sys.argv) > 2 else 100)
    print(json.dumps(one_run(keep, blocks, txs, chain=build(keep, blocks, txs),
                             profile=keep / "profiles"), indent=2))
