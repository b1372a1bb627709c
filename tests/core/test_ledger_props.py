"""Property tests: random block sequences against a tiny reference model of accounts.

The model knows user balances and nonces, and adds what the ledger reports as rewards (key
3 wins every block, so it earns new coins and can push key 4, which starts near 2^63, past
the limit); with that it predicts exactly which transfers are valid.
Every block is first tried with all generated transactions; if the model says one of them
is invalid the ledger must reject the block and change nothing, and the block is then
rebuilt with the valid ones only, which must apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from daoli.core.clock import median_int
from daoli.core.encoding import MAX_AMOUNT
from daoli.core.ledger import (
    ESTIMATE_CAP_DIAMETERS,
    MIN_POW_DIFFICULTY,
    read_account,
    total_supply,
)
from daoli.core.ledger_types import Account
from daoli.core.lottery import retarget
from daoli.core.state import compute_acc, state_root_of
from daoli.core.tx import Transaction
from daoli.errors import InvalidBlock
from tests.core.ledger_factories import MIN_FEE, Chain, addr, make_genesis, transfer

USERS = (1, 2, 3, 4)
OUTSIDERS = (60, 61)  # recipients only: no coins, never senders
START = {1: 10**9, 2: 5 * 10**6, 3: 10**4}
# key 4 holds all the rest: genesis supply plus every future reward is exactly 2^63 - 1
HUGE = MAX_AMOUNT - 4 * 1000 - sum(START.values()) - make_genesis().params.max_issuance
WINNER = 3


@dataclass
class Model:
    balances: dict[int, int]
    nonces: dict[int, int] = field(default_factory=dict)

    def copy(self) -> Model:
        return Model(dict(self.balances), dict(self.nonces))

    def apply(self, spec: TxSpec, tx: Transaction) -> bool:
        """Apply one transfer if valid; say whether it was."""
        s, to = spec.sender, spec.to
        bal = self.balances.get(s, 0)
        nonce = self.nonces.get(s, 0)
        if tx.fee < MIN_FEE or tx.nonce != nonce:
            return False
        amount = tx.body.amount  # type: ignore[attr-defined]
        if amount > MAX_AMOUNT or tx.fee + amount > bal:
            return False
        after_to = (self.balances.get(to, 0) + amount - (tx.fee + amount if to == s else 0))
        if after_to > MAX_AMOUNT:
            return False
        self.balances[s] = bal - tx.fee - amount
        self.balances[to] = self.balances.get(to, 0) + amount
        self.nonces[s] = nonce + 1
        return True


@dataclass(frozen=True)
class TxSpec:
    sender: int
    to: int
    amount_kind: str
    amount_seed: int
    nonce_kind: str
    fee_kind: str


tx_specs = st.builds(
    TxSpec,
    sender=st.sampled_from(USERS),
    to=st.sampled_from(USERS + OUTSIDERS),
    amount_kind=st.sampled_from(["small", "small", "small", "all", "all+1", "max", "2^63",
                                 "overflow"]),
    amount_seed=st.integers(0, 10**6),
    nonce_kind=st.sampled_from(["ok"] * 6 + ["replay", "ahead", "far"]),
    fee_kind=st.sampled_from(["min"] * 4 + ["more", "below"]),
).map(lambda s: replace(s, sender=WINNER, to=4) if s.amount_kind == "overflow" else s)
"""An overflow needs more coins than anyone had at genesis: only the winner earns them."""
blocks = st.lists(st.lists(tx_specs, max_size=6), min_size=1, max_size=6)


def make_tx(model: Model, spec: TxSpec) -> Transaction:
    """Turn a spec into a signed transfer, sized against the model's current view."""
    bal = model.balances.get(spec.sender, 0)
    nonce = model.nonces.get(spec.sender, 0)
    fee = {"min": MIN_FEE, "more": MIN_FEE + spec.amount_seed, "below": MIN_FEE - 1}[
        spec.fee_kind]
    amount = {
        "small": spec.amount_seed,
        "all": max(bal - fee, 0),
        "all+1": max(bal - fee, 0) + 1,
        "max": MAX_AMOUNT,
        "2^63": MAX_AMOUNT + 1,
        # just enough to push the recipient past 2^63 - 1
        "overflow": MAX_AMOUNT - model.balances.get(spec.to, 0) + 1 + spec.amount_seed % 3,
    }[spec.amount_kind]
    n = {"ok": nonce, "replay": max(nonce - 1, 0) if nonce else nonce + 1, "ahead": nonce + 1,
         "far": nonce + 1000}[spec.nonce_kind]
    return transfer(spec.sender, spec.to, amount, n, fee=fee)


def check_state(chain: Chain, model: Model) -> None:
    for i in USERS + OUTSIDERS:
        acct = read_account(chain.state, addr(i))
        assert acct == Account(model.balances.get(i, 0), model.nonces.get(i, 0))
        assert acct.balance >= 0
    chain.check_invariants()  # supply conservation and acc == from-scratch recomputation


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_random_transfer_blocks(block_specs: list[list[TxSpec]]) -> None:
    balances = {**START, 4: HUGE}
    chain = Chain(make_genesis(balances=balances, min_bond=1000, epoch_blocks=3))
    model = Model(dict(balances))
    included: list[Transaction] = []
    for specs in block_specs:
        trial = model.copy()
        txs = []
        all_valid = True
        for spec in specs:
            tx = make_tx(trial, spec)
            txs.append(tx)
            all_valid &= trial.apply(spec, tx)
        supply_before = total_supply(chain.state)
        if not all_valid:
            before = chain.snapshot()
            block = chain.build(txs)
            try:
                chain.apply(block)
            except InvalidBlock as exc:
                event(f"rejected: {str(exc).split(': ', 1)[1].split(' ')[0]}")
            else:
                raise AssertionError("the ledger accepted a block with an invalid transaction")
            assert chain.snapshot() == before  # a rejected block changes nothing
            # keep what is valid in sequence, and apply that instead
            keep = []
            for spec, tx in zip(specs, txs, strict=True):
                if model.apply(spec, tx):
                    keep.append(tx)
            txs = keep
        else:
            model = trial
        result = chain.next(txs, miner=WINNER)
        for u in USERS:
            model.balances[u] = model.balances.get(u, 0) + result.rewards.get(addr(u), 0)
        included += txs
        supply = total_supply(chain.state)
        assert supply.total == supply_before.total + result.subsidy - result.burned
        assert supply.minted - supply_before.minted == result.subsidy
        assert result.diff.root == state_root_of(compute_acc(chain.state.items()))
        check_state(chain, model)
    # replaying any included transaction is rejected
    for tx in included[-3:]:
        before = chain.snapshot()
        try:
            chain.apply(chain.build([tx]))
        except InvalidBlock as exc:
            assert "already used" in str(exc)
        else:
            raise AssertionError("a replayed transaction was accepted")
        assert chain.snapshot() == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["empty", "payroll", "partial", "transfer"]),
                          st.integers(0, 5)), min_size=1, max_size=12))
def test_supply_conserved_across_epochs_and_partial_certificates(steps: list) -> None:
    chain = Chain(make_genesis(epoch_blocks=2, halving_blocks=3, block_reward=7 * 10**8 + 3))
    nonce = 0
    for kind, k in steps:
        kw: dict = {}
        if kind == "payroll":
            kw["payroll"] = list(range(30, 30 + k))
        if kind == "partial" and chain.height >= 1:
            kw["last_commit"] = chain.tip_cert(
                sorted(chain.tip_cert().signers)[: 3 + (k % 2)])
        txs = []
        if kind == "transfer":
            txs = [transfer(1, 2 + k % 3, 10 * k, nonce)]
            nonce += 1
        before = total_supply(chain.state)
        r = chain.next(txs, **kw)
        after = total_supply(chain.state)
        assert after.total - before.total == r.subsidy - r.burned
        chain.check_invariants()


# --- proof-of-work estimates are stored saturated: that must change no retarget -------------


@settings(max_examples=400, deadline=None)
@given(old=st.integers(1, (1 << 63) - 1), diameter=st.integers(1, 64),
       raw=st.lists(st.integers(0, 1 << 70), min_size=1, max_size=40))
def test_saturated_estimates_retarget_exactly_like_raw_ones(old: int, diameter: int,
                                                            raw: list[int]) -> None:
    cap = ESTIMATE_CAP_DIAMETERS * diameter
    capped = [min(e, cap) for e in raw]
    new = retarget(old, median_int(capped), diameter, MIN_POW_DIFFICULTY)
    assert new == retarget(old, median_int(raw), diameter, MIN_POW_DIFFICULTY)
    assert max(1, old // 2) <= new <= max(1, min(2 * old, (1 << 63) - 1))
