"""What can go wrong talking to a node, as :class:`daoli.errors.DaoliError` subclasses.

Each carries the CLI exit code of its kind, so a front end prints one line and exits with
it: the node could not be reached (3), a wait ran out (4), the node refused the request
(1, or 2 when the request itself was bad), or the node answered something this client
cannot read (1). Application code can catch :class:`ClientError` for all of them except
:class:`NodeUnreachable` and :class:`NodeTimeout`, which keep their places in the
``daoli.errors`` hierarchy (``NodeUnreachable``, ``TimedOut``) so generic handlers work.
"""

from __future__ import annotations

from daoli.errors import EXIT_FAILED, EXIT_USAGE, DaoliError, NodeUnreachable, TimedOut


class ClientError(DaoliError):
    """Base of the errors that only the client raises."""


class NodeTimeout(TimedOut):
    """A wait ran out: the node answered ``504 timeout``, or did not answer in time."""


class BadResponse(ClientError):
    """The node's answer is not what docs/api.md promises (not JSON, a field missing or of
    the wrong type, a ``raw`` encoding that does not decode or does not match its id)."""


class ApiError(ClientError):
    """The node answered with an error status (docs/api.md, Conventions: Errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {code})" if message else
                         f"HTTP {status} {code}")
        self.status = status
        self.code = code
        self.message = message
        # 400 and 413 mean the request was bad: with a CLI, that is the user's input
        self.exit_code = EXIT_USAGE if status in (400, 413) else EXIT_FAILED


class Unauthorized(ApiError):
    """``401``: no API token, or the wrong one."""


class NotFound(ApiError):
    """``404``: no such block, transaction or account record."""


__all__ = ["ApiError", "BadResponse", "ClientError", "NodeTimeout", "NodeUnreachable",
           "NotFound", "Unauthorized"]
