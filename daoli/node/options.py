"""What ``daoli node start`` was asked for on its command line.

Kept apart from :mod:`daoli.node.service` so the CLI can build and check options without
importing libp2p (about 1.2 s): the service module is imported only when a node really
starts. ``None`` means "not given here: take the home's config.toml, then the default".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeOptions:
    listen: str | None = None
    """libp2p listen multiaddr (overrides ``p2p_listen``)."""
    bootstrap: tuple[str, ...] = ()
    """Extra bootstrap multiaddrs with ``/p2p/`` ids (added to ``bootstrap_peers``)."""
    api: str | None = None
    """host:port of the local API (overrides ``api_listen``)."""
    trustee: bool | None = None
    """Vote as a trustee when the signer key is an active trustee (default: yes)."""
    mine: int | None = None
    """Local miner keys to mine with (default: 1 on a chain this home created, else 0)."""
    sponsor: bool | None = None
    """Accept tickets from light miners through the API (default: yes)."""
    log_level: str | None = None
    json_output: bool = False
    """Print the start-up line (peer id, addresses, API URL) as one JSON object."""
