"""Block subsidy and its split (SPEC section 5), in exact integer arithmetic.

Every share is rounded down and whatever rounding leaves over is burned, never given to
anyone: that way no participant can gain a li by choosing how many payroll tickets or
certificate signatures a block carries, and the supply accounting stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from daoli.core.params import ChainParams

WINNER_PERCENT = 40
SPONSOR_PERCENT = 10
PAYROLL_PERCENT = 20
TRUSTEES_PERCENT = 30


def subsidy(params: ChainParams, height: int) -> int:
    """``block_reward >> (height // halving_blocks)``: halves every ``halving_blocks`` blocks
    (block 1 is in the first era), and reaches 0 after 63 halvings at the latest."""
    era = height // params.halving_blocks
    return 0 if era >= 63 else params.block_reward >> era


@dataclass(frozen=True)
class RewardSplit:
    winner: int
    sponsor: int
    payroll: int
    """The payroll's total; each member gets ``payroll // n`` (see ``equal_shares``)."""
    trustees: int
    """The trustees' total, paid one block later to the certificate's signers."""
    burned: int
    """Rounding leftover of the four-way split."""


def split_subsidy(amount: int) -> RewardSplit:
    """``amount * p // 100`` for each of 40/10/20/30 percent; the rest is burned."""
    winner = amount * WINNER_PERCENT // 100
    sponsor = amount * SPONSOR_PERCENT // 100
    payroll = amount * PAYROLL_PERCENT // 100
    trustees = amount * TRUSTEES_PERCENT // 100
    return RewardSplit(winner, sponsor, payroll, trustees,
                       amount - winner - sponsor - payroll - trustees)


def equal_shares(total: int, n: int) -> tuple[int, int]:
    """(each, burned): ``total`` split among ``n`` recipients; all of it burned if n is 0."""
    if n <= 0:
        return 0, total
    each = total // n
    return each, total - each * n
