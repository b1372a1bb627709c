"""Block building and objective block validity (SPEC 4 "Valid", SPEC 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daoli.core import ledger
from daoli.core.address import address_bytes_of
from daoli.core.block import Block, payload_root
from daoli.core.blockbuild import (
    block_problem,
    build_block,
    check_block,
    secret_header_signer,
)
from daoli.core.clock import cycle_start
from daoli.core.ledger import (
    apply_block,
    block_size,
    read_account,
    read_pow_difficulty,
    read_tip,
)
from daoli.core.lottery import lot, mine, pow_ok, seed
from daoli.core.mempool import Mempool
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.errors import InvalidBlock
from tests.core.ledger_factories import (
    CHAIN_ID,
    MIN_FEE,
    Chain,
    addr,
    make_cert,
    make_genesis,
    pk,
    sk,
    transfer,
)

SPONSOR = 202
MINERS = tuple(range(300, 320))


def ticket_for(chain: Chain, miner: int, *, cycle: int | None = None, sponsor: int = SPONSOR,
               offset_ms: int = 10) -> Ticket:
    tip = read_tip(chain.state)
    assert tip is not None
    c = (0 if tip.cycle is None else tip.cycle + 1) if cycle is None else cycle
    g = chain.genesis
    start = cycle_start(c, g.genesis_time_ms, g.params.cycle_ms)
    nonce = mine(seed(tip.block_id, c), pk(miner), g.params.pow_target)
    assert nonce is not None
    return Ticket(CHAIN_ID, tip.height + 1, c, tip.block_id, pk(miner), pk(sponsor), nonce,
                  start + offset_ms).signed(sk(miner))


def lineup(chain: Chain, miners: tuple[int, ...], **kw: int) -> list[Ticket]:
    """Tickets of ``miners`` in lot order (luckiest first)."""
    ts = [ticket_for(chain, m, **kw) for m in miners]
    return sorted(ts, key=lambda t: lot(seed(t.parent_id, t.cycle), t.miner_pubkey))


def last_commit(chain: Chain) -> object:
    tip = read_tip(chain.state)
    assert tip is not None
    return chain.tip_cert() if tip.height >= 1 else None


def build(chain: Chain, txs: list[Transaction] = (), n_payroll: int = 4, **kw: object):  # type: ignore[assignment]
    ts = lineup(chain, MINERS[: n_payroll + 1])
    tip = read_tip(chain.state)
    assert tip is not None
    start = cycle_start(ts[0].cycle, chain.genesis.genesis_time_ms,
                        chain.genesis.params.cycle_ms)
    args: dict[str, object] = dict(winner=ts[0], payroll=ts[1:], txs=txs,
                                   last_commit=last_commit(chain), time_ms=start + 600,
                                   sign=sk(SPONSOR))
    args.update(kw)
    return build_block(chain.state, chain.state.acc, chain.genesis, **args)  # type: ignore[arg-type]


@pytest.fixture
def chain() -> Chain:
    return Chain(make_genesis(pow_difficulty=16))


def test_built_block_is_valid_and_its_result_is_the_ledgers(chain: Chain) -> None:
    for h in range(1, 4):
        txs = [transfer(1, 2, 5_000, nonce=h - 1)]
        built = build(chain, txs)
        check = check_block(chain.state, chain.state.acc, chain.genesis, built.block)
        assert check.ok, check.reason
        direct = apply_block(chain.state, chain.state.acc, chain.genesis, built.block)
        assert built.result.diff == direct.diff
        assert check.result is not None and check.result.diff == direct.diff
        assert built.block.header.state_root == direct.diff.root
        assert built.block.height == h and built.block.payload == tuple(txs)
        assert len(built.block.payroll) == 4
        chain.state.apply(built.result.diff)
    assert read_tip(chain.state).height == 3  # type: ignore[union-attr]


def test_refused_transactions_are_skipped_with_their_successors(chain: Chain) -> None:
    good = transfer(1, 2, 1_000, nonce=0)
    broke = transfer(3, 2, 10**18, nonce=0)            # cannot pay
    after_broke = transfer(3, 2, 1, nonce=1)           # would now have a nonce gap
    replay = transfer(4, 2, 1, nonce=7)                # wrong nonce
    also_good = transfer(5, 2, 1_000, nonce=0)
    built = build(chain, [good, broke, after_broke, replay, also_good])
    assert built.block.payload == (good, also_good)
    assert set(built.skipped) == {broke, after_broke, replay}
    assert check_block(chain.state, chain.state.acc, chain.genesis, built.block).ok


def test_a_transaction_with_a_bad_signature_is_skipped_not_proposed(chain: Chain) -> None:
    """The mempool does not verify signatures; the builder must, or one forged transaction
    would make the whole proposal invalid for every trustee."""
    good = transfer(1, 2, 1_000, nonce=0)
    forged = replace(transfer(3, 2, 1_000, nonce=0), sig=transfer(3, 2, 999, nonce=0).sig)
    built = build(chain, [forged, good])
    assert built.block.payload == (good,)
    assert built.skipped == (forged,)
    assert check_block(chain.state, chain.state.acc, chain.genesis, built.block).ok


def test_payload_respects_max_block_bytes() -> None:
    chain = Chain(make_genesis(pow_difficulty=1, max_block_bytes=6_000))
    txs = [transfer(1, 2, 1, nonce=i) for i in range(60)]
    built = build(chain, txs)
    assert 0 < len(built.block.payload) < 60
    assert block_size(built.block) <= 6_000
    assert len(built.block.encode()) == block_size(built.block)
    assert check_block(chain.state, chain.state.acc, chain.genesis, built.block).ok


def test_header_time_is_raised_above_the_parent(chain: Chain) -> None:
    first = build(chain)
    chain.state.apply(first.result.diff)
    built = build(chain, time_ms=0)
    assert built.block.header.time_ms == first.block.header.time_ms + 1


def test_mempool_feeds_the_builder(chain: Chain) -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE)

    def nonce_of(pub: bytes) -> int:
        return read_account(chain.state, address_bytes_of(pub)).nonce

    for i in range(3):
        assert pool.add(transfer(1, 2, 10, nonce=i, fee=MIN_FEE * (i + 1)), nonce_of).ok
    assert pool.add(transfer(2, 1, 10, nonce=0, fee=MIN_FEE * 5), nonce_of).ok
    built = build(chain, pool.select(nonce_of, 1 << 20))
    assert [tx.nonce for tx in built.block.payload if tx.sender_pubkey == pk(1)] == [0, 1, 2]
    assert built.block.payload[0].sender_pubkey == pk(2)  # highest fee first
    chain.state.apply(built.result.diff)
    assert pool.prune(nonce_of) == 4 and len(pool) == 0


# --- check_block: every rule has a rejection ------------------------------------------------


def resign(block: Block, signer: int = SPONSOR, **changes: object) -> Block:
    header = replace(block.header, **changes)  # type: ignore[arg-type]
    return replace(block, header=secret_header_signer(sk(signer))(header))


def test_rejects_wrong_proposer(chain: Chain) -> None:
    built = build(chain)
    bad = resign(built.block, 203, proposer_pubkey=pk(203))
    assert "sponsor" in block_problem(chain.state, chain.state.acc, chain.genesis, bad)


def test_rejects_bad_proposer_signature(chain: Chain) -> None:
    built = build(chain)
    forged = replace(built.block, header=replace(built.block.header,
                                                 proposer_sig=bytes(64)))
    assert "signature" in block_problem(chain.state, chain.state.acc, chain.genesis, forged)
    # ...unless the caller says signatures were already checked (the simulator's mode)
    assert check_block(chain.state, chain.state.acc, chain.genesis, forged,
                       verify_signatures=False).ok


def test_rejects_cycle_other_than_the_winners_draw(chain: Chain) -> None:
    built = build(chain)
    bad = resign(built.block, cycle=built.block.header.cycle + 1)
    assert "draw" in block_problem(chain.state, chain.state.acc, chain.genesis, bad)


def test_rejects_future_time_only_with_a_clock(chain: Chain) -> None:
    built = build(chain)
    t = built.block.header.time_ms
    drift = chain.genesis.params.max_drift_ms
    g, b = chain.genesis, built.block
    assert check_block(chain.state, chain.state.acc, g, b, adjusted_now_ms=t - drift).ok
    why = block_problem(chain.state, chain.state.acc, g, b, adjusted_now_ms=t - drift - 1)
    assert why is not None and "ahead" in why


def test_rejects_a_ticket_outside_the_computation_window(chain: Chain) -> None:
    ts = lineup(chain, MINERS[:1], offset_ms=chain.genesis.params.phi_ms + 1)
    built = build(chain, winner=ts[0], payroll=[])
    why = block_problem(chain.state, chain.state.acc, chain.genesis, built.block)
    assert why is not None and "computation-lucky" in why


def test_rejects_a_ticket_without_work() -> None:
    chain = Chain(make_genesis(pow_difficulty=1 << 20))
    tip = read_tip(chain.state)
    assert tip is not None
    t = Ticket(CHAIN_ID, 1, 0, tip.block_id, pk(300), pk(SPONSOR), 0,
               chain.genesis.genesis_time_ms + 5).signed(sk(300))
    built = build(chain, winner=t, payroll=[])
    why = block_problem(chain.state, chain.state.acc, chain.genesis, built.block)
    assert why is not None and "work" in why
    # A retarget to difficulty 1 makes the same block valid.
    assert check_block(chain.state, chain.state.acc, chain.genesis, built.block,
                       pow_difficulty=1).ok


def test_rejects_payroll_out_of_lot_order(chain: Chain) -> None:
    ts = lineup(chain, MINERS[:4])
    built = build(chain, winner=ts[0], payroll=[ts[2], ts[1]])
    why = block_problem(chain.state, chain.state.acc, chain.genesis, built.block)
    assert why is not None and "lots" in why


def test_rejects_payroll_ticket_of_another_draw(chain: Chain) -> None:
    ts = lineup(chain, MINERS[:3])
    other = ticket_for(chain, 399, cycle=ts[0].cycle + 1)
    with pytest.raises(InvalidBlock, match="draw"):
        build(chain, winner=ts[0], payroll=[other])


def test_rejects_wrong_state_root(chain: Chain) -> None:
    built = build(chain)
    bad = resign(built.block, state_root=bytes(32))
    assert "state_root" in block_problem(chain.state, chain.state.acc, chain.genesis, bad)


def test_rejects_wrong_parent_and_height(chain: Chain) -> None:
    built = build(chain)
    assert "parent" in block_problem(chain.state, chain.state.acc, chain.genesis,
                                     resign(built.block, parent_id=bytes(32)))
    assert "height" in block_problem(chain.state, chain.state.acc, chain.genesis,
                                     resign(built.block, height=5))


def test_rejects_bad_certificate(chain: Chain) -> None:
    first = build(chain)
    chain.state.apply(first.result.diff)
    tip = read_tip(chain.state)
    assert tip is not None
    one_signer = make_cert(tip.height, tip.block_id, [pk(101)])
    with pytest.raises(InvalidBlock, match="quorum"):
        build(chain, last_commit=one_signer)
    ok = build(chain)
    assert check_block(chain.state, chain.state.acc, chain.genesis, ok.block).ok


def test_rejects_an_invalid_transaction_in_the_payload(chain: Chain) -> None:
    built = build(chain, [transfer(1, 2, 1_000, nonce=0)])
    bad_tx = transfer(1, 2, 1_000, nonce=5)
    body = replace(built.block, payload=(bad_tx,))
    bad = replace(body, header=secret_header_signer(sk(SPONSOR))(
        replace(built.block.header, payload_root=payload_root((bad_tx,)))))
    why = block_problem(chain.state, chain.state.acc, chain.genesis, bad)
    assert why is not None and why.startswith("tx 0")


def test_winner_reward_goes_to_the_winner(chain: Chain) -> None:
    built = build(chain)
    w = built.block.header.winner_ticket
    assert built.result.rewards[address_bytes_of(w.miner_pubkey)] > 0
    assert built.result.rewards[addr(SPONSOR)] > 0


# --- the difficulty in effect ------------------------------------------------------------------


def test_check_block_uses_the_difficulty_in_effect_on_the_parent_state() -> None:
    """After a retarget from 16 to 8 (two blocks showing 5 ties each, diameter 16), a ticket
    with work only at difficulty 8 is valid by default, and invalid at the genesis 16."""
    chain = Chain(make_genesis(pow_difficulty=16, epoch_blocks=2))
    for _ in range(2):
        built = build(chain)
        chain.state.apply(built.result.diff)
    assert built.result.pow_difficulty == 8 and read_pow_difficulty(chain.state) == 8
    tip = read_tip(chain.state)
    assert tip is not None
    c = tip.cycle + 1  # type: ignore[operator]
    start = cycle_start(c, chain.genesis.genesis_time_ms, chain.genesis.params.cycle_ms)
    target8, target16 = (1 << 256) // 8, (1 << 256) // 16
    for miner in range(400, 500):
        nonce = mine(seed(tip.block_id, c), pk(miner), target8)
        assert nonce is not None
        if not pow_ok(seed(tip.block_id, c), pk(miner), nonce, target16):
            break
    else:
        raise AssertionError("no key whose first nonce meets 8 but not 16")
    t = Ticket(CHAIN_ID, tip.height + 1, c, tip.block_id, pk(miner), pk(SPONSOR), nonce,
               start + 5).signed(sk(miner))
    block = build(chain, winner=t, payroll=[]).block
    assert check_block(chain.state, chain.state.acc, chain.genesis, block).ok
    why = block_problem(chain.state, chain.state.acc, chain.genesis, block, pow_difficulty=16)
    assert why is not None and "work" in why


def test_builder_drops_refused_transactions_by_index_not_by_message(
        chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    """The builder reads ``InvalidTransactionInBlock.tx_index``; the message text, which it
    used to parse, must not matter."""
    real = ledger.InvalidTransactionInBlock.__init__

    def garbled(self: ledger.InvalidTransactionInBlock, tx_index: int, reason: str) -> None:
        real(self, tx_index, reason)
        self.args = ("something unparseable",)

    monkeypatch.setattr(ledger.InvalidTransactionInBlock, "__init__", garbled)
    good, bad = transfer(1, 2, 1_000, nonce=0), transfer(3, 2, 1, nonce=9)
    built = build(chain, [bad, good])
    assert built.block.payload == (good,) and built.skipped == (bad,)


def test_block_one_at_the_genesis_time_is_valid_with_or_without_a_clock() -> None:
    """The ledger accepts block 1 at exactly genesis_time_ms (docs/protocol.md 4 and 8: the
    monotonicity rules are skipped after the genesis); check_block with a clock used to
    refuse it as "not after the parent's time", so live and syncing nodes disagreed."""
    chain = Chain(make_genesis(pow_difficulty=1))
    g = chain.genesis
    block = chain.build(cycle=0, time_ms=g.genesis_time_ms)
    assert check_block(chain.state, chain.state.acc, g, block).ok
    check = check_block(chain.state, chain.state.acc, g, block,
                        adjusted_now_ms=g.genesis_time_ms + 500)
    assert check.ok, check.reason


def test_rejects_a_winner_ticket_from_a_far_future_draw_with_a_clock(chain: Chain) -> None:
    """A ticket mined for cycle 1,000 wrapped in a header with a present time used to pass:
    once final, no draw could follow it for 1,000 cycles (or 2^64), halting the chain."""
    g = chain.genesis
    future = ticket_for(chain, MINERS[0], cycle=1_000)
    now = cycle_start(0, g.genesis_time_ms, g.params.cycle_ms) + 600
    built = build(chain, winner=future, payroll=[], time_ms=now)
    assert built.block.header.cycle == 1_000 and built.block.header.time_ms == now
    why = block_problem(chain.state, chain.state.acc, g, built.block, adjusted_now_ms=now)
    assert why is not None and "winner ticket time" in why
    # a ticket within max_drift of the clock is fine (clocks differ a little)
    near = ticket_for(chain, MINERS[0], cycle=2)
    ok = build(chain, winner=near, payroll=[], time_ms=now)
    t = near.time_ms
    assert check_block(chain.state, chain.state.acc, g, ok.block,
                       adjusted_now_ms=t - g.params.max_drift_ms).ok
