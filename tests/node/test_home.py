"""Node homes: layout, modes, strict TOML reading, and the refuse-to-clobber rules."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from daoli.core.address import address_bytes_of, address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.errors import ConfigError
from daoli.files import MAX_GENESIS_FILE
from daoli.node.config import (
    NodeConfig,
    dump_config_toml,
    dump_genesis_toml,
    parse_config_toml,
    parse_genesis_toml,
)
from daoli.node.home import DEV_WALLET_FUNDS, Home

SECRET = bytes(range(1, 33))
PUB = pubkey_from_secret(SECRET)


def sample_genesis(**changes: object) -> Genesis:
    params = ChainParams()
    fields = {
        "chain_id": "testnet-1",
        "genesis_time_ms": 1_700_000_000_000,
        "params": params,
        "allocations": (Allocation(address_bytes_of(PUB), 5 * LI_PER_DLC + 7),),
        "trustees": (GenesisTrustee(PUB, params.min_bond, "/ip4/127.0.0.1/tcp/26656"),),
    }
    fields.update(changes)
    return Genesis(**fields)  # type: ignore[arg-type]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- genesis TOML -------------------------------------------------------------------------


def test_genesis_toml_round_trips_and_lists_every_param() -> None:
    g = sample_genesis()
    text = dump_genesis_toml(g)
    assert parse_genesis_toml(text.encode(), "g.toml") == g
    for name in ChainParams().to_dict():
        assert f"\n{name} = " in text
    assert "[[allocations]]" in text and "[[trustees]]" in text


def test_empty_genesis_round_trips() -> None:
    g = sample_genesis(allocations=(), trustees=())
    assert parse_genesis_toml(dump_genesis_toml(g).encode(), "g.toml") == g


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace("chain_id =", "chain_id = = "), "bad TOML"),
        (lambda t: t + "\nextra = 1\n", "unknown key(s): extra"),
        (lambda t: t.replace("min_fee = 1000", "min_fee = 1000\nmin_feee = 1"),
         "unknown parameter(s): min_feee"),
        (lambda t: t.replace("min_fee = 1000", 'min_fee = "1000"'), "min_fee must be an integer"),
        (lambda t: t.replace("cycle_ms = 1000", "cycle_ms = 1000.0"), "cycle_ms"),
        (lambda t: t.replace("genesis_time_ms = 1700000000000", "genesis_time_ms = true"),
         "genesis_time_ms"),
        (lambda t: t.replace('address = "dlc1', 'address = "dlx1'), "allocations[0]"),
        (lambda t: t.replace('address = "dlc1', 'address = "dlc1q'), "allocations[0]"),
        (lambda t: t.replace('multiaddr = "/ip4', "multiaddr = 7\n#"), "trustees[0].multiaddr"),
        (lambda t: t.replace('pubkey = "', 'pubkey = "zz'), "trustees[0].pubkey is not hex"),
        (lambda t: t.replace('pubkey = "', 'pubkey = "00'), "trustees[0]"),
        (lambda t: t.replace("\nbond = ", "\nbond = 1 #"), "below min_bond"),
        (lambda t: t.replace("[[trustees]]", "[[trustees]]\nweight = 2"),
         "trustees[0]: unknown key(s): weight"),
        (lambda t: t.replace('"testnet-1"', '"Bad Chain"'), "chain_id"),
        (lambda t: 'chain_id = "a"\ngenesis_time_ms = 0\nallocations = 5\n',
         "allocations must be an array"),
    ],
)
def test_bad_genesis_is_one_config_error_naming_the_file(
    edit: Callable[[str], str], needle: str
) -> None:
    text = edit(dump_genesis_toml(sample_genesis()))
    with pytest.raises(ConfigError) as info:
        parse_genesis_toml(text.encode(), "/x/genesis.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("/x/genesis.toml: ")
    assert needle in message


def test_non_utf8_genesis() -> None:
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_genesis_toml(b"\xff\xfe", "g.toml")


# --- config TOML --------------------------------------------------------------------------


def test_config_round_trips() -> None:
    peer = "/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
    c = NodeConfig(bootstrap_peers=(peer,), log_level="debug")
    assert parse_config_toml(dump_config_toml(c).encode(), "c.toml") == c
    assert NodeConfig().api_host == "127.0.0.1" and NodeConfig().api_port == 26657


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("log_levle = 'info'", "unknown key(s): log_levle"),
        ("log_level = 'loud'", "log_level"),
        ("api_listen = 'localhost'", "api_listen"),
        ("api_listen = '127.0.0.1:70000'", "api_listen"),
        ("p2p_listen = 5", "p2p_listen"),
        ("bootstrap_peers = 'x'", "bootstrap_peers"),
        ("bootstrap_peers = ['not-a-multiaddr']", "bootstrap_peers[0]"),
        ("[[", "bad TOML"),
    ],
)
def test_bad_config(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_toml(text.encode(), "c.toml")
    assert str(info.value).startswith("c.toml: ") and needle in str(info.value)


# --- Home.create --------------------------------------------------------------------------


def test_create_with_genesis_file_copies_bytes(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    text = "# my comment\n" + dump_genesis_toml(sample_genesis())
    src.write_text(text)
    report = Home.create(tmp_path / "home", genesis_file=src)
    home = report.home
    assert home.genesis_file.read_text() == text
    assert home.load_genesis() == sample_genesis()
    assert report.dev_wallet_address is None
    assert mode(home.path) == 0o700
    for f in (home.node_key_file, home.signer_key_file):
        assert mode(f) == 0o600
    assert len(home.node_secret()) == 32
    assert pubkey_from_secret(home.signer_secret()) == report.signer_pubkey
    assert home.load_config() == NodeConfig()
    assert not home.wallets_dir.exists() and not home.dev_password_file.exists()
    assert sorted(p.name for p in home.path.iterdir()) == [
        "config.toml", "genesis.toml", "node_key", "signer_key"]  # no temporaries or backups


def test_create_with_chosen_keys(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    report = Home.create(tmp_path / "h", genesis_file=src, signer_secret=SECRET,
                         node_secret=b"\x07" * 32)
    assert report.signer_pubkey == PUB
    assert report.home.signer_secret() == SECRET
    assert report.home.node_secret() == b"\x07" * 32


def test_create_refuses_second_time_and_data_without_reset(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "h", genesis_file=src).home
    before = {p.name: p.read_bytes() for p in home.path.iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match="already initialised"):
        Home.create(home.path, genesis_file=src)
    home.data_dir.mkdir()
    (home.data_dir / "db").write_bytes(b"blocks")
    with pytest.raises(ConfigError, match="--reset-data"):
        Home.create(home.path, genesis_file=src, force=True)
    assert {p.name: p.read_bytes() for p in home.path.iterdir() if p.is_file()} == before
    report = Home.create(home.path, genesis_file=src, force=True, reset_data=True)
    assert report.replaced and report.data_reset and not home.data_dir.exists()
    assert home.signer_key_file.read_bytes() != before["signer_key"]


def test_unreadable_keys_are_config_errors(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.signer_key_file.write_text("zz\n")
    with pytest.raises(ConfigError, match="not hex"):
        home.signer_secret()
    home.signer_key_file.write_text("00" * 31 + "\n")
    with pytest.raises(ConfigError, match="31 bytes"):
        home.signer_secret()
    home.signer_key_file.write_text("00" * 32 + "\n")
    with pytest.raises(ConfigError, match="not a valid secp256k1"):
        home.signer_secret()
    with pytest.raises(ConfigError, match="does not exist"):
        home.node_secret()
    with pytest.raises(ConfigError, match="not an initialised node home"):
        home.load_genesis()


def test_dev_chain(tmp_path: Path) -> None:
    keystore = pytest.importorskip("daoli.wallet.keystore")
    report = Home.create(tmp_path / "dev", chain_id="my-dev", genesis_time_ms=1_000)
    home = report.home
    g = home.load_genesis()
    assert g == report.genesis and g.chain_id == "my-dev" and g.genesis_time_ms == 1_000
    assert g.params == ChainParams()
    assert [(t.pubkey, t.bond) for t in g.trustees] == [(home.signer_pubkey(),
                                                         ChainParams().min_bond)]
    assert len(g.allocations) == 1 and g.allocations[0].amount == DEV_WALLET_FUNDS
    assert address_of(home.signer_pubkey()) != report.dev_wallet_address
    password = home.dev_password_file.read_text().splitlines()[0]
    assert len(password) == 32 and mode(home.dev_password_file) == 0o600
    store = keystore.WalletStore(home.wallets_dir)
    secret = store.unlock("dev", password)
    assert address_bytes_of(pubkey_from_secret(secret)) == g.allocations[0].address
    # --force keeps (reuses) the dev wallet instead of deleting a keystore
    again = Home.create(home.path, force=True)
    assert again.dev_wallet_address == report.dev_wallet_address
    assert again.home.signer_pubkey() != report.signer_pubkey
    # a dev wallet the password file does not unlock is never replaced
    home.dev_password_file.write_text("wrong\n")
    signer = home.signer_key_file.read_bytes()
    with pytest.raises(ConfigError, match="does not unlock"):
        Home.create(home.path, force=True)
    assert home.signer_key_file.read_bytes() == signer


# --- every file of a home is read bounded, regular files only ---------------------------------

HOME_READERS: dict[str, Callable[[Home], object]] = {
    "genesis.toml": Home.load_genesis,
    "config.toml": Home.load_config,
    "node_key": Home.node_secret,
    "signer_key": Home.signer_secret,
    "dev.password": Home.dev_password,
}


def initialised(tmp_path: Path) -> Home:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    home.dev_password_file.write_text("pw\n")
    return home


def make_hostile(path: Path, kind: str) -> None:
    path.unlink(missing_ok=True)
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "huge":
        with path.open("wb") as f:  # sparse: a size far over every limit, no disk used
            f.truncate(MAX_GENESIS_FILE + 1)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "loop", "dangling", "huge"])
@pytest.mark.parametrize("name", sorted(HOME_READERS))
def test_hostile_home_files_are_one_line_config_errors(tmp_path: Path, name: str,
                                                        kind: str) -> None:
    home = initialised(tmp_path)
    make_hostile(home.path / name, kind)
    with pytest.raises(ConfigError) as info:
        HOME_READERS[name](home)  # a FIFO must not hang, /dev/zero must not be read
    message = str(info.value)
    assert "\n" not in message and str(home.path / name) in message, message
    expected = {"dev-zero": "not a regular file", "fifo": "not a regular file",
                "directory": "is a directory", "loop": "symbolic link loop",
                "dangling": "does not exist", "huge": "larger than"}[kind]
    if name == "genesis.toml" and kind in ("loop", "dangling"):
        expected = "loop" if kind == "loop" else "does not exist"
    assert expected in message, message


def test_secret_files_are_bounded_to_a_line(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    home.node_key_file.write_text("ab" * 3000)  # > MAX_SECRET_FILE
    with pytest.raises(ConfigError, match="larger than 4,096 bytes"):
        home.node_secret()
    home.node_key_file.write_text(" 07" * 32)  # bytes.fromhex would take the spaces
    with pytest.raises(ConfigError, match="node key is not hex"):
        home.node_secret()
    home.node_key_file.write_bytes(b"\xff" * 64)
    with pytest.raises(ConfigError, match="not UTF-8"):
        home.node_secret()


def test_home_that_is_a_file_or_missing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        Home(tmp_path / "file").load_genesis()
    with pytest.raises(ConfigError, match="a component of the path is not a directory"):
        Home(tmp_path / "file" / "sub").load_genesis()
    with pytest.raises(ConfigError, match="not an initialised node home"):
        Home(tmp_path / "none").load_genesis()
    assert not Home(tmp_path / "none").is_initialized()


# --- modes: init changes only what it creates ---------------------------------------------------


def test_create_keeps_the_mode_of_an_existing_directory(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    report = Home.create(shared, genesis_file=src)
    assert mode(shared) == 0o755
    assert [w for w in report.warnings if "keeps its mode 0755" in w]
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert Home.create(private, genesis_file=src).warnings == ()
    assert mode(private) == 0o700


def test_create_makes_home_0700_and_parents_with_the_usual_mode(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    old = os.umask(0o022)
    try:
        Home.create(tmp_path / "a" / "b" / "home", genesis_file=src)
        os.umask(0o077)
        Home.create(tmp_path / "c" / "home", genesis_file=src)
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o755
    assert mode(tmp_path / "a" / "b" / "home") == 0o700
    assert mode(tmp_path / "c") == 0o700 and mode(tmp_path / "c" / "home") == 0o700


# --- init --force: all files replaced together, or none ------------------------------------------


def tree(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``path`` with its mode and bytes (directories and links too)."""
    out: dict[str, tuple[int, bytes]] = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            data = os.readlink(p).encode()
        elif p.is_file():
            data = p.read_bytes()
        else:
            data = b""
        out[str(p.relative_to(path))] = (st.st_mode, data)
    return out


def fail_on_call(monkeypatch: pytest.MonkeyPatch, name: str, n: int) -> list[int]:
    """Make the n-th call of os.<name> fail with EIO (later calls, e.g. the rollback's, work)."""
    real = getattr(os, name)
    calls = [0]

    def flaky(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == n:
            raise OSError(errno.EIO, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, flaky)
    return calls


@pytest.mark.parametrize("failing", [1, 2, 3, 4])
def test_force_rolls_back_when_a_rename_fails(tmp_path: Path, failing: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    (home.data_dir / "db").parent.mkdir()
    (home.data_dir / "db").write_bytes(b"blocks")
    before = tree(home.path)
    fail_on_call(monkeypatch, "replace", failing)
    with pytest.raises(ConfigError, match=r"cannot replace .*input/output error"):
        Home.create(home.path, genesis_file=src, force=True, reset_data=True)
    monkeypatch.undo()
    assert tree(home.path) == before  # byte for byte, no temporaries or backups left
    assert home.load_genesis() == sample_genesis()


def test_force_rolls_back_when_moving_data_aside_fails(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    home.data_dir.mkdir()
    before = tree(home.path)
    fail_on_call(monkeypatch, "rename", 1)
    with pytest.raises(ConfigError, match=r"cannot move .*data.* aside"):
        Home.create(home.path, genesis_file=src, force=True, reset_data=True)
    monkeypatch.undo()
    assert tree(home.path) == before


def test_force_rolls_back_when_writing_fails(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    before = tree(home.path)
    fail_on_call(monkeypatch, "fsync", 3)  # the third file's data cannot be made durable
    with pytest.raises(ConfigError, match="cannot write"):
        Home.create(home.path, genesis_file=src, force=True)
    monkeypatch.undo()
    assert tree(home.path) == before


def test_force_rolls_back_a_dev_wallet_it_made(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("daoli.wallet.keystore")
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    before = tree(home.path)
    # a dev chain over a --genesis home: dev.password and wallets/dev.json are new; the
    # replace calls are dev.password, node_key, signer_key, config.toml, genesis.toml
    fail_on_call(monkeypatch, "replace", 5)
    with pytest.raises(ConfigError, match=r"genesis\.toml"):
        Home.create(home.path, force=True)
    monkeypatch.undo()
    assert tree(home.path) == before
    assert not home.wallets_dir.exists() and not home.dev_password_file.exists()


def test_failed_create_removes_the_directories_it_made(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    fail_on_call(monkeypatch, "replace", 2)
    with pytest.raises(ConfigError):
        Home.create(tmp_path / "new" / "home", genesis_file=src)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


def test_force_success_leaves_no_backups(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    home.data_dir.mkdir()
    (home.data_dir / "db").write_bytes(b"x")
    old_key = home.node_key_file.read_bytes()
    report = Home.create(home.path, genesis_file=src, force=True, reset_data=True)
    assert report.replaced and report.data_reset and report.warnings == ()
    assert sorted(p.name for p in home.path.iterdir()) == [
        "config.toml", "genesis.toml", "node_key", "signer_key"]
    assert home.node_key_file.read_bytes() != old_key and mode(home.node_key_file) == 0o600


def test_force_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    victim = tmp_path / "victim"
    victim.write_text("keep")
    home.config_file.unlink()
    home.config_file.symlink_to(victim)
    Home.create(home.path, genesis_file=src, force=True)
    assert victim.read_text() == "keep" and not home.config_file.is_symlink()


def test_create_refuses_an_init_file_that_is_a_directory(tmp_path: Path) -> None:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(sample_genesis()))
    home = Home.create(tmp_path / "home", genesis_file=src).home
    home.signer_key_file.unlink()
    home.signer_key_file.mkdir()
    before = tree(home.path)
    with pytest.raises(ConfigError, match="signer_key' is a directory"):
        Home.create(home.path, genesis_file=src, force=True)
    assert tree(home.path) == before


# --- the dev chain's trustee address ---------------------------------------------------------


def test_dev_chain_trustee_address_from_p2p_listen(tmp_path: Path) -> None:
    pytest.importorskip("daoli.wallet.keystore")
    config = NodeConfig(p2p_listen="/ip4/0.0.0.0/tcp/4001")
    g = Home.create(tmp_path / "a", config=config).genesis
    assert g.trustees[0].multiaddr == "/ip4/127.0.0.1/tcp/4001"
    config = NodeConfig(p2p_listen="/ip6/::/tcp/4001")
    assert Home.create(tmp_path / "b", config=config).genesis.trustees[0].multiaddr == (
        "/ip6/::1/tcp/4001")
    with pytest.raises(ConfigError, match="port cannot be 0"):
        Home.create(tmp_path / "c", config=NodeConfig(p2p_listen="/ip4/127.0.0.1/tcp/0"))
    assert not (tmp_path / "c").exists()
