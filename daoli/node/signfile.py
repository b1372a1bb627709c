"""The trustee's signing record on disk: ``<home>/data/sign_state`` (see daoli.machine.signstate).

The node carries out a machine's ``PersistVote`` / ``PersistProposal`` effect with
:meth:`SignStateFile.save` *before* any effect after it, so what was signed is on disk
before anyone can have seen it. The write is atomic (temporary file, fsync, rename, fsync of
the directory): a crash leaves the old record or the new one, never a torn file. A record
that cannot be read is an error the operator must look at, never silently replaced by an
empty one, since an empty record would let the trustee sign a conflicting vote.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from daoli.errors import ConfigError, DaoliError
from daoli.files import fsync_dir, os_error_text, quote, read_bytes, write_all_and_sync
from daoli.machine.signstate import SignState

SIGN_STATE_FILE = "sign_state"
MAX_SIGN_STATE_BYTES = 64 << 20
"""Up to 8 own proposals of at most 4 MiB each, and the votes of one height."""


class SignStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SignState:
        """The record, or an empty one if the file does not exist (a trustee's first start)."""
        if not self.path.exists():
            return SignState()
        raw = read_bytes(self.path, "sign state", max_bytes=MAX_SIGN_STATE_BYTES)
        try:
            return SignState.decode(raw)
        except DaoliError as exc:
            raise ConfigError(f"sign state {quote(self.path)} is unreadable ({exc}); refusing "
                              "to start: without it this trustee could sign a conflicting "
                              "vote") from None

    def save(self, state: SignState) -> None:
        """Write ``state`` durably and atomically."""
        data = state.encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                write_all_and_sync(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as exc:
            raise ConfigError(f"cannot write sign state {quote(self.path)}: "
                              f"{os_error_text(exc)}") from None


__all__ = ["SIGN_STATE_FILE", "SignStateFile"]
