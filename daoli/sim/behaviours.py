"""Byzantine trustee behaviours the simulator can give to K of the trustees.

They are node-machine wrappers (:mod:`daoli.machine.byzantine`, where each is described);
a real node can load the same ones. This module only names them for the simulator.
"""

from __future__ import annotations

from daoli.machine.byzantine import (
    BEHAVIOURS,
    EQUIVOCATE,
    HONEST,
    LATE_EXTRA_MS,
    LATE_TICKETS,
    SILENT,
    VOTE_UNLUCKY,
    WITHHOLD,
)

__all__ = ["BEHAVIOURS", "EQUIVOCATE", "HONEST", "LATE_EXTRA_MS", "LATE_TICKETS", "SILENT",
           "VOTE_UNLUCKY", "WITHHOLD"]
