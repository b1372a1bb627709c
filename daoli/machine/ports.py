"""The interfaces a :class:`~daoli.machine.node.NodeMachine` is built with.

They are injected so that one machine serves two adapters without forking its rules:

* the **simulator** shares one :class:`ChainView` among all nodes (validity and post-block
  state depend only on the parent state and the block, so they are computed once per block
  id) and uses stand-in signatures (:class:`TrustingVerifier`, fast signers);
* the **node** checks blocks against its own LMDB store and verifies real ECDSA
  (:class:`EcdsaVerifier`, wrapped in a :class:`CachingVerifier` so that each transaction's
  signature is verified once per node: at mempool admission, not again in every block that
  carries it), signing with its local key or, later, a remote signer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from daoli.core.block import Block, Header
from daoli.core.blockbuild import BlockCheck
from daoli.core.crypto import pubkey_from_secret
from daoli.core.ledger import verify_commit_certificate
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction
from daoli.core.vote import CommitCertificate, Vote


class TipState(Protocol):
    """A ledger state with its accumulator: what ``build_block`` builds on."""

    @property
    def acc(self) -> bytes:
        """Read-only here, so a store view that computes it satisfies the protocol too."""
        ...

    def get(self, key: bytes) -> bytes | None: ...


class ChainView(Protocol):
    """Block validity and the states after finalized (or checked) blocks."""

    def check(self, block: Block, trust_signatures: bool = False) -> BlockCheck:
        """Objective, time-independent validity of ``block`` on its parent's state (SPEC 4).

        ``trust_signatures``: the caller verified a commit certificate for ``block`` (a
        quorum of trustees checked it whole), so transaction signatures need no second
        check; everything else, the state root included, is checked as always.

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

    def ticket(self, ticket: Ticket) -> bool:
        """The ticket's signature (work is the lottery's to check)."""
        ...

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

    def ticket(self, ticket: Ticket) -> bool:
        return ticket.verify_sig()

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

    def ticket(self, ticket: Ticket) -> bool:
        return True

    def certificate(self, cert: CommitCertificate, chain_id: str, height: int,
                    block_id: bytes, voters: Sequence[bytes]) -> None:
        verify_commit_certificate(cert, chain_id, height, block_id, voters,
                                  verify_signatures=False)


DEFAULT_MAX_TXS = 200_000
"""Transaction verdicts a :class:`CachingVerifier` remembers: a few blocks' worth of a full
mempool, about 30 MB."""
DEFAULT_MAX_VOTES = 50_000
"""Vote verdicts remembered: a trustee re-gossips its votes every cycle while a height is
undecided, so the same vote arrives again and again."""


class _Verdicts:
    """A bounded id -> verdict map; the oldest insertion is forgotten first.

    Insertion order only (no refresh on a hit), so what is remembered depends on nothing
    but the sequence of ids checked: deterministic, and no clock is needed.
    """

    __slots__ = ("_items", "max_entries")

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a verdict cache needs room for at least one entry")
        self.max_entries = max_entries
        self._items: OrderedDict[bytes, bool] = OrderedDict()

    def get(self, key: bytes) -> bool | None:
        return self._items.get(key)

    def put(self, key: bytes, verdict: bool) -> None:
        items = self._items
        items[key] = verdict
        if len(items) > self.max_entries:
            items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class VerifiedIds:
    """The ids a :class:`CachingVerifier` currently remembers as verified True.

    A live view (a ``Container[bytes]``), what ``apply_block(verified_txs=...)`` and
    ``StoreChain(verified_txs=...)`` take. An id forgotten by the bound is merely verified
    again; an id seen False is never in it.
    """

    __slots__ = ("_verdicts",)

    def __init__(self, verdicts: _Verdicts) -> None:
        self._verdicts = verdicts

    def __contains__(self, key: object) -> bool:
        return type(key) is bytes and self._verdicts.get(key) is True


class CachingVerifier:
    """Any :class:`Verifier`, remembering its verdicts by object id.

    Ids are SHA-256 of the canonical encoding, signature included, so one id always names
    the same signer, signing bytes and signature, and the remembered verdict is exactly the
    one the inner verifier would give again; caching refusals too makes a replayed forgery
    cheap. Certificates are delegated unchanged (each is checked once per block anyway).
    """

    def __init__(self, inner: Verifier, *, max_txs: int = DEFAULT_MAX_TXS,
                 max_votes: int = DEFAULT_MAX_VOTES) -> None:
        self.inner = inner
        self.trusted = inner.trusted
        self._txs = _Verdicts(max_txs)
        self._votes = _Verdicts(max_votes)
        self._tickets = _Verdicts(max_votes)
        self.verified_tx_ids = VerifiedIds(self._txs)
        """Ids of transactions verified True and still remembered."""

    def tx(self, tx: Transaction) -> bool:
        """The envelope's signature, and the signatures inside the body that need no state
        (an Evidence's two votes): a node builds its proposals without checking signatures
        again, so a transaction that passes here must not be refused for a signature by
        the block's validators, or one forged transaction would stall the chain."""
        tid = tx.id
        verdict = self._txs.get(tid)
        if verdict is None:
            verdict = bool(self.inner.tx(tx))
            body = tx.body
            if verdict and type(body) is Evidence:
                verdict = self.vote(body.vote_a) and self.vote(body.vote_b)
            self._txs.put(tid, verdict)
        return verdict

    def vote(self, vote: Vote) -> bool:
        vid = vote.id
        verdict = self._votes.get(vid)
        if verdict is None:
            verdict = bool(self.inner.vote(vote))
            self._votes.put(vid, verdict)
        return verdict

    def ticket(self, ticket: Ticket) -> bool:
        tid = ticket.id
        verdict = self._tickets.get(tid)
        if verdict is None:
            verdict = bool(self.inner.ticket(ticket))
            self._tickets.put(tid, verdict)
        return verdict

    def certificate(self, cert: CommitCertificate, chain_id: str, height: int,
                    block_id: bytes, voters: Sequence[bytes]) -> None:
        self.inner.certificate(cert, chain_id, height, block_id, voters)

    @property
    def cached_txs(self) -> int:
        """Transaction verdicts remembered (True or False)."""
        return len(self._txs)

    @property
    def cached_votes(self) -> int:
        return len(self._votes)


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
