"""Unit tests for every ledger rule: headers, certificates, transactions, rewards, trustees."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core import ledger
from daoli.core.encoding import MAX_AMOUNT
from daoli.core.ledger import (
    ESTIMATE_CAP_DIAMETERS,
    TX_HANDLERS,
    InvalidTransactionInBlock,
    active_trustees,
    block_size,
    check_transaction,
    genesis_diff,
    prev_active_trustees,
    quorum,
    read_account,
    read_pending_reward,
    read_pow_difficulty,
    read_pow_state,
    read_tip,
    read_trustee,
    read_trustees,
    total_supply,
    verify_commit_certificate,
)
from daoli.core.ledger_types import BONDED, KEY_POW, SLASHED, UNBONDING, Account, PowState
from daoli.core.lottery import lot, seed, time_ties_estimate
from daoli.core.params import LI_PER_DLC
from daoli.core.rewards import equal_shares, split_subsidy, subsidy
from daoli.core.state import MemoryState
from daoli.core.tx import (
    Evidence,
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
    TrusteeJoin,
    TrusteeLeave,
    UsageReceipt,
)
from daoli.core.vote import PREVOTE
from daoli.errors import ConfigError, InvalidBlock, InvalidTransaction
from tests.core.ledger_factories import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    MIN_FEE,
    MINER,
    SPONSOR,
    TRUSTEE_IDS,
    Chain,
    addr,
    make_cert,
    make_genesis,
    make_vote,
    pk,
    rebuilt,
    sign_tx,
    sk,
    transfer,
)

REWARD = 50 * LI_PER_DLC
BOND = 1_000 * LI_PER_DLC


def reject(chain: Chain, block, match: str) -> None:
    before = chain.snapshot()
    with pytest.raises(InvalidBlock, match=match):
        chain.apply(block)
    assert chain.snapshot() == before


def balance(chain: Chain, i: int) -> int:
    return read_account(chain.state, addr(i)).balance


# --- genesis ---------------------------------------------------------------------------------


def test_genesis_state(chain: Chain) -> None:
    g = chain.genesis
    tip = read_tip(chain.state)
    assert tip is not None
    assert (tip.height, tip.block_id, tip.cycle, tip.time_ms) == (0, g.id, None, GENESIS_TIME_MS)
    assert balance(chain, 1) == g.allocations[0].amount
    assert active_trustees(chain.state) == sorted(pk(i) for i in TRUSTEE_IDS)
    assert prev_active_trustees(chain.state) == []
    assert [t.pubkey for t in read_trustees(chain.state)] == sorted(pk(i) for i in TRUSTEE_IDS)
    supply = total_supply(chain.state)
    assert supply.genesis == sum(a.amount for a in g.allocations) + 4 * BOND
    assert (supply.minted, supply.burned) == (0, 0)
    chain.check_invariants()


def test_genesis_diff_is_deterministic_and_zero_allocations_are_absent() -> None:
    g = make_genesis(balances={1: 5, 2: 0})
    assert genesis_diff(g) == genesis_diff(g)
    s = MemoryState()
    s.apply(genesis_diff(g))
    assert s.get(b"A" + addr(2)) is None
    assert read_account(s, addr(2)) == Account(0, 0)


def test_genesis_active_set_honours_max_trustees_by_bond_then_order() -> None:
    g = make_genesis(trustees=(101, 102, 103), bonds={103: 2 * BOND}, max_trustees=3)
    s = MemoryState()
    s.apply(genesis_diff(g))
    assert len(active_trustees(s)) == 3


@pytest.mark.parametrize(("n", "q"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5),
                                      (10, 7), (100, 67)])
def test_quorum(n: int, q: int) -> None:
    assert quorum(n) == q
    # any two quorums share more than f = (n - 1) // 3 trustees: at least one honest
    assert 2 * q - n > (n - 1) // 3


# --- headers ---------------------------------------------------------------------------------


def test_first_blocks_apply_and_move_the_tip(chain: Chain) -> None:
    r1 = chain.next(cycle=0, time_ms=GENESIS_TIME_MS)  # block 1: any cycle >= 0, time >= genesis
    tip = read_tip(chain.state)
    assert tip is not None and (tip.height, tip.block_id, tip.cycle) == (1, r1.block_id, 0)
    assert prev_active_trustees(chain.state) == active_trustees(chain.state)
    r2 = chain.next(cycle=5)
    assert read_tip(chain.state).block_id == r2.block_id  # type: ignore[union-attr]
    chain.check_invariants()


def test_wrong_chain_height_parent(chain: Chain) -> None:
    chain.next()
    reject(chain, chain.build(chain_id="othernet"), "chain id")
    reject(chain, chain.build(height=3), "height")
    reject(chain, chain.build(parent_id=b"\x07" * 32), "parent_id")


def test_cycle_and_time_must_increase(chain: Chain) -> None:
    chain.next(cycle=3, time_ms=GENESIS_TIME_MS + 3000)
    reject(chain, chain.build(cycle=3), "cycle")
    reject(chain, chain.build(time_ms=GENESIS_TIME_MS + 3000), "time_ms")
    chain.next(cycle=4, time_ms=GENESIS_TIME_MS + 3001)


def test_block_one_time_not_before_genesis(chain: Chain) -> None:
    reject(chain, chain.build(time_ms=GENESIS_TIME_MS - 1), "genesis time")


def test_body_must_match_roots(chain: Chain) -> None:
    block = chain.build([transfer(1, 2, 10, 0)])
    reject(chain, replace(block, payload=()), "payload_root")
    reject(chain, replace(block, payroll=chain.build(payroll=[30]).payroll), "payroll_root")
    chain.next()
    b3 = chain.build()
    reject(chain, replace(b3, last_commit=chain.tip_cert(pk(i) for i in TRUSTEE_IDS[:3])),
           "last_commit_root")


def test_block_size_is_exact_and_bounded() -> None:
    chain = Chain(make_genesis(max_block_bytes=2_000))
    chain.next(payroll=[30, 31])
    block = chain.build([transfer(1, 2, 1, n, memo=b"m" * 250) for n in range(5)])
    assert block_size(block) == len(block.encode())
    assert block_size(block) == len(type(block).decode(block.encode()).encode())
    reject(chain, block, "max_block_bytes")
    chain.next([transfer(1, 2, 1, 0)])


def test_state_root_is_checked(chain: Chain) -> None:
    block = chain.build([transfer(1, 2, 10, 0)], state_root=b"\x01" * 32)
    reject(chain, block, "state_root")
    result = chain.apply(block, check_state_root=False)
    assert result.diff.root == chain.state.root


def test_winner_ticket_and_proposer_checks(chain: Chain) -> None:
    block = chain.build()
    reject(chain, rebuilt(block, proposer_pubkey=pk(MINER)), "sponsor")
    bad_ticket = replace(block.header.winner_ticket, height=7).signed(sk(MINER))
    reject(chain, rebuilt(block, winner_ticket=bad_ticket), "winner ticket")
    forged = replace(block.header.winner_ticket, sig=block.header.winner_ticket.sig[:-1] + b"x")
    reject(chain, rebuilt(block, winner_ticket=forged), "ticket signature")
    bad_sig = replace(block, header=replace(block.header, proposer_sig=b"\x01" * 64))
    reject(chain, bad_sig, "proposer signature")
    chain.apply(bad_sig, verify_signatures=False)  # trusted replay skips signatures


def test_payroll_checks(chain: Chain) -> None:
    reject(chain, chain.build(payroll=list(range(30, 46))), "diameter")  # 16 > 15
    reject(chain, chain.build(payroll=[30, 30]), "twice")
    reject(chain, chain.build(payroll=[MINER]), "twice")
    block = chain.build(payroll=[30])
    other_draw = replace(block.payroll[0], cycle=99).signed(sk(30))
    from daoli.core.block import payroll_root
    reject(chain, rebuilt(replace(block, payroll=(other_draw,)),
                          payroll_root=payroll_root([other_draw])), "draw")


# --- certificates ------------------------------------------------------------------------------


def test_last_commit_presence(chain: Chain) -> None:
    chain.next()
    reject(chain, chain.build(last_commit=None), "required")
    fresh = Chain()
    cert = make_cert(0, fresh.genesis.id, [pk(i) for i in TRUSTEE_IDS])
    reject(fresh, fresh.build(last_commit=cert), "block 1")


def test_certificate_rules(chain: Chain) -> None:
    chain.next()
    tip = read_tip(chain.state)
    assert tip is not None
    voters = prev_active_trustees(chain.state)
    reject(chain, chain.build(last_commit=chain.tip_cert(voters[:2])), "quorum")
    reject(chain, chain.build(last_commit=chain.tip_cert([*voters[:2], pk(99)])), "not in")
    reject(chain, chain.build(last_commit=make_cert(tip.height, b"\x05" * 32, voters)),
           "another block")
    reject(chain, chain.build(last_commit=make_cert(tip.height + 1, tip.block_id, voters)),
           "height")
    good = chain.tip_cert(voters[:3])
    forged = replace(good, sigs=(*good.sigs[:2], replace(good.sigs[2], time_ms=1)))
    reject(chain, chain.build(last_commit=forged), "precommit signature")
    dup = replace(good, sigs=(good.sigs[0], *good.sigs[:2]))
    with pytest.raises(InvalidBlock, match="twice"):
        verify_commit_certificate(dup, CHAIN_ID, tip.height, tip.block_id, voters)
    with pytest.raises(InvalidBlock, match="no trustees"):
        verify_commit_certificate(good, CHAIN_ID, tip.height, tip.block_id, [])
    chain.next(last_commit=good)  # exactly a quorum


# --- transactions ------------------------------------------------------------------------------


def test_transfer_moves_amount_and_fee_goes_to_winner(chain: Chain) -> None:
    b1, b2, w = balance(chain, 1), balance(chain, 2), balance(chain, MINER)
    r = chain.next([transfer(1, 2, 12_345, 0, fee=5_000), transfer(1, 2, 1, 1)])
    assert balance(chain, 1) == b1 - 12_345 - 5_000 - 1 - MIN_FEE
    assert balance(chain, 2) == b2 + 12_346
    assert read_account(chain.state, addr(1)).nonce == 2
    assert r.fees == 6_000
    assert balance(chain, MINER) == w + split_subsidy(REWARD).winner + 6_000
    chain.check_invariants()


def test_transfer_to_self_and_new_account(chain: Chain) -> None:
    b1 = balance(chain, 1)
    chain.next([transfer(1, 1, 500, 0), transfer(1, 77, 400, 1)])
    assert balance(chain, 1) == b1 - 2 * MIN_FEE - 400
    assert balance(chain, 77) == 400
    chain.check_invariants()


@pytest.mark.parametrize(("tx", "match"), [
    (transfer(1, 2, 1, 0, chain_id="othernet"), "chain id"),
    (transfer(1, 2, 1, 0, fee=MIN_FEE - 1), "min_fee"),
    (transfer(1, 2, 1, 1), "out of order"),
    (transfer(9, 2, 0, 0), "insufficient"),  # key 9 has no coins
    (transfer(1, 2, MAX_AMOUNT, 0), "insufficient"),
    (transfer(1, 2, MAX_AMOUNT + 1, 0), "amount"),
    (transfer(1, 2, 1, 0, fee=MAX_AMOUNT + 1), "fee"),
    (replace(transfer(1, 2, 1, 0), sig=transfer(1, 2, 2, 0).sig), "bad signature"),
    (replace(transfer(1, 2, 1, 0), sender_pubkey=pk(2)), "bad signature"),
])
def test_invalid_transactions(chain: Chain, tx: Transaction, match: str) -> None:
    with pytest.raises(InvalidTransaction, match=match):
        check_transaction(chain.state, chain.genesis, tx, 1)
    reject(chain, chain.build([transfer(3, 4, 1, 0), tx]), f"tx 1: .*{match}")


def test_exact_balance_can_be_spent_but_not_one_more() -> None:
    chain = Chain(make_genesis(balances={1: 10_000}))
    reject(chain, chain.build([transfer(1, 2, 10_000 - MIN_FEE + 1, 0)]), "insufficient")
    chain.next([transfer(1, 2, 10_000 - MIN_FEE, 0)])
    assert balance(chain, 1) == 0
    assert read_account(chain.state, addr(1)) == Account(0, 1)  # kept: the nonce matters
    chain.check_invariants()


def test_no_balance_can_overflow_because_genesis_bounds_all_issuance() -> None:
    # genesis supply + every future reward may reach 2^63 - 1 but not pass it
    issuance = make_genesis().params.max_issuance
    top = MAX_AMOUNT - issuance - 4 * 1000  # four trustee bonds of 1000 li
    chain = Chain(make_genesis(balances={1: top - 10**9, 2: 10**9}, min_bond=1000))
    with pytest.raises(ConfigError, match="2\\^63"):
        make_genesis(balances={1: top - 10**9 + 1, 2: 10**9}, min_bond=1000)
    chain.next(miner=2)
    chain.next([transfer(2, 1, balance(chain, 2) - MIN_FEE, 0)], miner=1)
    assert MAX_AMOUNT - issuance < balance(chain, 1) <= MAX_AMOUNT


def test_replayed_nonce_rejected(chain: Chain) -> None:
    tx = transfer(1, 2, 5, 0)
    chain.next([tx])
    reject(chain, chain.build([tx]), "already used")
    reject(chain, chain.build([transfer(1, 2, 5, 1), transfer(1, 2, 5, 1)]), "tx 1: .*already")
    with pytest.raises(InvalidTransaction, match="already used"):
        check_transaction(chain.state, chain.genesis, tx, 2)


def test_verify_signatures_false_skips_tx_signatures(chain: Chain) -> None:
    tx = replace(transfer(1, 2, 1, 0), sig=b"\x00" * 64)
    block = chain.build([tx])
    reject(chain, block, "bad signature")
    chain.apply(block, verify_signatures=False)


def test_check_transaction_nonce_ahead(chain: Chain) -> None:
    check_transaction(chain.state, chain.genesis, transfer(1, 2, 1, 0), 1)
    with pytest.raises(InvalidTransaction, match="out of order"):
        check_transaction(chain.state, chain.genesis, transfer(1, 2, 1, 3), 1)
    check_transaction(chain.state, chain.genesis, transfer(1, 2, 1, 3), 1, nonce_ahead=3)
    with pytest.raises(InvalidTransaction):
        check_transaction(chain.state, chain.genesis, transfer(1, 2, 1, 4), 1, nonce_ahead=3)


@pytest.mark.parametrize("body, match", [
    (ResourceOffer(1, 1, 1, 1, 1, 1, 0, 10, "x"), "capacity must be at least 1"),
    (ResourceOrder(1, 1, 1, 1, 2, 1, 1), "does not cover one block"),
    (LeaseClose(b"\x00" * 32), "unknown lease"),
    (UsageReceipt(b"\x00" * 32, 1, 1, b"\x00" * 64), "unknown lease"),
    (OfferCancel(b"\x00" * 32), "unknown offer"),
])
def test_market_kinds_are_enabled_and_checked(chain: Chain, body, match: str) -> None:
    """The market is on (tests/core/test_market.py covers it); its rejections are the
    ledger's usual ones, for the mempool and for blocks alike."""
    assert type(body) in TX_HANDLERS
    tx = sign_tx(1, body, 0)
    with pytest.raises(InvalidTransaction, match=match):
        check_transaction(chain.state, chain.genesis, tx, 1)
    reject(chain, chain.build([tx]), match)


def test_signing_bytes_shortcut_matches_the_transaction() -> None:
    g = make_genesis()
    ctx = ledger._Ctx(g, 1, True)
    for tx in [transfer(1, 2, 3, 4, memo=b"x" * 100), sign_tx(1, TrusteeLeave(), 70_000),
               sign_tx(2, TrusteeJoin(BOND, "/dns/x"), 2**40, fee=2**62),
               replace(transfer(1, 2, 3, 4), sig=b"")]:
        assert ledger._tx_signing_bytes(tx, ctx) == tx.signing_bytes()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_AMOUNT), st.integers(0, 2**64 - 1))
def test_hand_made_account_codec_matches_the_record(bal: int, nonce: int) -> None:
    data = Account(bal, nonce).encode()
    assert ledger._encode_account(bal, nonce) == data
    assert ledger._decode_account(data) == [bal, nonce]


# --- rewards -------------------------------------------------------------------------------------


def test_subsidy_halving_and_split() -> None:
    g = make_genesis(halving_blocks=10)
    assert subsidy(g.params, 1) == REWARD
    assert subsidy(g.params, 10) == REWARD // 2
    assert subsidy(g.params, 25) == REWARD // 4
    assert subsidy(g.params, 10 * 64) == 0
    s = split_subsidy(REWARD)
    assert (s.winner, s.sponsor, s.payroll, s.trustees, s.burned) == (
        REWARD * 4 // 10, REWARD // 10, REWARD // 5, REWARD * 3 // 10, 0)
    odd = split_subsidy(7)
    assert odd.winner + odd.sponsor + odd.payroll + odd.trustees + odd.burned == 7
    assert (odd.winner, odd.sponsor, odd.payroll, odd.trustees, odd.burned) == (2, 0, 1, 2, 2)
    assert equal_shares(10, 3) == (3, 1)
    assert equal_shares(10, 0) == (0, 10)


def test_block_rewards_and_payroll(chain: Chain) -> None:
    r = chain.next(payroll=[30, 31, 32])
    s = split_subsidy(REWARD)
    each, rest = equal_shares(s.payroll, 3)
    assert balance(chain, MINER) == s.winner
    assert balance(chain, SPONSOR) == s.sponsor
    assert [balance(chain, i) for i in (30, 31, 32)] == [each] * 3
    assert r.burned == rest
    assert read_pending_reward(chain.state).amount == s.trustees
    supply = total_supply(chain.state)
    assert (supply.minted, supply.burned) == (REWARD, rest)
    chain.check_invariants()


def test_empty_payroll_is_burned(chain: Chain) -> None:
    r = chain.next()
    assert r.burned == split_subsidy(REWARD).payroll
    chain.check_invariants()


def test_trustee_reward_paid_next_block_to_signers_only(chain: Chain) -> None:
    chain.next()
    signers = prev_active_trustees(chain.state)[:3]
    absent = prev_active_trustees(chain.state)[3]
    r = chain.next(last_commit=chain.tip_cert(signers))
    each, rest = equal_shares(split_subsidy(REWARD).trustees, 3)
    for p in signers:
        assert r.rewards[ledger._address(p)] == each
    assert ledger._address(absent) not in r.rewards
    assert r.trustee_reward_paid == 3 * each
    assert r.burned == split_subsidy(REWARD).payroll + rest
    chain.check_invariants()


# --- trustees ------------------------------------------------------------------------------------


def join(i: int, nonce: int = 0, bond: int = BOND, funder: int = 1) -> list[Transaction]:
    """Fund key i from ``funder`` (nonce given) and have it join."""
    return [transfer(funder, i, bond + 10 * MIN_FEE, nonce),
            sign_tx(i, TrusteeJoin(bond, f"/ip4/127.0.0.1/tcp/{i}"), 0)]


def small_epochs(**kw: int) -> Chain:
    return Chain(make_genesis(epoch_blocks=4, unbond_epochs=1, **kw))


def test_join_becomes_active_at_next_boundary() -> None:
    chain = small_epochs()
    chain.next(join(50))  # height 1
    t = read_trustee(chain.state, pk(50))
    assert t is not None and (t.bond, t.status, t.join_height, t.join_index) == (BOND, BONDED,
                                                                                 1, 1)
    assert balance(chain, 50) == 9 * MIN_FEE
    assert pk(50) not in active_trustees(chain.state)
    chain.advance_to(3)
    assert pk(50) not in active_trustees(chain.state)
    r = chain.next()  # height 4: boundary
    assert r.epoch_boundary and pk(50) in r.active_trustees
    assert pk(50) in active_trustees(chain.state)
    assert pk(50) not in prev_active_trustees(chain.state)  # did not vote on block 4
    chain.next()  # block 5's certificate is by the old set
    assert pk(50) in prev_active_trustees(chain.state)
    chain.next()  # block 6's certificate includes the new trustee
    chain.check_invariants()


def test_join_rules() -> None:
    chain = small_epochs()
    reject(chain, chain.build([sign_tx(1, TrusteeJoin(BOND - 1, "x"), 0)]), "min_bond")
    reject(chain, chain.build([sign_tx(TRUSTEE_IDS[0], TrusteeJoin(BOND, "x"), 0)]),
           "already registered")
    chain.next(join(50))
    reject(chain, chain.build([sign_tx(50, TrusteeJoin(BOND, "x"), 1)]), "already registered")
    reject(chain, chain.build([sign_tx(60, TrusteeJoin(BOND, "x"), 0)]), "insufficient")


def test_joining_on_a_boundary_block_is_active_right_after() -> None:
    chain = small_epochs()
    chain.advance_to(3)
    r = chain.next(join(50))  # height 4
    assert pk(50) in r.active_trustees


def test_leave_unbond_and_return() -> None:
    chain = small_epochs()
    t0 = TRUSTEE_IDS[0]
    chain.next([transfer(1, t0, 10 * MIN_FEE, 0)])
    chain.next([sign_tx(t0, TrusteeLeave(), 0)])  # height 2
    assert read_trustee(chain.state, pk(t0)).status_name == "leaving"  # type: ignore[union-attr]
    assert pk(t0) in active_trustees(chain.state)
    reject(chain, chain.build([sign_tx(t0, TrusteeLeave(), 1)]), "already leaving")
    chain.advance_to(4)  # boundary of epoch 1: out, unbonding until epoch 2
    t = read_trustee(chain.state, pk(t0))
    assert t is not None and t.status == UNBONDING and t.release_epoch == 2
    assert pk(t0) not in active_trustees(chain.state)
    chain.advance_to(6)
    b6 = balance(chain, t0)
    chain.advance_to(7)
    assert balance(chain, t0) == b6  # no longer votes, so no more trustee rewards
    r = chain.next()  # height 8: epoch 2, the bond returns
    assert r.bonds_returned == {addr(t0): BOND}
    assert addr(t0) not in r.rewards
    assert balance(chain, t0) == b6 + BOND
    assert read_trustee(chain.state, pk(t0)) is None
    assert pk(t0) not in [t.pubkey for t in read_trustees(chain.state)]
    chain.check_invariants()


def test_leave_rules() -> None:
    chain = small_epochs()
    reject(chain, chain.build([sign_tx(1, TrusteeLeave(), 0)]), "not a registered")
    solo = Chain(make_genesis(trustees=(101,), balances={1: 10**12, 101: 10**9}))
    reject(solo, solo.build([sign_tx(101, TrusteeLeave(), 0)]), "last bonded trustee")


def test_max_trustees_picks_highest_bond_then_earliest_join() -> None:
    chain = small_epochs(max_trustees=5)
    # 50 and 51 join with the same bond, 51 first; 52 bonds more than everyone
    txs = [transfer(1, 51, BOND + 10 * MIN_FEE, 0), transfer(1, 50, BOND + 10 * MIN_FEE, 1),
           transfer(1, 52, 3 * BOND, 2),
           sign_tx(51, TrusteeJoin(BOND, "a"), 0), sign_tx(50, TrusteeJoin(BOND, "b"), 0),
           sign_tx(52, TrusteeJoin(2 * BOND, "c"), 0)]
    chain.next(txs)
    chain.advance_to(4)
    active = active_trustees(chain.state)
    assert pk(52) in active  # highest bond
    # genesis trustees (height 0) beat 51 (height 1, index 3), which beats 50 (index 4)
    assert set(active) == {pk(52), *(pk(i) for i in TRUSTEE_IDS)}
    chain.check_invariants()


def evidence_tx(reporter: int, nonce: int, trustee: int, *, height: int = 1,
                same: bool = False, vtype: int = PREVOTE, round_b: int = 0) -> Transaction:
    a = make_vote(trustee, height, b"\x01" * 32, vtype=vtype)
    b = make_vote(trustee, height, (b"\x01" if same else b"\x02") * 32, vtype=vtype,
                  round=round_b)
    return sign_tx(reporter, Evidence(a, b), nonce)


def test_evidence_slashes_and_removes_at_boundary() -> None:
    chain = small_epochs()
    victim = TRUSTEE_IDS[1]
    b1 = balance(chain, 1)
    r = chain.next([evidence_tx(1, 0, victim)])
    assert balance(chain, 1) == b1 - MIN_FEE + BOND // 2
    t = read_trustee(chain.state, pk(victim))
    assert t is not None and t.status == SLASHED and t.bond == 0
    assert r.slashed == BOND and r.burned >= BOND - BOND // 2
    supply = total_supply(chain.state)
    assert supply.slashed == BOND
    assert pk(victim) in active_trustees(chain.state)  # until the boundary
    reject(chain, chain.build([evidence_tx(1, 1, victim)]), "already slashed")
    chain.advance_to(4)
    assert pk(victim) not in active_trustees(chain.state)
    assert read_trustee(chain.state, pk(victim)) is not None  # kept: no rejoin, no 2nd slash
    reject(chain, chain.build([sign_tx(victim, TrusteeJoin(BOND, "x"), 0)]), "already")
    chain.check_invariants()


def test_evidence_rules() -> None:
    chain = small_epochs()
    t = TRUSTEE_IDS[0]
    reject(chain, chain.build([evidence_tx(1, 0, t, same=True)]), "same block")
    reject(chain, chain.build([evidence_tx(1, 0, t, round_b=1)]), "differ")
    reject(chain, chain.build([evidence_tx(1, 0, 77)]), "not a registered")
    a = make_vote(t, 1, b"\x01" * 32)
    b = make_vote(TRUSTEE_IDS[1], 1, b"\x02" * 32)
    reject(chain, chain.build([sign_tx(1, Evidence(a, b), 0)]), "different trustees")
    forged = replace(make_vote(t, 1, b"\x02" * 32), time_ms=5)
    reject(chain, chain.build([sign_tx(1, Evidence(a, forged), 0)]), "vote signature")
    other = make_vote(t, 1, b"\x02" * 32, chain_id="othernet")
    reject(chain, chain.build([sign_tx(1, Evidence(a, other), 0)]), "this chain")
    nil = make_vote(t, 1, b"")
    chain.next([sign_tx(1, Evidence(a, nil), 0)])  # a block vote and a nil vote conflict too


def test_evidence_against_unbonding_trustee() -> None:
    chain = Chain(make_genesis(epoch_blocks=4, unbond_epochs=3))
    t0 = TRUSTEE_IDS[0]
    chain.next([transfer(1, t0, 10 * MIN_FEE, 0), sign_tx(t0, TrusteeLeave(), 0)])
    chain.advance_to(4)
    assert read_trustee(chain.state, pk(t0)).status == UNBONDING  # type: ignore[union-attr]
    chain.next([evidence_tx(2, 0, t0)])
    assert read_trustee(chain.state, pk(t0)).status == SLASHED  # type: ignore[union-attr]
    chain.advance_to(16)  # past the release epoch: nothing is returned
    assert read_trustee(chain.state, pk(t0)) is not None
    chain.check_invariants()


def test_result_reports_rewards(chain: Chain) -> None:
    r = chain.next(payroll=[30])
    assert r.subsidy == REWARD and r.height == 1 and r.block_id == chain.blocks[-1].id
    assert r.rewards[addr(MINER)] == split_subsidy(REWARD).winner
    assert r.trustee_reward_pending == split_subsidy(REWARD).trustees


# --- proof-of-work retarget (SPEC 3) ---------------------------------------------------------

POOL = tuple(range(300, 500))


def luckiest(chain: Chain, k: int) -> list[int]:
    """The ``k`` key ids of POOL with the smallest lots in the next block's draw: as a
    winner and payroll they make the block's time-tie estimate about 200, far above k."""
    tip = read_tip(chain.state)
    assert tip is not None
    sd = seed(tip.block_id, 0 if tip.cycle is None else tip.cycle + 1)
    return sorted(POOL, key=lambda i: lot(sd, pk(i)))[:k]


def test_genesis_holds_the_genesis_difficulty_and_no_estimates() -> None:
    chain = Chain(make_genesis(pow_difficulty=777))
    assert read_pow_difficulty(chain.state) == 777
    assert read_pow_state(chain.state) == PowState(777, ())
    assert chain.state.get(KEY_POW) == PowState(777).encode()
    with pytest.raises(InvalidBlock):
        read_pow_difficulty(MemoryState())


def test_difficulty_halves_at_most_and_is_unchanged_mid_epoch() -> None:
    chain = Chain(make_genesis(pow_difficulty=64, epoch_blocks=4, diameter=8))
    for h in (1, 2, 3):
        r = chain.next()  # no payroll: the block shows one time tie
        assert r.pow_difficulty == 64 and read_pow_difficulty(chain.state) == 64
        assert read_pow_state(chain.state).estimates == (1,) * h  # type: ignore[union-attr]
    r = chain.next()
    # median 1 of diameter 8 would give 64 * 1 // 8 = 8: clamped to half
    assert r.epoch_boundary and r.pow_difficulty == 32
    assert read_pow_state(chain.state) == PowState(32, ())  # estimates reset
    chain.check_invariants()


def test_difficulty_doubles_at_most() -> None:
    d = 8
    chain = Chain(make_genesis(pow_difficulty=100, epoch_blocks=3, diameter=d))
    raw = []
    for _ in range(3):
        ids = luckiest(chain, d)
        r = chain.next(miner=ids[0], payroll=ids[1:])
        b = chain.blocks[-1]
        raw.append(time_ties_estimate(b.header.winner_ticket, b.payroll, d))
        if len(raw) < 3:
            assert r.pow_difficulty == 100
            assert read_pow_state(chain.state).estimates == tuple(  # type: ignore[union-attr]
                min(e, ESTIMATE_CAP_DIAMETERS * d) for e in raw)
    assert sorted(raw)[1] > 2 * d  # the k-th lot of the 8 luckiest of 200: ~200 ties
    assert r.pow_difficulty == 200
    assert read_pow_state(chain.state) == PowState(200, ())


def test_retarget_moves_by_the_median_ratio_inside_the_clamp() -> None:
    """Estimates 3, 12, 5 (payrolls of 2, 11, 4 below diameter 16): median 5 -> 16 * 5 // 16."""
    chain = Chain(make_genesis(pow_difficulty=16, epoch_blocks=3))
    for n in (2, 11):
        chain.next(payroll=list(range(30, 30 + n)))
    r = chain.next(payroll=list(range(30, 34)))
    assert r.pow_difficulty == 8  # 16 * 5 // 16 = 5, clamped to half: 8
    chain2 = Chain(make_genesis(pow_difficulty=16, epoch_blocks=3, diameter=8))
    for n in (4, 6, 5):  # estimates 5, 7, 6 -> median 6 -> 16 * 6 // 8 = 12
        r = chain2.next(payroll=list(range(30, 30 + n)))
    assert r.pow_difficulty == 12


def test_difficulty_never_drops_below_one() -> None:
    chain = Chain(make_genesis(pow_difficulty=2, epoch_blocks=1, diameter=8))
    assert [chain.next().pow_difficulty for _ in range(3)] == [1, 1, 1]


def test_pow_record_is_in_the_state_root() -> None:
    chain = Chain(make_genesis(epoch_blocks=4))
    chain.next()
    a = chain.build()
    b_state = chain.state.copy()
    b_state.apply(ledger.make_diff(b_state, b_state.acc, {KEY_POW: PowState(5, (1,)).encode()}))
    assert b_state.root != chain.state.root
    with pytest.raises(InvalidBlock, match="state_root"):
        ledger.apply_block(b_state, b_state.acc, chain.genesis, a)
    chain.apply(a)
    chain.check_invariants()


def test_corrupt_pow_record_is_refused() -> None:
    chain = Chain(make_genesis(epoch_blocks=4))
    chain.next()
    for value in (PowState(5, ()).encode(), None):  # wrong estimate count; missing record
        st = chain.state.copy()
        st.apply(ledger.make_diff(st, st.acc, {KEY_POW: value}))
        with pytest.raises(InvalidBlock, match="corrupt"):
            ledger.apply_block(st, st.acc, chain.genesis, chain.build(),
                               check_state_root=False)


def test_refused_transaction_carries_its_index(chain: Chain) -> None:
    block = chain.build([transfer(1, 2, 5, 0), transfer(1, 2, 5, 7)])
    with pytest.raises(InvalidTransactionInBlock, match=r"^tx 1: nonce") as info:
        chain.apply(block)
    assert info.value.tx_index == 1 and isinstance(info.value, InvalidBlock)
