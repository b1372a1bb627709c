"""Keys, allocations and the genesis of a devnet made from a manifest: one place for what
``daoli devnet up`` (local processes) and ``daoli devnet export`` (containers) both make, so
the two can never disagree on who is funded or who is a trustee."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.devnet.manifest import FAUCET_BALANCE, FAUCET_WALLET, Manifest
from daoli.node.home import new_secret


@dataclass(frozen=True)
class ChainKeys:
    node_keys: tuple[bytes, ...]
    """libp2p identities, one per manifest node."""
    signer_keys: tuple[bytes, ...]
    """Signer keys (trustee, sponsor, miner 0), one per manifest node."""
    wallet_keys: dict[str, bytes]
    """The manifest's wallets and the devnet's ``faucet``."""


def make_keys(manifest: Manifest) -> ChainKeys:
    """Fresh keys for every node and wallet of ``manifest``."""
    n = len(manifest.nodes)
    wallets = {w.name: new_secret() for w in manifest.wallets}
    wallets[FAUCET_WALLET] = new_secret()
    return ChainKeys(tuple(new_secret() for _ in range(n)),
                     tuple(new_secret() for _ in range(n)), wallets)


def make_genesis(manifest: Manifest, keys: ChainKeys, trustee_addrs: Sequence[str],
                 genesis_time_ms: int) -> Genesis:
    """Every trustee node a genesis trustee (bond ``min_bond``, dialled at
    ``trustee_addrs[i]``), every wallet funded with its balance, the faucet with
    FAUCET_BALANCE."""
    allocations = [Allocation(address_bytes_of(pubkey_from_secret(keys.wallet_keys[w.name])),
                              w.balance) for w in manifest.wallets]
    allocations.append(Allocation(address_bytes_of(pubkey_from_secret(
        keys.wallet_keys[FAUCET_WALLET])), FAUCET_BALANCE))
    trustees = tuple(GenesisTrustee(pubkey_from_secret(keys.signer_keys[i]),
                                    manifest.params.min_bond, trustee_addrs[i])
                     for i, spec in enumerate(manifest.nodes) if spec.trustee)
    return Genesis(manifest.chain_id, genesis_time_ms, manifest.params, tuple(allocations),
                   trustees)


__all__ = ["ChainKeys", "make_genesis", "make_keys"]
