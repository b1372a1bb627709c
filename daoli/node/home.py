"""A node home: the directory holding one node's settings, keys, genesis, chain data and wallets.

Layout (``<home>`` is ``--home`` / ``$DAOLI_HOME`` / ``~/.daoli``)::

    config.toml     node settings (NodeConfig): listen addresses, bootstrap peers, log level
    genesis.toml    the chain's genesis, exactly the bytes the operator supplied
    node_key        libp2p identity secret: 32 bytes as hex (mode 0600)
    signer_key      secp256k1 secret this node signs tickets, proposals and votes with as a
                    miner, sponsor and trustee (mode 0600), like CometBFT's priv_validator_key
    api_token       bearer token of the local API (made by the node, not by ``init``)
    data/           chain store (LMDB); never deleted without an explicit --reset-data
    wallets/        user wallets (daoli.wallet), never deleted by ``init``
    dev.password    password of the ``dev`` wallet of a development chain (mode 0600)

A home ``init`` creates is mode 0700 (directories above it get the usual mode); a directory
that already existed keeps its mode: ``init`` never changes what it did not create.

The three keys are deliberately separate: the libp2p identity can be rotated without
touching consensus, the signer key is hot (a running node must use it unattended) and holds
only the trustee bond's authority, and user wallets stay encrypted and off the node's path.

Every file of a home is read through :mod:`daoli.files` (size-limited, regular files only,
one-line errors), so a hostile home (``/dev/zero`` behind a link, a FIFO, a link loop, an
unreadable file) is a :class:`ConfigError`, never a hang or a traceback.

Randomness comes from :mod:`secrets` here, never from daoli.core, which stays pure.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import secrets
import shlex
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from daoli.core.address import address_of, decode_address
from daoli.core.crypto import SECRET_LEN, pubkey_from_secret
from daoli.core.encoding import MAX_U64
from daoli.core.genesis import CHAIN_ID_RE, Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.errors import ConfigError, InvalidKey, WalletError
from daoli.files import (
    MAX_GENESIS_FILE,
    MAX_SECRET_FILE,
    fsync_dir,
    os_error_text,
    quote,
    read_text,
    show,
    write_all_and_sync,
)
from daoli.node.config import (
    NodeConfig,
    check_multiaddr,
    clip,
    dump_config_toml,
    dump_genesis_toml,
    load_config_file,
    load_genesis_file,
    parse_genesis_toml,
    read_file,
)

DEV_CHAIN_ID = "daoli-dev"
DEV_WALLET = "dev"
DEV_WALLET_FUNDS = 1_000_000 * LI_PER_DLC
"""What a development chain's genesis allocates to the home's ``dev`` wallet, in li."""
DEV_PASSWORD_CHARS = 32

CONFIG_FILE = "config.toml"
GENESIS_FILE = "genesis.toml"
NODE_KEY_FILE = "node_key"
SIGNER_KEY_FILE = "signer_key"
API_TOKEN_FILE = "api_token"
DEV_PASSWORD_FILE = "dev.password"
DATA_DIR = "data"
WALLETS_DIR = "wallets"
HOME_MODE = 0o700

_INIT_FILES = (CONFIG_FILE, GENESIS_FILE, NODE_KEY_FILE, SIGNER_KEY_FILE)
"""Files whose presence means the home was initialised (``init`` refuses without --force)."""
_KEY_HEX_RE = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class InitReport:
    """What :meth:`Home.create` made, for the CLI to show and for devnet tooling."""

    home: Home
    genesis: Genesis
    signer_pubkey: bytes
    dev_wallet_address: str | None
    """``dlc1...`` of the prefunded ``dev`` wallet, or None when a genesis file was given."""
    replaced: bool
    """True if --force replaced an earlier initialisation."""
    data_reset: bool
    """True if --reset-data deleted an existing ``data/``."""
    warnings: tuple[str, ...] = ()
    """One line each: what did not stop init but the operator should know (parameters a
    genesis leaves to their defaults, an existing home others can read, leftovers)."""


@dataclass(frozen=True)
class Home:
    path: Path

    # --- the files ---------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def genesis_file(self) -> Path:
        return self.path / GENESIS_FILE

    @property
    def node_key_file(self) -> Path:
        return self.path / NODE_KEY_FILE

    @property
    def signer_key_file(self) -> Path:
        return self.path / SIGNER_KEY_FILE

    @property
    def api_token_file(self) -> Path:
        return self.path / API_TOKEN_FILE

    @property
    def dev_password_file(self) -> Path:
        return self.path / DEV_PASSWORD_FILE

    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    @property
    def wallets_dir(self) -> Path:
        return self.path / WALLETS_DIR

    # --- reading -----------------------------------------------------------------------------

    def is_initialized(self) -> bool:
        """Whether any of config.toml, genesis.toml, node_key, signer_key is there (a broken
        link counts); ConfigError if the home cannot be looked into."""
        if not self._is_dir():
            return False
        return any(_lstat(self.path / name, name) is not None for name in _INIT_FILES)

    def require_initialized(self) -> None:
        if not self._is_dir() or _lstat(self.genesis_file, "genesis file") is None:
            raise ConfigError(f"{quote(self.path)} is not an initialised node home "
                              f"(no {GENESIS_FILE}); run: daoli init --home "
                              f"{shlex.quote(show(self.path))}")

    def _is_dir(self) -> bool:
        """False if the home does not exist; ConfigError if it is something else."""
        st = _stat(self.path, "node home")
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"node home {quote(self.path)} is not a directory")
        return st is not None

    def load_genesis(self, warnings: list[str] | None = None) -> Genesis:
        """The home's genesis, validated; see :func:`~daoli.node.config.parse_genesis_toml`
        for ``warnings``."""
        self.require_initialized()
        return load_genesis_file(self.genesis_file, warnings)

    def load_config(self) -> NodeConfig:
        self.require_initialized()
        if _lstat(self.config_file, "config file") is None:
            return NodeConfig()
        return load_config_file(self.config_file)

    def signer_secret(self) -> bytes:
        secret = _read_secret(self.signer_key_file, "signer key")
        try:
            pubkey_from_secret(secret)
        except InvalidKey:
            raise ConfigError(f"signer key file {quote(self.signer_key_file)}: not a valid "
                              "secp256k1 secret") from None
        return secret

    def signer_pubkey(self) -> bytes:
        return pubkey_from_secret(self.signer_secret())

    def node_secret(self) -> bytes:
        return _read_secret(self.node_key_file, "node key")

    def dev_password(self) -> str:
        """First line of dev.password (bounded read, regular file only)."""
        text = read_text(self.dev_password_file, "dev wallet password file",
                         max_bytes=MAX_SECRET_FILE)
        lines = text.splitlines()
        return lines[0] if lines else ""

    # --- creating ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        genesis_file: Path | None = None,
        chain_id: str | None = None,
        config: NodeConfig | None = None,
        force: bool = False,
        reset_data: bool = False,
        genesis_time_ms: int | None = None,
        signer_secret: bytes | None = None,
        node_secret: bytes | None = None,
    ) -> InitReport:
        """Initialise a node home; see ``daoli init`` for the rules.

        Everything that can fail because of the input (genesis file, existing home, data
        directory, wallet name) is checked before anything on disk changes. The new files
        then replace the old ones all together or not at all (see :class:`_Transaction`):
        if a write or rename fails, the home is left exactly as it was. Without
        ``genesis_file`` this makes a one-node development chain. ``signer_secret`` and
        ``node_secret`` let tools that build a multi-node genesis choose the keys first.
        """
        home = cls(path.expanduser().absolute())
        config = config or NodeConfig()
        warnings: list[str] = []
        given: tuple[bytes, Genesis] | None = None
        dev_trustee = ""
        if genesis_file is not None:
            if chain_id is not None or genesis_time_ms is not None:
                raise ConfigError("--chain-id only applies without --genesis "
                                  "(the genesis file names its chain)")
            raw = read_file(genesis_file, "genesis file", MAX_GENESIS_FILE)
            given = (raw, parse_genesis_toml(raw, show(genesis_file), warnings))
        else:
            chain_id = DEV_CHAIN_ID if chain_id is None else chain_id
            if type(chain_id) is not str or not CHAIN_ID_RE.match(chain_id):
                raise ConfigError(f"chain_id {clip(chain_id)}: use 1-63 of a-z, 0-9 and '-'")
            if genesis_time_ms is not None and (type(genesis_time_ms) is not int
                                                or not 0 <= genesis_time_ms <= MAX_U64):
                raise ConfigError("genesis_time_ms must be an integer from 0 to 2^64 - 1")
            dev_trustee = _dev_trustee_multiaddr(config.p2p_listen)

        home_st = _stat(home.path, "node home")
        if home_st is not None and not stat.S_ISDIR(home_st.st_mode):
            raise ConfigError(f"{quote(home.path)} exists and is not a directory")
        found: dict[str, os.stat_result | None] = {}
        if home_st is not None:
            for name in (*_INIT_FILES, DEV_PASSWORD_FILE, DATA_DIR):
                found[name] = _lstat(home.path / name, name)
        for name in (*_INIT_FILES, DEV_PASSWORD_FILE):
            st = found.get(name)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise ConfigError(f"{quote(home.path / name)} is a directory; move it away "
                                  "first")
        replaced = any(found.get(name) is not None for name in _INIT_FILES)
        if replaced and not force:
            raise ConfigError(f"{quote(home.path)} is already initialised; "
                              "use --force to replace its config, keys and genesis")
        data_st = found.get(DATA_DIR)
        has_data = data_st is not None
        if data_st is not None and stat.S_ISLNK(data_st.st_mode):
            # deleting only the link would leave the chain data on the disk it points to:
            # the operator clears that by hand.
            raise ConfigError(f"{quote(home.data_dir)} is a symbolic link; delete the chain "
                              "data it points to yourself, or remove the link")
        if has_data and not reset_data:
            raise ConfigError(f"{quote(home.data_dir)} holds chain data; add --reset-data "
                              "(with --force) to delete it")
        if has_data and not force:
            raise ConfigError("--reset-data needs --force")

        signer = signer_secret if signer_secret is not None else new_secret()
        signer_pub = pubkey_from_secret(signer)
        node = node_secret if node_secret is not None else new_secret()
        if len(node) != SECRET_LEN:
            raise InvalidKey(f"node secret must be {SECRET_LEN} bytes")

        existing_dev = _existing_dev_wallet(home) if given is None else None
        if home_st is not None and stat.S_IMODE(home_st.st_mode) & 0o077:
            warnings.append(f"node home {show(home.path)} existed and keeps its mode "
                            f"{stat.S_IMODE(home_st.st_mode):04o}: other users can look "
                            "into it (the key files are 0600)")

        tx = _Transaction(home.path)
        try:
            tx.make_dirs(home.path, HOME_MODE)
            dev_address: str | None = None
            if given is None:
                if existing_dev is not None:
                    dev_address = existing_dev
                else:
                    password = secrets.token_urlsafe(DEV_PASSWORD_CHARS * 3 // 4)
                    # the password is in place before the wallet it opens: a crash between
                    # the two leaves no wallet, and a rerun starts afresh
                    tx.stage(home.dev_password_file, (password + "\n").encode(), secret=True)
                    tx.commit()
                    dev_address = _create_dev_wallet(home, password, tx)
                params = ChainParams()
                if genesis_time_ms is None:
                    genesis_time_ms = int(time.time()) * 1000
                assert chain_id is not None
                genesis = Genesis(
                    chain_id, genesis_time_ms, params,
                    (Allocation(decode_address(dev_address), DEV_WALLET_FUNDS),),
                    (GenesisTrustee(signer_pub, params.min_bond, dev_trustee),),
                )
                genesis_bytes = dump_genesis_toml(genesis).encode()
            else:
                genesis_bytes, genesis = given
            tx.stage(home.node_key_file, (node.hex() + "\n").encode(), secret=True)
            tx.stage(home.signer_key_file, (signer.hex() + "\n").encode(), secret=True)
            tx.stage(home.config_file, dump_config_toml(config).encode())
            tx.stage(home.genesis_file, genesis_bytes)
            if has_data:
                tx.move_aside(home.data_dir)
            tx.commit()  # genesis.toml last: the file whose presence means "initialised"
        except BaseException as exc:
            problems = tx.rollback()
            if problems and isinstance(exc, ConfigError):
                raise ConfigError(f"{exc}; undoing it failed too: {'; '.join(problems)}"
                                  ) from None
            raise
        warnings += tx.finish()
        return InitReport(home, genesis, signer_pub, dev_address, replaced, has_data,
                          tuple(warnings))


class _Transaction:
    """Replace several entries of one directory together: all of them, or none.

    :meth:`stage` writes each new file under a temporary name (``.NAME.new-XXXXXXXX``,
    O_CREAT|O_EXCL so never through a planted link, secrets 0600 from the first byte,
    fsynced): nothing visible changes. :meth:`commit` then, file by file, keeps the old file
    under a backup name (``.NAME.old-XXXXXXXX``: a hard link, so the old name never goes
    missing; a rename where the file system has no hard links) and renames the new file over
    the old name. :meth:`move_aside` renames a directory (``data/``) to a backup name the
    same way. If any step fails, :meth:`rollback` puts every old entry back and removes what
    the transaction created (directories, a wallet made for the new genesis), so the
    directory is exactly as before. Only :meth:`finish`, after the last rename, deletes the
    old files and the moved-aside data.

    The crash window: an error is rolled back, but a crash (power loss, SIGKILL) between the
    first and the last rename of :meth:`commit` leaves some entries new and some old. Nothing
    is lost then: every old file is still there under its ``.NAME.old-XXXXXXXX`` name (and
    the old ``data/`` as ``.data.old-XXXXXXXX``), so the operator can rename them back, or
    run ``init --force`` again. Where hard links are not supported, the old file is renamed
    rather than linked, so a crash can also leave a name briefly missing (its backup holds
    it).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._token = secrets.token_hex(4)
        self._staged: list[tuple[Path, Path]] = []
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._backups: list[Path] = []
        self._aside: list[Path] = []
        self._moves: list[tuple[Path, Path]] = []

    def _name(self, target: Path, kind: str) -> Path:
        return target.with_name(f".{target.name}.{kind}-{self._token}")

    def on_rollback(self, what: str, action: Callable[[], None]) -> None:
        """Run ``action`` if the transaction is rolled back (``what`` names it in errors)."""
        self._undo.append((what, action))

    def make_dirs(self, path: Path, mode: int) -> None:
        """Create ``path`` (``mode``, whatever the umask) and missing parents (usual mode).

        A directory that already exists, or that another process makes meanwhile, is left
        as it is: its mode is not ours to change, and a rollback does not remove it.
        """
        missing: list[Path] = []
        p = path
        while _stat(p, "directory") is None and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                os.mkdir(d, mode if d == path else 0o777)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(f"cannot create {quote(d)}: {os_error_text(exc)}") from None
            self.on_rollback(f"remove {show(d)}", functools.partial(_rmdir, d))
            if d == path:
                try:
                    os.chmod(d, mode)  # mkdir's mode was filtered by the umask
                except OSError as exc:
                    raise ConfigError(f"cannot set the mode of {quote(d)}: "
                                      f"{os_error_text(exc)}") from None

    def stage(self, target: Path, data: bytes, *, secret: bool = False) -> None:
        tmp = self._name(target, "new")
        _write_new(tmp, data, 0o600 if secret else 0o644, target)
        self._staged.append((tmp, target))

    def move_aside(self, path: Path) -> None:
        """Rename ``path`` (a directory or file) away during :meth:`commit`; deleted by
        :meth:`finish`, renamed back by :meth:`rollback`."""
        self._moves.append((path, self._name(path, "old")))

    def commit(self) -> None:
        """Swap every staged file (and move every moved-aside entry) into place, in order."""
        for path, aside in self._moves:
            try:
                os.rename(path, aside)
            except OSError as exc:
                raise ConfigError(f"cannot move {quote(path)} aside: "
                                  f"{os_error_text(exc)}") from None
            self.on_rollback(f"move {show(aside)} back to {show(path)}",
                             functools.partial(os.rename, aside, path))
            self._aside.append(aside)
        self._moves.clear()
        while self._staged:
            tmp, target = self._staged[0]
            try:
                if _lstat(target, target.name) is not None:
                    backup = self._name(target, "old")
                    try:
                        os.link(target, backup, follow_symlinks=False)
                    except OSError as exc:
                        if exc.errno == errno.EEXIST:
                            raise
                        os.rename(target, backup)  # no hard links on this file system
                    self._backups.append(backup)
                    self.on_rollback(f"restore {show(target)} from {show(backup)}",
                                     functools.partial(_restore, backup, target))
                else:
                    self.on_rollback(f"remove {show(target)}",
                                     functools.partial(_unlink, target))
                os.replace(tmp, target)
            except OSError as exc:
                raise ConfigError(f"cannot replace {quote(target)}: "
                                  f"{os_error_text(exc)}") from None
            self._staged.pop(0)
        fsync_dir(self.directory, best_effort=True)

    def rollback(self) -> list[str]:
        """Undo everything, newest first; returns what could not be undone (one line each)."""
        problems: list[str] = []
        for tmp, _target in self._staged:
            _unlink(tmp)
        self._staged.clear()
        for what, action in reversed(self._undo):
            try:
                action()
            except OSError as exc:
                problems.append(f"{what}: {os_error_text(exc)}")
        self._undo.clear()
        fsync_dir(self.directory, best_effort=True)
        return problems

    def finish(self) -> list[str]:
        """Delete the old files and moved-aside entries; returns warnings for leftovers."""
        leftovers: list[str] = []
        for backup in self._backups:
            try:
                _unlink(backup)
            except OSError as exc:
                leftovers.append(f"could not delete the old file {show(backup)} "
                                 f"({os_error_text(exc)}); delete it yourself")
        for aside in self._aside:
            try:
                if os.path.isdir(aside) and not os.path.islink(aside):
                    shutil.rmtree(aside)
                else:
                    _unlink(aside)
            except OSError as exc:
                leftovers.append(f"the old chain data was moved to {show(aside)} but could "
                                 f"not be deleted ({os_error_text(exc)}); delete it yourself")
        self._undo.clear()
        return leftovers


def _dev_trustee_multiaddr(p2p_listen: str) -> str:
    """The address a dev chain's genesis gives its one trustee: this node's p2p listen
    address, with an unspecified host (0.0.0.0, ::) replaced by loopback."""
    parts = p2p_listen.split("/")  # checked by NodeConfig: ['', proto, host, 'tcp', port]
    if parts[4] == "0":
        raise ConfigError(f"p2p_listen {clip(p2p_listen)}: a development chain's genesis "
                          "names this node's p2p address, so its port cannot be 0")
    if parts[1] == "ip4" and parts[2] == "0.0.0.0":
        parts[2] = "127.0.0.1"
    elif parts[1] == "ip6" and parts[2] == "::":
        parts[2] = "::1"
    return check_multiaddr("/".join(parts), "the dev chain's trustee multiaddr")


def _existing_dev_wallet(home: Home) -> str | None:
    """The address of a ``dev`` wallet left by an earlier init that dev.password unlocks, or
    None if there is no such wallet; ConfigError if it is there but cannot be reused.

    ``init --force`` of a dev chain reuses it rather than deleting a keystore (init never
    deletes wallets), so the dev address stays the same across resets. Only reads.
    """
    from daoli.wallet.keystore import WalletStore  # only a dev chain needs the wallet layer

    store = WalletStore(home.wallets_dir)
    try:
        if not store.exists(DEV_WALLET):
            return None
    except WalletError as exc:
        raise ConfigError(" ".join(str(exc).split())) from None
    where = f"wallet {DEV_WALLET!r} already exists in {show(home.wallets_dir)}"
    try:
        password = home.dev_password()
    except ConfigError as exc:
        raise ConfigError(f"{where} but its password cannot be read: {exc}; rename or delete "
                          "that wallet first") from None
    try:
        store.unlock(DEV_WALLET, password)
        return str(store.info(DEV_WALLET).address)
    except WalletError as exc:
        raise ConfigError(f"{where} and {show(home.dev_password_file)} does not unlock it "
                          f"({' '.join(str(exc).split())}); rename or delete that wallet "
                          "first") from None


def _create_dev_wallet(home: Home, password: str, tx: _Transaction) -> str:
    """Create the ``dev`` wallet; a rollback of ``tx`` removes it again (it was made for a
    genesis that was then never written, and never shown to anyone)."""
    from daoli.wallet.keystore import WalletStore

    store = WalletStore(home.wallets_dir)
    if _lstat(home.wallets_dir, WALLETS_DIR) is None:
        tx.on_rollback(f"remove {show(home.wallets_dir)}", lambda: _rmdir(home.wallets_dir))
    file = store.file_of(DEV_WALLET)
    try:
        info, _mnemonic = store.create(DEV_WALLET, password, light_kdf=True)
    except WalletError as exc:
        raise ConfigError(f"cannot create the dev wallet: {exc}") from None
    tx.on_rollback(f"remove {show(file)}", lambda: _unlink(file))
    return str(info.address)


def new_secret() -> bytes:
    """32 random bytes that are a valid secp256k1 secret (so either key type can use them)."""
    while True:
        secret = secrets.token_bytes(SECRET_LEN)
        try:
            pubkey_from_secret(secret)
        except InvalidKey:  # zero or >= the group order: astronomically rare
            continue
        return secret


def signer_address(secret: bytes) -> str:
    return address_of(pubkey_from_secret(secret))


def write_file(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, replacing it if present.

    The new file is made with O_CREAT|O_EXCL under a temporary name, so a secret is never
    readable by others even for an instant and never written through a planted symlink,
    then renamed over the old one (a symlink at ``path`` is replaced, not followed).
    """
    tmp = path.with_name(f".{path.name}.new-{secrets.token_hex(4)}")
    _write_new(tmp, data, 0o600 if secret else 0o644, path)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise ConfigError(f"cannot write {quote(path)}: {os_error_text(exc)}") from None
    except BaseException:
        _unlink(tmp)
        raise
    fsync_dir(path.parent, best_effort=True)


# --- small file-system helpers ----------------------------------------------------------------


def _stat(path: Path, what: str, *, follow: bool = True) -> os.stat_result | None:
    """``os.stat`` (``lstat`` unless ``follow``), None if nothing is there; ConfigError (one
    line naming ``what``) if the path cannot be looked at: permission denied, a link loop,
    a component that is not a directory."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{what} {quote(path)}: {os_error_text(exc)}") from None
    except ValueError:  # a NUL byte: no such file can exist
        raise ConfigError(f"{what} {quote(path)}: the path contains a NUL byte") from None


def _lstat(path: Path, what: str) -> os.stat_result | None:
    return _stat(path, what, follow=False)


def _write_new(tmp: Path, data: bytes, mode: int, target: Path) -> None:
    """Create ``tmp`` (O_EXCL, ``mode``) holding ``data``, fsynced; ConfigError naming
    ``target`` on failure, with ``tmp`` removed."""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {quote(target)}: {os_error_text(exc)}") from None
    try:
        try:
            write_all_and_sync(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink(tmp)
        raise ConfigError(f"cannot write {quote(target)}: {os_error_text(exc)}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _rmdir(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)


def _restore(backup: Path, target: Path) -> None:
    """Put the old file back. When ``backup`` is a hard link to the file ``target`` still
    names (the rename over it never happened), rename does nothing: drop the extra name."""
    os.replace(backup, target)
    _unlink(backup)


def _read_secret(path: Path, what: str) -> bytes:
    text = read_text(path, what + " file", max_bytes=MAX_SECRET_FILE)
    lines = text.splitlines()
    value = lines[0].strip() if lines else ""
    if not _KEY_HEX_RE.fullmatch(value) or len(value) % 2:
        raise ConfigError(f"{what} file {quote(path)}: {what} is not hex")
    secret = bytes.fromhex(value)
    if len(secret) != SECRET_LEN:
        raise ConfigError(f"{what} file {quote(path)}: {what} holds {len(secret)} bytes, "
                          f"expected {SECRET_LEN}")
    return secret
