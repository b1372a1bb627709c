"""The deterministic discrete-event simulator (``daoli sim``).

It runs the core state machines -- lottery and throttle, adjusted clocks, I-BFT, block
building and checking, the ledger -- for many trustees and miners over a simulated network
(latency models, loss, partitions, clock skew, Byzantine behaviours), with simulated time
and fake (non-ECDSA) signatures. Entry point: :func:`daoli.sim.runner.run`.
"""
