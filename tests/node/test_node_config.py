"""The address parsers (``parse_host_port``, ``check_multiaddr``) and hostile TOML in genesis and
config files: every refusal is one ConfigError line naming the file and the key, never another
exception, a traceback or a Python repr of any length."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from multiaddr import Multiaddr

from daoli.core.genesis import Genesis
from daoli.core.params import ChainParams
from daoli.errors import ConfigError
from daoli.node.config import (
    NodeConfig,
    check_multiaddr,
    dump_genesis_toml,
    parse_config_toml,
    parse_genesis_toml,
    parse_host_port,
)

PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
PUB = "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
MESSAGE_LIMIT = 400


def refused(fn: Callable[[], object]) -> str:
    with pytest.raises(ConfigError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < MESSAGE_LIMIT, message
    return message


# --- host:port ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "host", "port"), [
    ("127.0.0.1:26657", "127.0.0.1", 26657),
    ("0.0.0.0:0", "0.0.0.0", 0),
    ("[::1]:1", "::1", 1),
    ("[2001:db8::1]:65535", "2001:db8::1", 65535),
    ("localhost:80", "localhost", 80),
    ("Node-1.example.com:443", "Node-1.example.com", 443),
    ("1e3:1", "1e3", 1),
])
def test_parse_host_port_accepts(text: str, host: str, port: int) -> None:
    assert parse_host_port(text) == (host, port)


@pytest.mark.parametrize(("text", "needle"), [
    ("999.999.999.999:0", "not an IPv4 address"),
    ("256.1.1.1:80", "not an IPv4 address"),
    ("01.2.3.4:80", "not an IPv4 address"),
    ("1.2.3:80", "not an IPv4 address"),
    ("1.2.3.4.:80", "not an IPv4 address"),
    ("0x7f.0.0.1:80", "non-standard spelling of an IPv4 address; write 127.0.0.1"),
    ("0x7f:80", "non-standard spelling"),
    ("a.1:80", "last label is all digits"),
    ("1.2.3.4:70000", "from 0 to 65535"),
    ("1.2.3.4:-1", "from 0 to 65535"),
    ("1.2.3.4:+1", "from 0 to 65535"),
    ("1.2.3.4: 1", "from 0 to 65535"),
    ("1.2.3.4:1 ", "from 0 to 65535"),
    ("1.2.3.4:0080", "without leading zeros (80)"),
    ("1.2.3.4:", "from 0 to 65535"),
    ("1.2.3.4:१", "from 0 to 65535"),
    ("1.2.3.4", "expected host:port"),
    (":80", "expected host:port"),
    ("::1:80", "an IPv6 address goes in brackets"),
    ("[::1]x:80", "expected [IPv6 address]:port"),
    ("[]:80", "expected [IPv6 address]:port"),
    ("[1.2.3.4]:80", "not an IPv6 address"),
    ("[0:0::1]:80", "short form: [::1]:80"),
    ("[::FFFF:1.2.3.4]:80", "write the IPv4 address itself: 1.2.3.4:80"),
    ("[fe80::1%eth0]:80", "scope ids"),
    ("host.:80", "drop the trailing dot"),
    ("a..b:80", "neither an IP address nor a host name"),
    ("-a:80", "neither an IP address nor a host name"),
    ("a\n:80", "neither an IP address nor a host name"),
    ("ex\u00e9.com:80", "punycode"),
    ("x" * 1000 + ":80", "too long"),
])
def test_parse_host_port_refuses(text: str, needle: str) -> None:
    assert needle in refused(lambda: parse_host_port(text))


def test_parse_host_port_port_zero_and_types() -> None:
    assert "from 1 to 65535" in refused(lambda: parse_host_port("a:0", allow_port_zero=False))
    assert "got an integer" in refused(lambda: parse_host_port(5))  # type: ignore[arg-type]


def _format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


HOSTILE_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None), max_size=40),  # surrogates included
    st.lists(st.sampled_from(["1", "0", "255", "256", ".", ":", "[", "]", "::", "a", "-", "x",
                              "0x", "%", " ", "\n", "65535", "65536", "localhost", "ffff",
                              "\udcff", "\u0661"]), max_size=12).map("".join),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=HOSTILE_TEXT)
@example(text="999.999.999.999:0")
@example(text="[::1]:")
def test_parse_host_port_never_raises_anything_but_config_error(text: str) -> None:
    try:
        host, port = parse_host_port(text)
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < MESSAGE_LIMIT
        return
    # one spelling: what was accepted is exactly what the parts format back to
    assert _format_host_port(host, port) == text
    assert 0 <= port <= 65535


@settings(max_examples=300, deadline=None)
@given(address=st.ip_addresses(), port=st.integers(0, 65535))
def test_every_canonical_ip_and_port_is_accepted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return  # refused on purpose: the IPv4 spelling is the canonical one
    text = _format_host_port(str(address), port)
    assert parse_host_port(text) == (str(address), port)


# --- multiaddrs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "listen", "peer_id"), [
    ("/ip4/127.0.0.1/tcp/26656", False, None),
    ("/ip4/0.0.0.0/tcp/0", True, None),
    ("/ip6/::/tcp/4001", True, None),
    ("/ip6/2001:db8::1/tcp/1", False, None),
    ("/dns/node-1.example.com/tcp/26656", False, None),
    ("/dns4/localhost/tcp/1", False, None),
    (f"/ip4/10.0.0.1/tcp/1/p2p/{PEER}", False, None),
    (f"/dns6/a.b/tcp/1/p2p/{PEER}", False, True),
])
def test_check_multiaddr_accepts(value: str, listen: bool, peer_id: bool | None) -> None:
    assert check_multiaddr(value, "x", listen=listen, peer_id=peer_id) == value


@pytest.mark.parametrize(("value", "listen", "needle"), [
    ("/ip4/999.1.1.1/tcp/1", False, "not a valid multiaddr"),
    ("/ip4/1.2.3.4/tcp/70000", True, "not a valid multiaddr"),
    ("/ip4/1.2.3.4/tcp/1/garbage", False, "not a valid multiaddr"),
    ("/ip4/1.2.3.4/tcp/1/", False, "canonical form; write '/ip4/1.2.3.4/tcp/1'"),
    ("/ip4/1.2.3.4/tcp/01", False, "canonical form"),
    ("/ip4/1.2.3.4/tcp/+1", False, "canonical form"),
    ("//ip4/1.2.3.4/tcp/1", False, "canonical form"),
    ("/ip6/0:0:0:0:0:0:0:1/tcp/1", False, "canonical form; write '/ip6/::1/tcp/1'"),
    ("/ip6/::ffff:1.2.3.4/tcp/1", False, "write /ip4/1.2.3.4"),
    ("/ip4/1.2.3.4/udp/1", False, "expected /ip4/HOST/tcp/PORT"),
    ("/ip4/1.2.3.4", True, "expected /ip4/HOST/tcp/PORT"),
    ("/ip4/0.0.0.0/tcp/1", False, "only for listening"),
    ("/ip6/::/tcp/1", False, "only for listening"),
    ("/ip4/1.2.3.4/tcp/0", False, "port 0 is only for listening"),
    (f"/ip4/1.2.3.4/tcp/1/p2p/{PEER}", True, "a listen address has no /p2p/ part"),
    ("/ip4/1.2.3.4/tcp/1/p2p/xyz", False, "not a valid multiaddr"),
    ("/dns/LOCALHOST/tcp/1", False, "lower case: 'localhost'"),
    ("/dns/a.b./tcp/1", False, "trailing dot"),
    ("/dns/1.2.3.4/tcp/1", False, "is an IP address: use /ip4/"),
    ("/dns/999.1.1.1/tcp/1", False, "not an IPv4 address"),
    ("/dns/0x7f/tcp/1", False, "non-standard spelling"),
    ("/dns/ex\u00e9.com/tcp/1", False, "punycode"),
    ("/dns/a\x00b/tcp/1", False, "printable ASCII"),
    ("/ip4/1.2.3.4/tcp/1\n", False, "printable ASCII"),
    ("ip4/1.2.3.4/tcp/1", False, "not a multiaddr"),
    ("", False, "not a multiaddr"),
    ("/dns/" + "a" * 300 + "/tcp/1", False, "longer than 256"),
])
def test_check_multiaddr_refuses(value: str, listen: bool, needle: str) -> None:
    message = refused(lambda: check_multiaddr(value, "trustees[0].multiaddr", listen=listen))
    assert message.startswith("trustees[0].multiaddr ") and needle in message


def test_check_multiaddr_peer_id_rules_and_types() -> None:
    assert "add the peer's id" in refused(
        lambda: check_multiaddr("/ip4/1.2.3.4/tcp/1", "bootstrap_peers[0]", peer_id=True))
    assert "remove the /p2p/ part" in refused(
        lambda: check_multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{PEER}", "x", peer_id=False))
    for value in (5, None, ["/ip4/1.2.3.4/tcp/1"], {"a": 1}, b"/ip4/1.2.3.4/tcp/1"):
        assert "must be a multiaddr string" in refused(lambda v=value: check_multiaddr(v, "x"))


MULTIADDR_PIECES = st.sampled_from([
    "/", "ip4", "ip6", "dns", "dns4", "dns6", "tcp", "udp", "p2p", "ipfs", "unix", "onion3",
    "p2p-circuit", "certhash", "1.2.3.4", "0.0.0.0", "::", "::1", "999.1.1.1", "0", "1",
    "65535", "65536", "01", PEER, "a", ".", "-", "x", ":", "%", "[", "]", " ", "\x00",
    "\udcff", "\u00e9", "LOCALHOST", "0x7f",
])
HOSTILE_MULTIADDR = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec=None), max_size=40),
    st.lists(MULTIADDR_PIECES, max_size=14).map("".join),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE_MULTIADDR, listen=st.booleans(),
       peer_id=st.sampled_from([None, True, False]))
@example(value="/ip4/1.2.3.4/tcp/1/p2p/" + PEER, listen=False, peer_id=None)
def test_check_multiaddr_never_raises_anything_but_config_error(
    value: str, listen: bool, peer_id: bool | None
) -> None:
    try:
        result = check_multiaddr(value, "x", listen=listen, peer_id=peer_id)
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < MESSAGE_LIMIT
        return
    assert result == value == str(Multiaddr(value))  # canonical: one spelling
    assert value.split("/")[3] == "tcp"


@settings(max_examples=300, deadline=None)
@given(address=st.ip_addresses(), port=st.integers(1, 65535))
def test_every_canonical_ip_multiaddr_is_accepted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> None:
    if address.is_unspecified or (isinstance(address, ipaddress.IPv6Address)
                                  and address.ipv4_mapped is not None):
        return
    proto = "ip4" if address.version == 4 else "ip6"
    value = str(Multiaddr(f"/{proto}/{address}/tcp/{port}"))
    assert check_multiaddr(value, "x") == value


# --- hostile genesis and config TOML -----------------------------------------------------------

GOOD = dump_genesis_toml(Genesis("net-1", 0, ChainParams()))
TRUSTEE = f'\n[[trustees]]\npubkey = "{PUB}"\nbond = 100000000000\nmultiaddr = "{{}}"\n'
HUGE = "9" * 5000


@pytest.mark.parametrize(("text", "needle"), [
    # wrong types anywhere
    ('chain_id = 5\ngenesis_time_ms = 0\n', "chain_id must be a string, got an integer"),
    ('chain_id = ["a"]\ngenesis_time_ms = 0\n', "chain_id must be a string, got an array"),
    ('chain_id = "a"\ngenesis_time_ms = 1.5\n', "genesis_time_ms must be an integer"),
    ('chain_id = "a"\ngenesis_time_ms = inf\n', "genesis_time_ms must be an integer"),
    ('chain_id = "a"\ngenesis_time_ms = nan\n', "genesis_time_ms must be an integer"),
    ('chain_id = "a"\ngenesis_time_ms = 1979-05-27\n', "got a date or time"),
    ('chain_id = "a"\ngenesis_time_ms = -1\n', "genesis_time_ms must be an integer from 0"),
    ('chain_id = "a"\ngenesis_time_ms = 0\nparams = 5\n', "params must be a table"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = {a = 1}\n',
     "params.min_fee must be an integer, got a table"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = "' + "x" * 5000 + '"\n',
     "params.min_fee must be an integer, got the string 'xxx"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = true\n',
     "params.min_fee must be an integer, got a boolean"),
    ('chain_id = "a"\ngenesis_time_ms = 0\nallocations = [1]\n',
     "allocations[0] must be a table, got an integer"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = 5\namount = 1\n',
     "allocations[0].address must be a dlc1... string, got an integer"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "dlc1' + "q" * 5000
     + '"\namount = 1\n', "allocations[0].address 'dlc1qqq"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "x"\namount = 1.0\n',
     "allocations[0].amount must be an integer amount in li, got a float"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "x"\n',
     "allocations[0] lacks amount"),
    ('chain_id = "a"\ngenesis_time_ms = 0\ntrustees = "x"\n', "trustees must be an array"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[trustees]]\npubkey = 5\nbond = 1\nmultiaddr = ""\n',
     "trustees[0].pubkey must be a hex string, got an integer"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[trustees]]\npubkey = "' + "ab" * 5000
     + '"\nbond = 1\nmultiaddr = ""\n', "trustees[0].pubkey must be 33 bytes"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[trustees]]\npubkey = "02 ab"\nbond = 1\n'
     'multiaddr = ""\n', "trustees[0].pubkey is not hex"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/ip4/1.2.3.4/tcp/1").replace(
        "bond = 100000000000", "bond = [1]"), "trustees[0].bond must be an integer amount"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.replace('"{}"', "[1]"),
     "trustees[0].multiaddr must be a multiaddr string"),
    # consensus data: a trustee's multiaddr is checked like any other
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/ip4/999.1.1.1/tcp/1"),
     "trustees[0].multiaddr '/ip4/999.1.1.1/tcp/1' is not a valid multiaddr"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/ip4/1.2.3.4/tcp/1/x"),
     "trustees[0].multiaddr"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/ip4/0.0.0.0/tcp/1"),
     "only for listening"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/ip4/1.2.3.4/tcp/0"),
     "port 0 is only for listening"),
    ('chain_id = "a"\ngenesis_time_ms = 0' + TRUSTEE.format("/dns/Node.example/tcp/1"),
     "lower case"),
    # huge integers: beyond Python's int-from-string limit, and beyond the protocol's
    ('chain_id = "a"\ngenesis_time_ms = ' + HUGE + "\n", "an integer has too many digits"),
    ('chain_id = "a"\ngenesis_time_ms = ' + str(1 << 64) + "\n", "genesis_time_ms"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = ' + str(1 << 63) + "\n",
     "params.min_fee must be an integer from 0 to 2^63 - 1"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "x"\namount = '
     + str(1 << 63) + "\n", "allocations[0].amount must be an amount from 0 to 2^63 - 1"),
    # hostile names and structure
    ('chain_id = "a"\ngenesis_time_ms = 0\n"k\\u001b[31m" = 1\n', "unknown key(s): k\\x1b[31m"),
    ('chain_id = "a"\ngenesis_time_ms = 0\n' + "".join(f"k{i} = 1\n" for i in range(50)),
     "and 45 more"),
    ('chain_id = "' + "a" * 5000 + '"\ngenesis_time_ms = 0\n', "chain_id 'aaa"),
    ('chain_id = "net\\n"\ngenesis_time_ms = 0\n', "chain_id 'net\\n'"),
    ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than"),
    ("x = " + "{a = " * 1000 + "1" + "}" * 1000 + "\n", "nested more than"),
])
def test_hostile_genesis_is_one_line_naming_file_and_key(text: str, needle: str) -> None:
    message = refused(lambda: parse_genesis_toml(text.encode(), "/x/g\udcff.toml"))
    assert message.startswith("/x/g\udcff.toml: ") and needle in message, message
    assert "Traceback" not in message and "{'" not in message


def test_non_utf8_genesis_content() -> None:
    message = refused(lambda: parse_genesis_toml(GOOD.encode() + b"\n# \xff\xfe\n", "g.toml"))
    assert message == "g.toml: not UTF-8 text"


def test_genesis_warns_about_defaulted_params() -> None:
    warnings: list[str] = []
    full = parse_genesis_toml(GOOD.encode(), "g.toml", warnings)
    assert warnings == []
    cut = GOOD[:GOOD.index("max_drift_ms")]  # a file cut short inside [params]
    g = parse_genesis_toml(cut.encode(), "g.toml", warnings)
    assert g.params == full.params and len(warnings) == 1
    assert warnings[0].startswith("g.toml: [params] leaves 18 parameter(s) to their defaults")
    no_params = 'chain_id = "a"\ngenesis_time_ms = 0\n'
    warnings.clear()
    parse_genesis_toml(no_params.encode(), "g.toml", warnings)
    assert "leaves 19 parameter(s)" in warnings[0] and "\n" not in warnings[0]


@pytest.mark.parametrize(("text", "needle"), [
    ("api_listen = '999.999.999.999:0'", "api_listen '999.999.999.999:0': '999.999.999.999' "
     "is not an IPv4 address"),
    ("api_listen = '127.0.0.1:80 junk'", "api_listen"),
    ("api_listen = 5", "api_listen must be a string, got an integer"),
    ("p2p_listen = '/ip4/1.2.3.4/tcp/1/junk'", "p2p_listen '/ip4/1.2.3.4/tcp/1/junk'"),
    ("p2p_listen = '/ip4/1.2.3.4/tcp/1/p2p/" + PEER + "'", "a listen address has no /p2p/"),
    ("p2p_listen = {a = 1}", "p2p_listen must be a string, got a table"),
    ("bootstrap_peers = ['/ip4/1.2.3.4/tcp/1']", "bootstrap_peers[0]"),
    ("bootstrap_peers = ['/ip4/1.2.3.4/tcp/0/p2p/" + PEER + "']", "port 0"),
    ("bootstrap_peers = [1]", "bootstrap_peers[0] must be a multiaddr string"),
    ("bootstrap_peers = 'x'", "bootstrap_peers must be an array"),
    ("log_level = '" + "x" * 5000 + "'", "log_level must be one of"),
    ("log_level = 5", "log_level must be a string, got an integer"),
    ("api_listen = " + HUGE, "an integer has too many digits"),
    ("x = " + "[" * 100 + "]" * 100, "nested more than"),
])
def test_hostile_config_is_one_line_naming_file_and_key(text: str, needle: str) -> None:
    message = refused(lambda: parse_config_toml(text.encode(), "/h/config.toml"))
    assert message.startswith("/h/config.toml: ") and needle in message, message


def test_bootstrap_peer_with_peer_id_is_accepted() -> None:
    peer = f"/dns/seed.example.org/tcp/26656/p2p/{PEER}"
    assert NodeConfig(bootstrap_peers=(peer,)).bootstrap_peers == (peer,)


def test_chain_id_with_trailing_newline_is_not_a_chain_id() -> None:
    with pytest.raises(ConfigError):
        Genesis("net-1\n", 0, ChainParams())


def test_roles_in_config_toml_are_checked() -> None:
    from daoli.node.config import MAX_LOCAL_MINERS, NodeConfig, parse_config_toml

    cfg = parse_config_toml(b'mine = 3\ntrustee = false\nsponsor = false\n', "config.toml")
    assert (cfg.mine, cfg.trustee, cfg.sponsor) == (3, False, False)
    assert NodeConfig().mine == -1 and NodeConfig().trustee and NodeConfig().sponsor
    for bad, what in ((b"mine = 65\n", "mine must be"), (b"mine = true\n", "mine must be"),
                      (b'trustee = "yes"\n', "trustee must be true or false"),
                      (b"sponsor = 1\n", "sponsor must be true or false")):
        with pytest.raises(ConfigError, match=what):
            parse_config_toml(bad, "config.toml")
    assert MAX_LOCAL_MINERS == 64
    # a config written by dump_config_toml reads back the same
    from daoli.node.config import dump_config_toml
    again = parse_config_toml(dump_config_toml(cfg).encode(), "config.toml")
    assert again == cfg
