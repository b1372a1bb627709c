"""SIGKILL a process that is committing blocks as fast as it can; the store must reopen as
an exact prefix of the chain (SPEC 8: a crash never leaves half a block)."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daoli.store import BlockStore
from tests.store import crash_writer as cw

WRITER = Path(__file__).with_name("crash_writer.py")
SERIES = 6
ROUNDS_PER_SERIES = 5
MAX_HEIGHT = 100_000
ROUND_TIMEOUT_S = 30.0


def run_and_kill(path: Path, commits_to_see: int) -> tuple[int, str]:
    """Start the writer, wait until it has reported ``commits_to_see`` commits (0: until it
    has opened the store, so the kill lands around genesis initialisation), then SIGKILL it.

    Returns the last height it reported and its stderr (for failure messages)."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), str(MAX_HEIGHT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    last, seen, opened = 0, 0, False
    buf = b""
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while not (opened and seen >= commits_to_see):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(timeout=remaining):
                raise AssertionError("writer reported nothing in time")
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                raise AssertionError("writer exited early: " + proc.stderr.read().decode())
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line == b"opened":
                    opened = True
                else:
                    assert int(line) == last + 1 or last == 0, f"writer jumped to {line!r}"
                    last = int(line)
                    seen += 1
    finally:
        sel.close()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=ROUND_TIMEOUT_S)
        stderr = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, stderr
    return last, stderr


def check_prefix(store: BlockStore, chain: object, reported: int) -> int:
    """The store holds exactly blocks 1..tip of the deterministic chain and the state after
    them, nothing more; every height the writer reported as committed survived."""
    if store.genesis() is None:  # killed before init_genesis committed
        assert reported == 0
        assert all(v == 0 for k, v in store.stats().items() if k in ("blocks", "ids", "txs"))
        assert list(store.state_items()) == []
        return -1
    tip = store.tip_height
    assert tip >= reported, f"committed height {reported} was lost (tip {tip})"
    assert store.genesis() == chain.genesis  # type: ignore[attr-defined]
    stats = store.stats()
    assert stats["blocks"] == tip
    assert stats["certs"] == tip
    assert stats["ids"] == tip + 1
    assert stats["txs"] == tip * cw.TXS_PER_BLOCK
    assert store.tip_id == (chain.block(tip).id if tip else chain.genesis.id)  # type: ignore
    ranged = list(store.blocks_range(1, tip + 2))
    assert len(ranged) == tip
    for h, (raw, cert_raw) in enumerate(ranged, start=1):
        block = chain.block(h)  # type: ignore[attr-defined]
        assert raw == block.encode(), f"block {h} differs"
        assert cert_raw == chain.cert(h).encode(), f"certificate {h} differs"  # type: ignore
        assert store.height_of(block.id) == h
        for pos, tx in enumerate(block.payload):
            assert store.tx_location(tx.id) == (h, pos)
    nxt = chain.block(tip + 1)  # type: ignore[attr-defined]
    assert store.block_bytes_by_height(tip + 1) is None
    assert store.certificate_bytes(tip + 1) is None
    assert store.height_of(nxt.id) is None
    assert all(store.tx_location(tx.id) is None for tx in nxt.payload)
    assert dict(store.state_items()) == cw.expected_state(tip)
    assert store.state_acc == cw.acc_of(tip)
    assert store.state_root == cw.root_of(tip)
    return tip


@pytest.mark.slow
def test_sigkill_leaves_a_consistent_prefix(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    chain = cw.Chain()
    rounds = 0
    for series in range(SERIES):
        path = tmp_path / f"store{series}"
        for rnd in range(ROUNDS_PER_SERIES):
            # the first kill of a series lands around genesis initialisation
            want = 0 if rnd == 0 else rng.randint(1, 40)
            reported, stderr = run_and_kill(path, want)
            with BlockStore.open(path) as store:
                try:
                    tip = check_prefix(store, chain, reported)
                except AssertionError as exc:
                    raise AssertionError(f"seed {seed}, series {series}, round {rnd}: {exc}"
                                         f"\nwriter stderr: {stderr}") from exc
                if tip < 0:
                    store.init_genesis(chain.genesis, cw.genesis_diff())
                    tip = 0
                # the reopened store accepts the next block; the next writer resumes after it
                store.commit_block(chain.block(tip + 1), chain.cert(tip + 1),
                                   cw.diff_for(tip + 1))
                assert store.tip_height == tip + 1
            rounds += 1
    assert rounds == SERIES * ROUNDS_PER_SERIES
