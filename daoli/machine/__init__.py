"""The node machine: one sans-I/O state machine per node, driven by the simulator and the node.

Layer 2 of the architecture (above ``daoli.core``, below store, net and node): pure like
core (no I/O, clocks, randomness or threads), but holding *node policy*: what to do with
each message, when to propose, what to relay, when to sync. See :mod:`daoli.machine.node`.
"""
