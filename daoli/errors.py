"""The package's own exceptions.

Every error a user or a peer can provoke is one of these, so front ends can turn it into a
one-line message and the exit code the CLI contract fixes (0 ok, 1 failed, 2 bad usage or
input, 3 node unreachable, 4 timed out), and network code can drop and count bad input
without catching bare ``Exception``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4


class DaoliError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with when this reaches it."""

    exit_code: int = EXIT_FAILED


class DecodeError(DaoliError):
    """Bytes that are not a well-formed, canonical encoding of the expected object."""

    exit_code = EXIT_USAGE


class AddressError(DaoliError):
    """A malformed ``dlc1...`` address: wrong prefix, checksum, characters or length."""

    exit_code = EXIT_USAGE


class InvalidKey(DaoliError):
    """A malformed public or private key."""

    exit_code = EXIT_USAGE


class SignatureError(DaoliError):
    """A signature that does not verify, or is not 64-byte compact low-S."""


class ValidationError(DaoliError):
    """A well-formed object that breaks a protocol rule."""


class InvalidTransaction(ValidationError):
    """A transaction the ledger refuses; the message says which rule it breaks."""


class InvalidBlock(ValidationError):
    """A block the ledger refuses; applying it changed nothing."""


class InvalidConsensusMessage(ValidationError):
    """A ticket, vote or proposal that breaks a consensus rule."""


class ConfigError(DaoliError):
    """A bad genesis, config file, node home or command-line value."""

    exit_code = EXIT_USAGE


class WalletError(DaoliError):
    """Wrong password, corrupt keystore, existing or missing wallet name."""

    exit_code = EXIT_USAGE


class StoreError(DaoliError):
    """The block store refused an operation (wrong height, wrong parent, corrupt data)."""


class NodeUnreachable(DaoliError):
    """The node's API could not be reached."""

    exit_code = EXIT_UNREACHABLE


class TimedOut(DaoliError):
    """A bounded wait ran out."""

    exit_code = EXIT_TIMEOUT
