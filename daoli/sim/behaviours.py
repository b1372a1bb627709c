"""Byzantine trustee behaviours the simulator can give to K of the trustees.

A Byzantine node runs the same honest state machines internally; its misbehaviour is what
it does on the wire (or fails to do), which is all other nodes can ever observe:

* ``silent``: crashed or absent. It sends nothing, relays nothing, proposes nothing; its
  miners' tickets die with it.
* ``equivocate``: every vote it casts goes to a third of the trustees as cast, to another
  third for a different block (another proposal, or nil), and to the last third both ways
  (the thirds rotate with height, round and vote type); when it proposes, it proposes two
  different blocks for the same ticket, one to each half (by trustee index parity). With
  K <= f this must not break safety; with K > f it may (that is what the tests record).
* ``vote-unlucky``: dissents consistently: prevotes and precommits the *least* lucky valid
  proposal it holds (nil if it holds just one), one vote per step, no equivocation. The
  incentive must make this cost it its trustee reward. Its own proposals certify the
  parent without its own precommit (the one its I-BFT machine recorded was never sent), and
  it does not propose when the others' precommits fall short of q.
* ``withhold-proposal``: votes honestly but never proposes, even when its miner won: the
  multi-core failover must finalize the height with the next ticket of the lineup.
* ``late-tickets``: relays every ticket (its own miners' included) ``delta_ms + 100`` ms
  late, so other nodes find them not communication-lucky and drop them.
"""

from __future__ import annotations

HONEST = "honest"
SILENT = "silent"
EQUIVOCATE = "equivocate"
VOTE_UNLUCKY = "vote-unlucky"
WITHHOLD = "withhold-proposal"
LATE_TICKETS = "late-tickets"

BEHAVIOURS = (SILENT, EQUIVOCATE, VOTE_UNLUCKY, WITHHOLD, LATE_TICKETS)

LATE_EXTRA_MS = 100
"""``late-tickets`` delay beyond ``delta_ms``: enough to miss every communication window."""


def check_behaviour(name: str) -> str:
    from daoli.errors import ConfigError

    if name not in BEHAVIOURS:
        raise ConfigError(f"behaviour {name!r}: choose one of {', '.join(BEHAVIOURS)}")
    return name
