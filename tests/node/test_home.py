"""Node homes: layout, modes, strict TOML reading, and the refuse-to-clobber rules."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from daoli.core.address import address_bytes_of, address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.errors import ConfigError
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
    assert not list(home.path.glob("*.tmp"))


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
