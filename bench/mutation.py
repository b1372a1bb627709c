"""Mutation run over the consensus code: does the test suite notice a small, realistic bug?

A release check (issue 13, part 7), not part of CI: it takes minutes, not seconds. Each
mutant below is one deliberate bug of the kind a reviewer could miss (an off-by-one at a
bound, a comparison turned around, a check dropped, the wrong end of a list) in
``daoli/core/{ledger,ibft,lottery,mempool,encoding,clock,blockbuild}.py`` or
``daoli/store/blockstore.py``, written as ``(file, exact original snippet, replacement,
description)``. For each one the script:

1. applies it in a private copy of the repository (the working tree is never written: the
   tree is copied once per worker into a temporary directory, the mutated file is
   rewritten there and restored after the run);
2. runs the tests that target that file (``TESTS``: tests/core and tests/store only, the
   most specific first; the simulator and node suites are left out for time), with
   ``python -m pytest -x -q -p no:cacheprovider <paths>`` and a timeout (three times the
   unmutated run of the same paths, plus a minute);
3. records **killed** (a test failed), **timeout** (counted as killed: the bug hung the
   suite, which a run notices) or **survived** (every test passed).

Before any mutant it checks that every snippet occurs exactly once in its file (it stops
with exit status 2 otherwise: update the mutant after editing the code) and that the
mutated source still compiles, then runs each set of test paths once unmutated (a failing
baseline stops the run: a mutant cannot be judged against a red suite). Property tests run
with a fixed ``--hypothesis-seed`` and an empty example database, so a verdict does not
depend on the run or on the mutants before it. ``--skip-tests PATH`` leaves a test file
out, to see what the suite catches without it (``tests/core/test_gaps.py`` and
``tests/store/test_gaps_store.py`` hold the tests written for this run's survivors).

Some mutants are known to be equivalent (the behaviour cannot change, e.g. a fast path that
falls back to an equally strict slow path); they carry the reason in ``equivalent`` and are
reported but left out of the adjusted kill rate. Exit status: 0 when every other mutant is
killed, 1 when one survives (add a test, or mark it equivalent with the reason), 2 on a
setup error.

Usage, from the repository root with the project's virtualenv::

    .venv/bin/python bench/mutation.py              # all mutants, 2 workers
    .venv/bin/python bench/mutation.py --jobs 1     # one at a time
    .venv/bin/python bench/mutation.py --only mempool-fee-not-per-byte [--only NAME ...]
    .venv/bin/python bench/mutation.py --list       # names, files, descriptions
    .venv/bin/python bench/mutation.py --json       # one JSON object on stdout

Time: about 2 minutes for the whole list on 2 idle cores (``--jobs 2``; 4 to 8 minutes on
a machine busy with other work). The long pole is the unmutated run of the encoding tests
(``test_wire.py`` and the encoding fuzzers: 50 s idle, up to 3 minutes busy), which starts
first and overlaps the other mutants; killed mutants are fast
(``-x`` stops at the first failure, mostly in a few seconds) and a survivor costs a full run
of its test paths. A single ``--only`` mutant takes its baseline plus one run: seconds,
or about a minute for an encoding mutant.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LEDGER = "daoli/core/ledger.py"
IBFT = "daoli/core/ibft.py"
LOTTERY = "daoli/core/lottery.py"
MEMPOOL = "daoli/core/mempool.py"
ENCODING = "daoli/core/encoding.py"
CLOCK = "daoli/core/clock.py"
BLOCKBUILD = "daoli/core/blockbuild.py"
BLOCKSTORE = "daoli/store/blockstore.py"

HYPOTHESIS_SEED = 0
"""Property tests draw the same examples in every run, so a verdict does not change from one
run to the next (without it ``mempool-tail-cache`` was killed in one run and not the next)."""

GAPS = "tests/core/test_gaps.py"
TESTS: dict[str, tuple[str, ...]] = {
    # The tests that target each file, the most specific first (``-x`` stops at the first
    # failure, so a killed mutant costs only the tests before the one that kills it). The
    # slowest sets come first: their baselines start first.
    ENCODING: (GAPS, "tests/core/test_encoding.py", "tests/core/test_objects.py",
               "tests/core/test_wire.py"),
    BLOCKSTORE: ("tests/store/test_gaps_store.py", "tests/store/test_blockstore.py",
                 "tests/store/test_ledger_on_store.py", "tests/store/test_crash.py"),
    LEDGER: (GAPS, "tests/core/test_ledger.py", "tests/core/test_ledger_props.py",
             "tests/core/test_blockbuild.py", "tests/core/test_state.py",
             "tests/store/test_ledger_on_store.py"),
    IBFT: (GAPS, "tests/core/test_ibft.py"),
    LOTTERY: (GAPS, "tests/core/test_lottery.py", "tests/core/test_blockbuild.py",
              "tests/core/test_ledger.py"),
    MEMPOOL: (GAPS, "tests/core/test_mempool.py", "tests/core/test_blockbuild.py"),
    CLOCK: (GAPS, "tests/core/test_clock.py", "tests/core/test_lottery.py",
            "tests/core/test_blockbuild.py", "tests/core/test_ledger.py"),
    BLOCKBUILD: (GAPS, "tests/core/test_blockbuild.py"),
}


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    description: str
    equivalent: str = ""
    """Why this mutant cannot change behaviour, if it cannot (then its survival is fine)."""


M = Mutant
MUTANTS: tuple[Mutant, ...] = (
    # --- ledger ------------------------------------------------------------------------------
    M("ledger-credit-tx-bound", LEDGER,
      "    if acct[0] + amount > MAX_AMOUNT:\n        raise InvalidTransaction(",
      "    if acct[0] + amount >= MAX_AMOUNT:\n        raise InvalidTransaction(",
      "a transfer may not fill a balance to exactly 2^63 - 1"),
    M("ledger-credit-block-bound", LEDGER,
      "    if acct[0] + amount > MAX_AMOUNT:\n        raise InvalidBlock(",
      "    if acct[0] + amount >= MAX_AMOUNT:\n        raise InvalidBlock(",
      "a reward may not fill a balance to exactly 2^63 - 1"),
    M("ledger-decode-account-bound", LEDGER,
      "if pos != len(raw) or balance > MAX_AMOUNT:",
      "if pos != len(raw) or balance >= MAX_AMOUNT:",
      "the hand-written account decoder treats 2^63 - 1 as out of range",
      equivalent="an out-of-range balance falls back to Account.decode, which accepts "
                 "2^63 - 1 and returns the same [balance, nonce]: only slower"),
    M("ledger-debit-exact-balance", LEDGER,
      "if acct[0] < cost:",
      "if acct[0] <= cost:",
      "an account cannot spend its exact balance"),
    M("ledger-debit-keeps-nonce", LEDGER,
      "    acct[0] -= cost\n    acct[1] += 1\n",
      "    acct[0] -= cost\n",
      "a paid transaction does not advance the sender's nonce (replayable)"),
    M("ledger-fee-at-min-refused", LEDGER,
      "fee < ctx.min_fee or fee > MAX_AMOUNT",
      "fee <= ctx.min_fee or fee > MAX_AMOUNT",
      "a fee of exactly min_fee is refused"),
    M("ledger-future-nonce", LEDGER,
      "    if nonce != acct[1]:\n",
      "    if nonce < acct[1]:\n",
      "a nonce ahead of the account's next one is accepted"),
    M("ledger-no-tx-signature-check", LEDGER,
      "if ctx.verify and not verify(tx.sender_pubkey",
      "if not ctx.verify and not verify(tx.sender_pubkey",
      "transaction signatures are never verified"),
    M("ledger-cert-quorum-minus-one", LEDGER,
      "if len(seen) < q:",
      "if len(seen) < q - 1:",
      "a certificate one signature short of a quorum is accepted"),
    M("ledger-cert-any-block", LEDGER,
      '    if cert.block_id != block_id:\n'
      '        raise InvalidBlock("certificate: certifies another block")\n',
      "",
      "last_commit may certify another block at the parent's height"),
    M("ledger-cert-non-voter", LEDGER,
      "        if s.trustee_pubkey not in voter_set:\n"
      '            raise InvalidBlock("certificate: a signer is not in the voting trustee set")\n',
      "",
      "signatures of non-trustees count towards the certificate's quorum"),
    M("ledger-trustee-rest-not-burned", LEDGER,
      "    each, rest = equal_shares(pending.amount, len(signers))\n    burned += rest\n",
      "    each, rest = equal_shares(pending.amount, len(signers))\n",
      "the remainder of the trustee reward vanishes instead of being burned"),
    M("ledger-epoch-off-by-one", LEDGER,
      "boundary = height % genesis.params.epoch_blocks == 0",
      "boundary = height % genesis.params.epoch_blocks == 1",
      "epoch processing one block late"),
    M("ledger-equal-parent-time", LEDGER,
      "        if h.time_ms <= tip.time_ms:\n",
      "        if h.time_ms < tip.time_ms:\n",
      "a block may carry its parent's time"),
    M("ledger-payroll-cap", LEDGER,
      "if len(block.payroll) > genesis.params.diameter - 1:",
      "if len(block.payroll) > genesis.params.diameter:",
      "a payroll of diameter tickets is accepted"),
    M("ledger-evidence-same-block", LEDGER,
      '    if a.block_id == b.block_id:\n'
      '        raise InvalidTransaction("evidence: votes are for the same block id")\n',
      "",
      "one vote sent twice is evidence of equivocation (slashes an honest trustee)"),
    M("ledger-reporter-share", LEDGER,
      "to_reporter = bond // 2",
      "to_reporter = (bond + 1) // 2",
      "the reporter's half of a slashed bond rounds up"),
    M("ledger-last-trustee-leaves", LEDGER,
      "if others == 0:",
      "if others < 0:",
      "the last bonded trustee may leave (the chain halts)"),
    # --- I-BFT ---------------------------------------------------------------------------
    M("ibft-quorum-2f+1", IBFT,
      "return n - max_faulty(n)",
      "return 2 * max_faulty(n) + 1",
      "the SPEC's q = 2f+1, unsafe when n is not 3f+1"),
    M("ibft-max-faulty", IBFT,
      "return (n - 1) // 3 if n > 0 else 0",
      "return n // 3 if n > 0 else 0",
      "f = n // 3"),
    M("ibft-skip-round-on-f", IBFT,
      "and self.book.voters_in_round(r) == self.f + 1):",
      "and self.book.voters_in_round(r) == self.f):",
      "f voters in a later round (possibly all Byzantine) pull a trustee ahead"),
    M("ibft-pol-same-round", IBFT,
      "if vr < r and (best is None or vr > best[0]):",
      "if vr <= r and (best is None or vr > best[0]):",
      "the current round's polka counts as a proof of lock"),
    M("ibft-decide-on-nil", IBFT,
      "            if count == self.q and bid:\n                self._decide(",
      "            if count == self.q:\n                self._decide(",
      "q precommits for nil decide an empty block id"),
    M("ibft-equivocator-counted-once", IBFT,
      "        signers[pub] = vote\n"
      "        return VoteAdd(CONFLICT, len(signers), len(first), evidence)",
      "        return VoteAdd(CONFLICT, 0, len(first), evidence)",
      "an equivocator's second vote is not counted (the liveness attack in VoteBook)"),
    M("ibft-flat-timeouts", IBFT,
      "return base + round_ * params.timeout_delta_ms",
      "return base",
      "timeouts do not grow with the round"),
    M("ibft-propose-rank", IBFT,
      "return my_ticket_rank <= round_ and not luckier_valid_proposal_seen",
      "return my_ticket_rank < round_ and not luckier_valid_proposal_seen",
      "failover proposers join one round late"),
    M("ibft-early-prevote-strict", IBFT,
      "and self._luckiest[0] <= self.best_luck):",
      "and self._luckiest[0] < self.best_luck):",
      "a proposal exactly as lucky as the best ticket held waits for the timeout"),
    M("ibft-far-round-bound", IBFT,
      "if r > self.round + MAX_ROUNDS_AHEAD:",
      "if r >= self.round + MAX_ROUNDS_AHEAD:",
      "votes exactly MAX_ROUNDS_AHEAD rounds ahead are not stored"),
    M("ibft-certificate-short", IBFT,
      "if not block_id or len(votes) < self.q:",
      "if not block_id or len(votes) < self.q - 1:",
      "a certificate below quorum is handed to the proposer"),
    M("ibft-votes-other-chain", IBFT,
      "if (vote.height != self.height or vote.chain_id != self.chain_id",
      "if (vote.height != self.height",
      "votes signed for another chain are counted"),
    # --- lottery -------------------------------------------------------------------------
    M("lottery-payroll-phi-end", LOTTERY,
      "if not start <= t.time_ms <= phi_end:",
      "if not start <= t.time_ms < phi_end:",
      "a payroll ticket at exactly start + phi is refused"),
    M("lottery-payroll-start", LOTTERY,
      "if not start <= t.time_ms <= phi_end:",
      "if not start < t.time_ms <= phi_end:",
      "a ticket at exactly the draw's start is refused in a block"),
    M("lottery-computation-lucky", LOTTERY,
      "return start <= time_ms <= start + phi_ms",
      "return start <= time_ms < start + phi_ms",
      "check_ticket refuses a ticket at exactly start + phi"),
    M("lottery-late-inclusive", LOTTERY,
      "if arrival_ms > t + self.delta_ms:",
      "if arrival_ms >= t + self.delta_ms:",
      "a ticket arriving exactly delta after its time is late"),
    M("lottery-target-overflow", LOTTERY,
      "if target >= 1 << 256:",
      "if target > 1 << 256:",
      "difficulty 1 (target 2^256) overflows 32 bytes"),
    M("lottery-payroll-cap", LOTTERY,
      "if len(payroll) > params.diameter - 1:",
      "if len(payroll) > params.diameter:",
      "check_payroll accepts diameter payroll tickets"),
    M("lottery-relay-one-more", LOTTERY,
      "return ACCEPT_RELAY if pos < self.diameter else ACCEPT_QUIET",
      "return ACCEPT_RELAY if pos <= self.diameter else ACCEPT_QUIET",
      "relay the diameter + 1 luckiest"),
    M("lottery-future-cycle", LOTTERY,
      "if c > cycle_of(arrival_ms, g, p.cycle_ms) + FUTURE_CYCLES:",
      "if c >= cycle_of(arrival_ms, g, p.cycle_ms) + FUTURE_CYCLES:",
      "tickets for the next cycle are dropped as from the future"),
    M("lottery-estimate-full-payroll", LOTTERY,
      "    if k < diameter:\n        return k\n",
      "    if k <= diameter:\n        return k\n",
      "a full payroll is counted, not estimated (difficulty can never rise)"),
    M("lottery-retarget-x4", LOTTERY,
      "hi = max(min(2 * old_difficulty, MAX_DIFFICULTY), lo)",
      "hi = max(min(4 * old_difficulty, MAX_DIFFICULTY), lo)",
      "a retarget may quadruple the difficulty"),
    M("lottery-first-cycle", LOTTERY,
      "self.first_cycle = max(tip_cycle + 1,",
      "self.first_cycle = max(tip_cycle,",
      "the parent's own cycle is a draw for the next height"),
    M("lottery-seed-cycle", LOTTERY,
      'return hashlib.sha256(SEED_TAG + parent_id + _u64(cycle)).digest()',
      'return hashlib.sha256(SEED_TAG + _u64(cycle) + parent_id).digest()',
      "the seed's fields in the wrong order"),
    # --- mempool -------------------------------------------------------------------------
    M("mempool-fee-not-per-byte", MEMPOOL,
      "        a = self.fee * other.size\n        b = other.fee * self.size\n",
      "        a = self.fee\n        b = other.fee\n",
      "priority by fee rather than fee per byte"),
    M("mempool-evict-lowest-nonce", MEMPOOL,
      "victim = txs.pop(max(txs))",
      "victim = txs.pop(min(txs))",
      "a full pool evicts a sender's lowest nonce (leaves a gap)"),
    M("mempool-tie-break", MEMPOOL,
      "return self.txid < other.txid",
      "return self.txid > other.txid",
      "equal priorities ordered by the larger id"),
    M("mempool-replace-bump", MEMPOOL,
      "if tx.fee * 100 < old.fee * (100 + self.replace_bump_percent):",
      "if tx.fee * 100 <= old.fee * (100 + self.replace_bump_percent):",
      "a replacement with exactly the required bump is refused"),
    M("mempool-nonce-window", MEMPOOL,
      "if tx.nonce >= base + self.max_per_sender:",
      "if tx.nonce > base + self.max_per_sender:",
      "one more queued nonce than max_per_sender"),
    M("mempool-gap-check", MEMPOOL,
      "elif tx.nonce > base and tx.nonce - 1 not in pending:",
      "elif tx.nonce > base + 1 and tx.nonce - 1 not in pending:",
      "a one-nonce gap after the next nonce is admitted"),
    M("mempool-select-budget", MEMPOOL,
      "if used + size > max_bytes:",
      "if used + size >= max_bytes:",
      "a transaction filling the byte budget exactly is left out"),
    M("mempool-evicts-better", MEMPOOL,
      "            if not mine < top.key:\n                return None\n",
      "",
      "a newcomer may evict tails better than itself when it needs several victims"),
    M("mempool-tail-cache", MEMPOOL,
      "if tx.nonce == max(txs):",
      "if tx.nonce == min(txs):",
      "the cached eviction candidate is a sender's first transaction"),
    M("mempool-count-bound", MEMPOOL,
      "and len(self._by_id) < self.max_txs:",
      "and len(self._by_id) <= self.max_txs:",
      "the pool holds max_txs + 1 transactions"),
    # --- encoding ------------------------------------------------------------------------
    M("encoding-depth-ge", ENCODING,
      "if len(remaining) > MAX_DEPTH:",
      "if len(remaining) >= MAX_DEPTH:",
      "nesting exactly MAX_DEPTH deep is refused"),
    M("encoding-depth-plus-one", ENCODING,
      "if len(remaining) > MAX_DEPTH:",
      "if len(remaining) > MAX_DEPTH + 1:",
      "nesting MAX_DEPTH + 1 deep is accepted"),
    M("encoding-long-head", ENCODING,
      "27: 1 << 32}",
      "27: 1 << 31}",
      "an 8-byte head for a value below 2^32 passes as shortest"),
    M("encoding-amount-2-63", ENCODING,
      "MAX_AMOUNT = (1 << 63) - 1",
      "MAX_AMOUNT = 1 << 63",
      "amounts up to 2^63 (not representable as a signed 64-bit integer)"),
    M("encoding-negative-uint", ENCODING,
      "if type(value) is not int or value < 0 or value > maximum:",
      "if type(value) is not int or value > maximum:",
      "negative integers pass as unsigned"),
    M("encoding-trailing-bytes", ENCODING,
      "    if pos != n:\n",
      "    if pos > n:\n",
      "bytes after the item are ignored"),
    M("encoding-string-length", ENCODING,
      "if arg > n - pos:",
      "if arg > n - pos + 1:",
      "a string one byte longer than the input passes the well-formedness check"),
    M("encoding-array-header", ENCODING,
      "    if n < 24:\n        return bytes((0x80 + n,))",
      "    if n <= 24:\n        return bytes((0x80 + n,))",
      "an array of 24 items gets a one-byte head (0x98, which is not that)"),
    M("encoding-var-bytes", ENCODING,
      "if type(value) is not bytes or len(value) > max_len:",
      "if type(value) is not bytes or len(value) >= max_len:",
      "a byte string of exactly its maximum length is refused"),
    M("encoding-no-canonical-check", ENCODING,
      '    if obj.encode() != data:  # type: ignore[attr-defined]\n'
      '        raise DecodeError(f"{name}: not the canonical encoding")\n',
      "",
      "non-canonical encodings decode (one object, several ids)"),
    M("encoding-map-keys", ENCODING,
      "and left % 2 == 0 and len(remaining) in maps:",
      "and left % 2 == 1 and len(remaining) in maps:",
      "map keys are not checked (values are)"),
    # --- clock ---------------------------------------------------------------------------
    M("clock-median-upper", CLOCK,
      "    return (s[mid - 1] + s[mid]) // 2\n",
      "    return s[mid]\n",
      "the median of an even count is the upper middle value"),
    M("clock-drift-inclusive", CLOCK,
      "if offset > self._max_drift or -offset > self._max_drift:",
      "if offset >= self._max_drift or -offset >= self._max_drift:",
      "an offset of exactly max_drift is ignored"),
    M("clock-min-peers", CLOCK,
      "        if n < self._min_peers:\n",
      "        if n <= self._min_peers:\n",
      "the clock needs min_peers + 1 peers to move"),
    M("clock-cycle-of-genesis", CLOCK,
      "    if t_ms < genesis_time_ms:\n        return -1\n",
      "    if t_ms <= genesis_time_ms:\n        return -1\n",
      "the genesis millisecond belongs to no cycle"),
    M("clock-first-cycle-floor", CLOCK,
      "return -((genesis_time_ms - t_ms) // cycle_ms)",
      "return (t_ms - genesis_time_ms) // cycle_ms",
      "first cycle starting at or after t rounds down (a started cycle)"),
    M("clock-future-inclusive", CLOCK,
      "if time_ms > adjusted_now_ms + max_drift_ms:",
      "if time_ms >= adjusted_now_ms + max_drift_ms:",
      "a header exactly max_drift ahead is refused"),
    M("clock-parent-time", CLOCK,
      "if parent_time_ms is not None and time_ms <= parent_time_ms:",
      "if parent_time_ms is not None and time_ms < parent_time_ms:",
      "a header may carry its parent's time"),
    M("clock-gc-window", CLOCK,
      "tail = block_times[-GC_WINDOW:]",
      "tail = block_times[-GC_WINDOW + 1:]",
      "gc_cycle_ms looks at 9 gaps instead of 10"),
    M("clock-evicts-newest", CLOCK,
      "_, evicted = by_peer.popitem(last=False)",
      "_, evicted = by_peer.popitem(last=True)",
      "a full clock forgets its most recently heard peer"),
    # --- block building and checking -----------------------------------------------------
    M("blockbuild-parent-time", BLOCKBUILD,
      "t_ms = max(time_ms, tip.time_ms + 1)",
      "t_ms = max(time_ms, tip.time_ms)",
      "a builder behind its parent's time reuses the parent's time"),
    M("blockbuild-payroll-cut", BLOCKBUILD,
      "roll = tuple(payroll[: max(0, genesis.params.diameter - 1)])",
      "roll = tuple(payroll[: max(0, genesis.params.diameter)])",
      "the builder keeps diameter payroll tickets"),
    M("blockbuild-keeps-successors", BLOCKBUILD,
      "drop = [tx for tx in chosen[i:] if tx.sender_pubkey == bad.sender_pubkey]",
      "drop = [bad]",
      "a refused transaction's successors stay (nonce gap), costing one rebuild each"),
    M("blockbuild-budget", BLOCKBUILD,
      "if tx.chain_id != genesis.chain_id or used + size > budget:",
      "if tx.chain_id != genesis.chain_id or used > budget:",
      "the last transaction may overflow the byte budget"),
    M("blockbuild-cycle-unchecked", BLOCKBUILD,
      "    if h.cycle != w.cycle:\n"
      '        return BlockCheck("cycle is not the winner ticket\'s draw")\n',
      "",
      "the header's cycle need not be the winner ticket's draw"),
    # --- block store ---------------------------------------------------------------------
    M("store-cert-height-only", BLOCKSTORE,
      "if cert.height != height or cert.block_id != block_id:",
      "if cert.height != height:",
      "a certificate for another block at the same height is stored"),
    M("store-parent-unchecked", BLOCKSTORE,
      "            if parent != tip[8:]:\n",
      "            if parent != tip[8:] and False:\n",
      "a block that does not extend the tip's id is stored"),
    M("store-set-cert-any-block", BLOCKSTORE,
      "if not 1 <= height < _NO_HEIGHT or stored != _h(height):",
      "if not 1 <= height < _NO_HEIGHT or stored is None:",
      "set_certificate accepts a certificate of a block stored at another height"),
    M("store-tx-position", BLOCKSTORE,
      "txn.put(tid, _TXLOC.pack(height, pos), db=txs)",
      "txn.put(tid, _TXLOC.pack(height, 0), db=txs)",
      "every transaction indexed at position 0"),
    M("store-height-gap", BLOCKSTORE,
      "if height != tip_height + 1:",
      "if height <= tip_height:",
      "a block may skip heights"),
    M("store-no-deletes", BLOCKSTORE,
      "            if value is None:\n                txn.delete(key, db=state)\n",
      "            if value is None:\n                continue\n",
      "state deletions are not applied"),
)
del M


# --- running ----------------------------------------------------------------------------

_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".hypothesis", ".mypy_cache",
                                 ".pytest_cache", ".ruff_cache", ".import_linter_cache",
                                 "*.egg-info", "*.pyc")


@dataclass
class Result:
    name: str
    file: str
    status: str
    """``killed``, ``timeout`` or ``survived``."""
    seconds: float
    killer: str
    """The first failing test (or what went wrong), empty for a survivor."""
    description: str
    equivalent: str


class SetupError(Exception):
    pass


def check_mutants(root: Path, mutants: Sequence[Mutant]) -> None:
    """Every snippet must occur exactly once and every mutated file must still compile."""
    names = [m.name for m in MUTANTS]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SetupError(f"duplicate mutant names: {', '.join(dupes)}")
    problems = []
    for m in mutants:
        if not TESTS.get(m.file):
            problems.append(f"{m.name}: no test paths for {m.file}")
            continue
        source = (root / m.file).read_text()
        count = source.count(m.original)
        if count != 1:
            problems.append(f"{m.name}: snippet found {count} times in {m.file} "
                            f"(must be exactly once): {m.original!r}")
            continue
        if m.original == m.replacement:
            problems.append(f"{m.name}: replacement equals the original")
            continue
        try:
            compile(source.replace(m.original, m.replacement), m.file, "exec")
        except SyntaxError as exc:
            problems.append(f"{m.name}: mutated {m.file} does not compile: {exc}")
    if problems:
        raise SetupError("mutants do not match the code:\n  " + "\n  ".join(problems))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of equal size must not hit a stale .pyc
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTHONPATH", None)
    return env


def run_tests(copy: Path, paths: Sequence[str], timeout: float) -> tuple[str, float, str]:
    """(``passed``/``failed``/``timeout``, seconds, first failing test or output tail)."""
    shutil.rmtree(copy / ".hypothesis", ignore_errors=True)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           f"--hypothesis-seed={HYPOTHESIS_SEED}", *paths]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=copy, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the pytest process group this call started
        proc.communicate()
        return "timeout", time.monotonic() - start, f"no result after {timeout:.0f} s"
    elapsed = time.monotonic() - start
    if proc.returncode == 0:
        return "passed", elapsed, ""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)
    if failed:
        return "failed", elapsed, failed[0]
    tail = " | ".join(line for line in out.strip().splitlines()[-3:])
    return "failed", elapsed, f"exit {proc.returncode}: {tail}"[:300]


def make_copies(n: int, base: Path) -> list[Path]:
    """``n`` copies of the repository: the first from the working tree, the others from the
    first, so all of them hold the same snapshot even while the tree is being edited."""
    first = base / "w0"
    shutil.copytree(ROOT, first, ignore=_IGNORE, symlinks=True)
    copies = [first]
    for i in range(1, n):
        copies.append(base / f"w{i}")
        shutil.copytree(first, copies[-1], symlinks=True)
    probe = subprocess.run(
        [sys.executable, "-c", "import daoli.core.ledger as m; print(m.__file__)"],
        cwd=first, env=_env(), capture_output=True, text=True, check=False)
    where = Path(probe.stdout.strip() or "?").resolve()
    if probe.returncode != 0 or first.resolve() not in where.parents:
        raise SetupError(f"in the copy, daoli is imported from {where}, not from the copy "
                         f"({probe.stderr.strip()[-200:]})")
    return copies


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(mutants: Sequence[Mutant], jobs: int, timeout: float | None) -> tuple[
        list[Result], dict[str, float], float]:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="daoli-mutation-") as tmp:
        copies = make_copies(jobs, Path(tmp))
        check_mutants(copies[0], mutants)
        pool: queue.Queue[Path] = queue.Queue()
        for c in copies:
            pool.put(c)
        lock = threading.Lock()

        # Baselines first, in TESTS order (the slowest sets are listed first); then the
        # mutants, those of the slowest sets last, so no worker idles while a long
        # baseline finishes. A mutant waits only for its own set's baseline.
        groups = list(dict.fromkeys(TESTS[f] for f in TESTS if any(m.file == f
                                                                   for m in mutants)))
        rank = {g: i for i, g in enumerate(groups)}
        baseline: dict[tuple[str, ...], float] = {}

        def base(paths: tuple[str, ...]) -> float:
            copy = pool.get()
            try:
                status, secs, why = run_tests(copy, paths, timeout or 1_800)
            finally:
                pool.put(copy)
            if status != "passed":
                raise SetupError(f"the unmutated tests fail ({why}): {' '.join(paths)}")
            with lock:
                baseline[paths] = secs
            _log(f"baseline {secs:6.1f} s  {' '.join(paths)}")
            return secs

        def one(m: Mutant, base_secs: Future[float]) -> Result:
            paths = TESTS[m.file]
            unmutated = base_secs.result()  # raises if the baseline failed
            limit = timeout or 3 * unmutated + 60
            copy = pool.get()
            target = copy / m.file
            original = target.read_text()
            try:
                target.write_text(original.replace(m.original, m.replacement))
                status, secs, why = run_tests(copy, paths, limit)
            finally:
                target.write_text(original)
                pool.put(copy)
            verdict = {"passed": "survived", "failed": "killed"}.get(status, status)
            _log(f"{verdict:8} {secs:6.1f} s  {m.name}  {why}")
            return Result(m.name, m.file, verdict, round(secs, 1), why, m.description,
                          m.equivalent)

        order = sorted(mutants, key=lambda m: -rank[TESTS[m.file]])
        with ThreadPoolExecutor(jobs) as ex:
            bases = {g: ex.submit(base, g) for g in groups}
            futures = {m.name: ex.submit(one, m, bases[TESTS[m.file]]) for m in order}
            try:
                done = {name: f.result() for name, f in futures.items()}
            except BaseException:
                ex.shutdown(wait=True, cancel_futures=True)
                raise
        results = [done[m.name] for m in mutants]
    flat = {" ".join(k): round(v, 1) for k, v in baseline.items()}
    return results, flat, time.monotonic() - start


@dataclass
class Summary:
    mutants: int
    killed: int
    timeout: int
    survived: int
    kill_rate: float
    """(killed + timed out) / mutants."""
    equivalent: int
    kill_rate_excluding_equivalent: float
    unexpected_survivors: list[str]
    wall_seconds: float


def summarize(results: Sequence[Result], wall: float) -> Summary:
    n = len(results)
    detected = sum(r.status != "survived" for r in results)
    judged = [r for r in results if not r.equivalent]
    return Summary(
        mutants=n,
        killed=sum(r.status == "killed" for r in results),
        timeout=sum(r.status == "timeout" for r in results),
        survived=n - detected,
        kill_rate=round(detected / n, 4) if n else 0.0,
        equivalent=n - len(judged),
        kill_rate_excluding_equivalent=(
            round(sum(r.status != "survived" for r in judged) / len(judged), 4)
            if judged else 0.0),
        unexpected_survivors=[r.name for r in judged if r.status == "survived"],
        wall_seconds=round(wall, 1))


def print_table(results: Sequence[Result], s: Summary) -> None:
    w = max(len(r.name) for r in results)
    print(f"{'mutant':{w}}  {'status':8}  {'secs':>6}  killed by / note")
    for r in results:
        if r.status != "survived":
            note = r.killer
        elif r.equivalent:
            note = f"EQUIVALENT: {r.equivalent}"
        else:
            note = f"SURVIVED: {r.description}"
        print(f"{r.name:{w}}  {r.status:8}  {r.seconds:6.1f}  {note}")
    print()
    print(f"{s.mutants} mutants: {s.killed} killed, {s.timeout} timed out, {s.survived} "
          f"survived; kill rate {s.kill_rate:.1%} ({s.kill_rate_excluding_equivalent:.1%} of "
          f"the {s.mutants - s.equivalent} not marked equivalent); "
          f"wall time {s.wall_seconds:.0f} s")
    if s.unexpected_survivors:
        print("unexpected survivors: " + ", ".join(s.unexpected_survivors))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this mutant (repeatable)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per run (default: 3 x the unmutated run + 60)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--skip-tests", action="append", default=[], metavar="PATH",
                    help="leave this test file out of every run (repeatable): shows what "
                         "the suite catches without it, e.g. tests/core/test_gaps.py")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    known_paths = {p for paths in TESTS.values() for p in paths}
    bad = [p for p in args.skip_tests if p not in known_paths]
    if bad:
        ap.error(f"--skip-tests: not a test path of any mutant: {', '.join(bad)}")
    for f, paths in TESTS.items():
        TESTS[f] = tuple(p for p in paths if p not in args.skip_tests)
    mutants = list(MUTANTS)
    if args.only:
        known = {m.name for m in MUTANTS}
        unknown = [n for n in args.only if n not in known]
        if unknown:
            ap.error(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
        mutants = [m for m in MUTANTS if m.name in args.only]
    try:
        check_mutants(ROOT, mutants)
    except SetupError as exc:
        _log(f"error: {exc}")
        return 2
    if args.list:
        for m in mutants:
            flag = "  [equivalent]" if m.equivalent else ""
            print(f"{m.name:32} {m.file:28} {m.description}{flag}")
        return 0
    try:
        results, baseline, wall = run(mutants, min(args.jobs, len(mutants)), args.timeout)
    except SetupError as exc:
        _log(f"error: {exc}")
        return 2
    s = summarize(results, wall)
    if args.json:
        command = ["python", "bench/mutation.py", *(argv if argv is not None else sys.argv[1:])]
        print(json.dumps({"summary": asdict(s), "baseline_seconds": baseline,
                          "command": command, "results": [asdict(r) for r in results]},
                         indent=2))
    else:
        print_table(results, s)
    return 1 if s.unexpected_survivors else 0


if __name__ == "__main__":
    sys.exit(main())
