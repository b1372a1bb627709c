"""The pure, deterministic heart of DaoliCloud: no I/O, no clocks, no randomness.

Everything consensus-critical lives below this package so that the node and the simulator
run the very same rules, and so that the rules can be tested without a network.
"""
