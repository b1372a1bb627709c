"""DaoliCloud services: what a provider sells on a lease, and the buyer's side of it.

Layering: ``daoli.cloud`` sits above ``daoli.net`` and ``daoli.client``; it may import core,
wallet, net and client, never node, devnet, sim or cli. Only :mod:`daoli.cloud.provider` and
:mod:`daoli.cloud.buyer` import libp2p (through :mod:`daoli.cloud.host`); the service API
(:mod:`daoli.cloud.service`), the framing (:mod:`daoli.cloud.proto`), storage and compute run
over any byte stream, so they are tested without a network.
"""
