"""The interfaces a :class:`~daoli.machine.node.NodeMachine` is built with.

They are injected so that one machine serves two adapters without forking its rules:

* the **simulator** shares one :class:`ChainView` among all nodes (validity and post-block
  state depend only on the parent state and the block, so they are computed once per block
  id) and uses stand-in signatures (:class:`TrustingVerifier`, fast signers);
* the **node** checks blocks against its own LMDB store and verifies real ECDSA
  (:class:`EcdsaVerifier`), signing with its local key or, later, a remote signer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from daoli.core.block import Block, Header
from daoli.core.blockbuild import BlockCheck
from daoli.core.crypto import pubkey_from_secret
from daoli.core.ledger import verify_commit_certificate
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate, Vote


class TipState(Protocol):
    """A ledger state with its accumulator: what ``build_block`` builds on."""

    acc: bytes

    def get(self, key: bytes) -> bytes | None: ...


class ChainView(Protocol):
    """Block validity and the states after finalized (or checked) blocks."""

    def check(self, block: Block) -> BlockCheck:
        """Objective, time-independent validity of ``block`` on its parent's state (SPEC 4).

        The reason is ``UNKNOWN_PARENT`` when the parent's state is not known (yet); such a
        result must not be cached, the parent may arrive later. Time rules are the
        machine's own (they depend on its adjusted clock).
        """
        ...

    def state_after(self, block_id: bytes) -> TipState:
        """The state after ``block_id`` (the genesis id, or a block ``check`` found valid)."""
        ...

    def voters_after(self, block_id: bytes) -> Sequence[bytes]:
        """The trustees that vote on the block after ``block_id``."""
        ...

    def difficulty_after(self, block_id: bytes) -> int:
        """The proof-of-work difficulty tickets for the block after ``block_id`` must meet."""
        ...

    def next_nonce(self, block_id: bytes, pubkey: bytes) -> int:
        """The nonce the ledger expects next from ``pubkey`` on top of ``block_id``."""
        ...


UNKNOWN_PARENT = "unknown parent"
"""``BlockCheck.reason`` for a block whose parent state the chain view does not hold."""


class Verifier(Protocol):
    """Signature checks, injected so a simulator can skip ECDSA without forking the rules.

    ``trusted`` tells the lottery to take tickets' signatures and work as checked (the
    simulator's stand-ins and modelled work); otherwise the lottery checks both itself.
    """

    trusted: bool

    def vote(self, vote: Vote) -> bool: ...

    def tx(self, tx: Transaction) -> bool: ...

    def certificate(self, cert: CommitCertificate, chain_id: str, height: int,
                    block_id: bytes, voters: Sequence[bytes]) -> None:
        """Raise InvalidBlock unless ``cert`` is a quorum of valid precommits."""
        ...


class Signer(Protocol):
    """Signs as this node's consensus key (tickets' sponsor, trustee, evidence reporter)."""

    pubkey: bytes

    def sign_vote(self, vote: Vote) -> Vote: ...

    def sign_header(self, header: Header) -> Header: ...

    def sign_tx(self, tx: Transaction) -> Transaction: ...


class EcdsaVerifier:
    """Real secp256k1 checks, as a node runs them."""

    trusted = False

    def vote(self, vote: Vote) -> bool:
        return vote.verify_sig()

    def tx(self, tx: Transaction) -> bool:
        return tx.verify_sig()

    def certificate(self, cert: CommitCertificate, chain_id: str, height: int,
                    block_id: bytes, voters: Sequence[bytes]) -> None:
        verify_commit_certificate(cert, chain_id, height, block_id, voters)


class TrustingVerifier:
    """The simulator's: stand-in signatures are taken as valid; certificates are still
    checked for quorum, height and block id."""

    trusted = True

    def vote(self, vote: Vote) -> bool:
        return True

    def tx(self, tx: Transaction) -> bool:
        return True

    def certificate(self, cert: CommitCertificate, chain_id: str, height: int,
                    block_id: bytes, voters: Sequence[bytes]) -> None:
        verify_commit_certificate(cert, chain_id, height, block_id, voters,
                                  verify_signatures=False)


class SecretSigner:
    """Signs with a secp256k1 secret held in memory (the node's ``signer_key``)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self.pubkey = pubkey_from_secret(secret)

    def sign_vote(self, vote: Vote) -> Vote:
        return vote.signed(self._secret)

    def sign_header(self, header: Header) -> Header:
        return header.signed(self._secret)

    def sign_tx(self, tx: Transaction) -> Transaction:
        return tx.signed(self._secret)
