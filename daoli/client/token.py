"""Where the API token comes from: ``$DAOLI_API_TOKEN``, else ``<home>/api_token``.

The node writes ``<home>/api_token`` (64 hex characters, mode 0600) when it starts, like
bitcoind's cookie file: a process that may read the node's home may use its API. The file
is read through :mod:`daoli.files` (bounded, regular files only), so a hostile home is one
ConfigError line, never a hang.
"""

from __future__ import annotations

import os
from pathlib import Path

from daoli.errors import ConfigError
from daoli.files import MAX_SECRET_FILE, quote, read_text

TOKEN_ENV = "DAOLI_API_TOKEN"
TOKEN_FILE = "api_token"
MAX_TOKEN = 1024


def check_token(token: str, origin: str) -> str:
    """A token goes into an HTTP header: printable ASCII without spaces, bounded."""
    if not token or len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable() \
            or " " in token:
        raise ConfigError(f"{origin}: the API token must be 1-{MAX_TOKEN} printable ASCII "
                          "characters without spaces")
    return token


def token_from_home(home: Path) -> str | None:
    """The API token for the node whose home is ``home``, or None if there is none yet.

    ``$DAOLI_API_TOKEN`` wins when set (and not empty); else the first line of
    ``<home>/api_token``. A missing file is None (the node has not started yet; requests
    will then get ``401``); an unreadable or malformed one is a ConfigError.
    """
    env = os.environ.get(TOKEN_ENV, "")
    if env:
        return check_token(env.strip(), f"${TOKEN_ENV}")
    path = Path(home) / TOKEN_FILE
    try:
        os.lstat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        pass  # let read_text say what is wrong, in one line
    text = read_text(path, "API token file", max_bytes=MAX_SECRET_FILE)
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise ConfigError(f"API token file {quote(path)} is empty")
    return check_token(token, f"API token file {quote(path)}")


__all__ = ["TOKEN_ENV", "TOKEN_FILE", "check_token", "token_from_home"]
