"""A node home: the directory holding one node's settings, keys, genesis, chain data and wallets.

Layout (``<home>`` is ``--home`` / ``$DAOLI_HOME`` / ``~/.daoli``, mode 0700)::

    config.toml     node settings (NodeConfig): listen addresses, bootstrap peers, log level
    genesis.toml    the chain's genesis, exactly the bytes the operator supplied
    node_key        libp2p identity secret: 32 bytes as hex (mode 0600)
    signer_key      secp256k1 secret this node signs tickets, proposals and votes with as a
                    miner, sponsor and trustee (mode 0600), like CometBFT's priv_validator_key
    api_token       bearer token of the local API (made by the node, not by ``init``)
    data/           chain store (LMDB); never deleted without an explicit --reset-data
    wallets/        user wallets (daoli.wallet), never deleted by ``init``
    dev.password    password of the ``dev`` wallet of a development chain (mode 0600)

The three keys are deliberately separate: the libp2p identity can be rotated without
touching consensus, the signer key is hot (a running node must use it unattended) and holds
only the trustee bond's authority, and user wallets stay encrypted and off the node's path.

Randomness comes from :mod:`secrets` here, never from daoli.core, which stays pure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from daoli.core.address import address_of, decode_address
from daoli.core.crypto import SECRET_LEN, pubkey_from_secret
from daoli.core.genesis import CHAIN_ID_RE, Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.errors import ConfigError, DaoliError, InvalidKey, WalletError
from daoli.node.config import (
    NodeConfig,
    dump_config_toml,
    dump_genesis_toml,
    load_config_file,
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

_INIT_FILES = (CONFIG_FILE, GENESIS_FILE, NODE_KEY_FILE, SIGNER_KEY_FILE)
"""Files whose presence means the home was initialised (``init`` refuses without --force)."""


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
        return any((self.path / name).exists() for name in _INIT_FILES)

    def require_initialized(self) -> None:
        if not self.genesis_file.exists():
            raise ConfigError(f"{self.path} is not an initialised node home "
                              f"(no {GENESIS_FILE}); run 'daoli init --home {self.path}'")

    def load_genesis(self) -> Genesis:
        self.require_initialized()
        return parse_genesis_toml(read_file(self.genesis_file, "genesis file"),
                                  str(self.genesis_file))

    def load_config(self) -> NodeConfig:
        self.require_initialized()
        if not self.config_file.exists():
            return NodeConfig()
        return load_config_file(self.config_file)

    def signer_secret(self) -> bytes:
        secret = _read_secret(self.signer_key_file, "signer key")
        try:
            pubkey_from_secret(secret)
        except InvalidKey:
            raise ConfigError(f"{self.signer_key_file}: not a valid secp256k1 secret") from None
        return secret

    def signer_pubkey(self) -> bytes:
        return pubkey_from_secret(self.signer_secret())

    def node_secret(self) -> bytes:
        return _read_secret(self.node_key_file, "node key")

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
        directory, wallet name) is checked before anything on disk changes. Without
        ``genesis_file`` this makes a one-node development chain. ``signer_secret`` and
        ``node_secret`` let tools that build a multi-node genesis choose the keys first.
        """
        home = cls(path.expanduser().absolute())
        config = config or NodeConfig()
        given: tuple[bytes, Genesis] | None = None
        if genesis_file is not None:
            if chain_id is not None or genesis_time_ms is not None:
                raise ConfigError("--chain-id only applies without --genesis "
                                  "(the genesis file names its chain)")
            raw = read_file(genesis_file, "genesis file")
            given = (raw, parse_genesis_toml(raw, str(genesis_file)))
        else:
            chain_id = DEV_CHAIN_ID if chain_id is None else chain_id
            if not CHAIN_ID_RE.match(chain_id):  # before the dev wallet is made on disk
                raise ConfigError(f"chain_id {chain_id!r}: use 1-63 of a-z, 0-9 and '-'")
        if home.path.exists() and not home.path.is_dir():
            raise ConfigError(f"{home.path} exists and is not a directory")
        replaced = home.is_initialized()
        if replaced and not force:
            raise ConfigError(f"{home.path} is already initialised; "
                              "use --force to replace its config, keys and genesis")
        has_data = home.data_dir.exists() or home.data_dir.is_symlink()
        if has_data and home.data_dir.is_symlink():
            # rmtree refuses links, and deleting only the link would leave the chain data
            # on the disk it points to: the operator clears that by hand.
            raise ConfigError(f"{home.data_dir} is a symbolic link; delete the chain data "
                              "it points to yourself, or remove the link")
        if has_data and not reset_data:
            raise ConfigError(f"{home.data_dir} holds chain data; add --reset-data "
                              "(with --force) to delete it")
        if has_data and not force:
            raise ConfigError("--reset-data needs --force")

        signer = signer_secret if signer_secret is not None else new_secret()
        signer_pub = pubkey_from_secret(signer)
        node = node_secret if node_secret is not None else new_secret()
        if len(node) != SECRET_LEN:
            raise InvalidKey(f"node secret must be {SECRET_LEN} bytes")

        existing_dev = _existing_dev_wallet(home) if given is None else None

        try:
            home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(home.path, 0o700)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise ConfigError(f"cannot create node home {str(home.path)!r}: "
                              f"{exc.strerror}") from None
        dev_address: str | None = None
        if given is None:
            if existing_dev is not None:
                dev_address, password = existing_dev
            else:
                password = secrets.token_urlsafe(DEV_PASSWORD_CHARS * 3 // 4)
                # the password first: interrupted between the two, a rerun finds no wallet
                # and starts afresh instead of a wallet whose password was never written
                write_file(home.dev_password_file, (password + "\n").encode(), secret=True)
                dev_address = _create_dev_wallet(home, password)
            params = ChainParams()
            if genesis_time_ms is None:
                genesis_time_ms = int(time.time()) * 1000
            genesis = Genesis(
                chain_id, genesis_time_ms, params,
                (Allocation(decode_address(dev_address), DEV_WALLET_FUNDS),),
                (GenesisTrustee(signer_pub, params.min_bond, config.p2p_listen),),
            )
            genesis_bytes = dump_genesis_toml(genesis).encode()
        else:
            genesis_bytes, genesis = given

        if has_data:
            try:
                if home.data_dir.is_dir():
                    shutil.rmtree(home.data_dir)
                else:
                    home.data_dir.unlink()
            except OSError as exc:
                raise DaoliError(f"cannot delete {str(home.data_dir)!r}: {exc.strerror}"
                                 ) from None
        write_file(home.node_key_file, (node.hex() + "\n").encode(), secret=True)
        write_file(home.signer_key_file, (signer.hex() + "\n").encode(), secret=True)
        write_file(home.config_file, dump_config_toml(config).encode())
        write_file(home.genesis_file, genesis_bytes)
        return InitReport(home, genesis, signer_pub, dev_address, replaced, has_data)


def _existing_dev_wallet(home: Home) -> tuple[str, str] | None:
    """(address, password) of a ``dev`` wallet left by an earlier init, or None.

    ``init --force`` of a dev chain reuses it rather than deleting a keystore (init never
    deletes wallets), so the dev address stays the same across resets. Only reads.
    """
    from daoli.wallet.keystore import WalletStore  # only a dev chain needs the wallet layer

    store = WalletStore(home.wallets_dir)
    if not store.exists(DEV_WALLET):
        return None
    hint = (f"wallet {DEV_WALLET!r} already exists in {home.wallets_dir} and "
            f"{home.dev_password_file}")
    try:
        lines = home.dev_password_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{hint} is unreadable; rename or delete that wallet first") from None
    password = lines[0] if lines else ""
    try:
        store.unlock(DEV_WALLET, password)
        return store.info(DEV_WALLET).address, password
    except WalletError:
        raise ConfigError(f"{hint} does not unlock it; rename or delete that wallet "
                          "first") from None


def _create_dev_wallet(home: Home, password: str) -> str:
    from daoli.wallet.keystore import WalletStore

    try:
        info, _mnemonic = WalletStore(home.wallets_dir).create(DEV_WALLET, password,
                                                                light_kdf=True)
    except WalletError as exc:
        raise ConfigError(f"cannot create the dev wallet: {exc}") from None
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
    then renamed over the old one.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror}") from None
        raise


def _read_secret(path: Path, what: str) -> bytes:
    raw = read_file(path, what + " file")
    try:
        secret = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"{path}: {what} is not hex") from None
    if len(secret) != SECRET_LEN:
        raise ConfigError(f"{path}: {what} holds {len(secret)} bytes, expected {SECRET_LEN}")
    return secret
