"""A trustee process for the crash-safe signing test (run as a subprocess, then SIGKILLed).

    python -m tests.node.sign_driver first  RECORD   # runs 4 machines until machine 0 has
                                                     # persisted its first vote, prints
                                                     # PERSISTED <hex>, then hangs before
                                                     # sending it (the test kills it there)
    python -m tests.node.sign_driver second RECORD   # machine 0 alone, restarted from RECORD
                                                     # (a missing file: no record): prints
                                                     # SENT <hex> for every vote it sends

Machine 0's effects are carried out as a node must: ``PersistVote``/``PersistProposal`` are
written with fsync (SignStateFile.save) before the effects after them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from daoli.machine import effects as fx
from daoli.node.signfile import SignStateFile
from tests.machine.harness import GENESIS_MS, Net


class DurableNet(Net):
    """Machine 0 persists its signing record before anything else it does."""

    record: SignStateFile
    mode: str

    def carry_out(self, i: int, effects: list[Any]) -> None:
        if i != 0:
            super().carry_out(i, effects)
            return
        for k, e in enumerate(effects):
            tp = type(e)
            if tp is fx.PersistVote or tp is fx.PersistProposal:
                self.record.save(self.machines[0].sign_state)
                if self.mode == "first" and tp is fx.PersistVote:
                    print("PERSISTED", e.vote.encode().hex(), flush=True)
                    while True:  # the crash window: signed and on disk, not yet sent
                        time.sleep(1)
            elif tp is fx.GossipVote:
                print("SENT", e.vote.encode().hex(), flush=True)
            super().carry_out(i, effects[k:k + 1])


def main() -> int:
    mode, record = sys.argv[1], sys.argv[2]
    net = DurableNet()
    net.mode = mode
    net.record = SignStateFile(Path(record))
    if mode == "second":
        net.down = {1, 2, 3}
        net.machines[0] = net._make(0, net.record.load())
    net.start()
    net.run_until(GENESIS_MS + 20_000)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
