"""Resource quantities of ``daoli resource`` (daoli/cli/resource_units.py): Kubernetes forms,
exact rounding up, and one-line ConfigErrors for everything else."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daoli.cli.resource_units import (
    MAX_CPU_MILLICORES,
    MAX_DISK_GIB,
    MAX_MEM_MIB,
    MAX_NET_MBPS,
    format_cpu,
    format_disk,
    format_mem,
    format_net,
    parse_cpu,
    parse_disk,
    parse_mem,
    parse_net,
    parse_price,
)
from daoli.core.encoding import MAX_AMOUNT
from daoli.core.units import format_dlc
from daoli.errors import ConfigError

MIB, GIB = 1 << 20, 1 << 30


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@pytest.mark.parametrize(("text", "want"), [
    ("2", 2000), ("0.5", 500), ("2000m", 2000), ("0.001", 1), ("1m", 1), (" 4 ", 4000),
    ("0", 0), (".25", 250),
])
def test_cpu_examples(text: str, want: int) -> None:
    assert parse_cpu(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("4Gi", 4096), ("4GiB", 4096), ("512Mi", 512), ("4G", 3815), ("4GB", 3815),
    ("1Ti", 1 << 20), ("1", 1), ("1048576", 1), ("1048577", 2), ("1.5Gi", 1536),
    ("64Ki", 1), ("4gi", 4096),
])
def test_mem_examples(text: str, want: int) -> None:
    assert parse_mem(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("100Gi", 100), ("100GiB", 100), ("1Ti", 1024), ("100G", 94), ("1T", 932), ("0", 0),
])
def test_disk_examples(text: str, want: int) -> None:
    assert parse_disk(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("100Mbps", 100), ("1Gbps", 1000), ("100", 100), ("500kbps", 1), ("1bps", 1),
    ("2.5Gbit/s", 2500), ("10mbps", 10),
])
def test_net_examples(text: str, want: int) -> None:
    assert parse_net(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("0.01DLC/block", 1_000_000), ("1000li/block", 1000), ("1000", 1000),
    ("0.01 DLC / block", 1_000_000), ("0DLC", 0),
])
def test_price_examples(text: str, want: int) -> None:
    assert parse_price(text) == want


@pytest.mark.parametrize(("parse", "text", "needle"), [
    (parse_cpu, "-1", "negative"), (parse_cpu, "0.0005", "finer than 1m"),
    (parse_cpu, "2Gi", "cores"), (parse_cpu, "1e3", "quantity"), (parse_cpu, "", "quantity"),
    (parse_cpu, "9" * 20, "absurd"), (parse_mem, "4m", "thousandths"),
    (parse_mem, "4Xi", "unknown unit"), (parse_mem, "2Ei", "absurd"),
    (parse_disk, "-5Gi", "negative"), (parse_net, "100MB/s", "bits per second"),
    (parse_net, "1MBps", "bits per second"), (parse_net, "1furlong", "unknown unit"),
    (parse_price, "1DLC/hour", "per block"), (parse_price, "-1DLC", "--price"),
    (parse_price, "1.5li", "--price"), (parse_cpu, "٣", "quantity"),
    (parse_mem, "x" * 100_000, "quantity"),
])
def test_bad_quantities_are_one_line(parse: object, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)  # type: ignore[operator]
    message = str(err.value)
    assert needle in message and "\n" not in message and len(message) < 300


@given(st.integers(0, MAX_CPU_MILLICORES))
def test_cpu_round_trips(m: int) -> None:
    assert parse_cpu(format_cpu(m)) == m
    assert parse_cpu(f"{m}m") == m
    assert parse_cpu(str(Decimal(m) / 1000)) == m


@given(st.integers(0, MAX_MEM_MIB))
def test_mem_round_trips(n: int) -> None:
    assert parse_mem(format_mem(n)) == n
    assert parse_mem(f"{n}Mi") == parse_mem(f"{n}MiB") == n


@given(st.integers(0, 10**15))
def test_mem_rounds_bytes_up(b: int) -> None:
    got = parse_mem(str(b))
    assert got == ceil_div(b, MIB)
    assert got * MIB >= b > (got - 1) * MIB or b == got == 0


@given(st.integers(0, 10**6))
def test_decimal_units_are_powers_of_ten(g: int) -> None:
    assert parse_mem(f"{g}G") == ceil_div(g * 10**9, MIB)
    assert parse_disk(f"{g}G") == ceil_div(g * 10**9, GIB)
    assert parse_mem(f"{g}G") <= parse_mem(f"{g}Gi")


@given(st.integers(0, MAX_DISK_GIB))
def test_disk_round_trips(n: int) -> None:
    assert parse_disk(format_disk(n)) == n
    assert parse_disk(f"{n}GiB") == n


@given(st.integers(0, MAX_NET_MBPS))
def test_net_round_trips(n: int) -> None:
    assert parse_net(format_net(n)) == n
    assert parse_net(f"{n}Mbps") == parse_net(str(n)) == n
    if n <= MAX_NET_MBPS // 1000:
        assert parse_net(f"{n}Gbps") == 1000 * n


@given(st.integers(0, MAX_AMOUNT))
def test_price_round_trips(li: int) -> None:
    assert parse_price(f"{li}li/block") == li
    assert parse_price(format_dlc(li, grouping=False, unit=False) + "DLC/block") == li
    assert parse_price(f"{li}li/unit", "--unit-price", per="unit") == li


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_config_error(text: str) -> None:
    for parse in (parse_cpu, parse_mem, parse_disk, parse_net, parse_price):
        try:
            value = parse(text)
        except ConfigError as exc:
            assert "\n" not in str(exc)
        else:
            assert value >= 0


@given(st.integers(1, 10**30))
def test_negative_is_always_refused(n: int) -> None:
    for parse in (parse_cpu, parse_mem, parse_disk, parse_net):
        with pytest.raises(ConfigError):
            parse(f"-{n}")
