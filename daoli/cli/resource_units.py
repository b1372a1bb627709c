"""Resource quantities as ``daoli resource`` reads and prints them: pure functions, no I/O.

The chain counts CPU in millicores, memory in MiB, disk in GiB and network in Mbit/s
(SPEC 6). People write them as Kubernetes taught them to, so the parsers take those forms:

- CPU: ``2`` or ``0.5`` (cores) or ``2000m`` (millicores); finer than 1m is refused, as in
  Kubernetes;
- memory: ``512Mi``, ``4Gi``/``4GiB``, ``1Ti`` (binary), ``4G``/``4GB`` (decimal: 10^9
  bytes), ``k``/``Ki`` likewise, or a plain number of bytes; rounded **up** to whole MiB, so
  an order never asks for less than was written;
- disk: the same forms, rounded up to whole GiB;
- network: ``100Mbps``, ``1Gbps``, ``500kbps``, ``100Mbit/s``, or a plain number of Mbit/s.
  Here "Mbps" means megabits per second (10^6 bit/s), never megabytes; ``MB/s`` is refused
  rather than guessed;
- prices: ``0.01DLC/block``, ``1000li/block``, or any amount ``daoli units`` reads (an
  integer is li); a unit price likewise with ``/unit``.

Every parser raises :class:`~daoli.errors.ConfigError` (exit 2) with one line naming the
option, for negative, absurd (above the ``MAX_*`` bounds) or malformed values.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from daoli.core.units import format_dlc, parse_amount
from daoli.errors import ConfigError
from daoli.files import show

MIB = 1 << 20
GIB = 1 << 30
MAX_CPU_MILLICORES = 10**9
"""A million cores: more than any one machine, far less than the chain's 2^64."""
MAX_MEM_MIB = 1 << 40
"""An exbibyte of memory."""
MAX_DISK_GIB = 1 << 30
"""An exbibyte of disk."""
MAX_NET_MBPS = 10**9
"""A petabit per second."""
MAX_TEXT = 64
"""Longest quantity accepted, so a 100 kB argument is refused before any arithmetic."""

_NUMBER = r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_QUANTITY_RE = re.compile(_NUMBER + r"\s*([A-Za-z/]*)")

_BYTE_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "ki": 1 << 10, "kib": 1 << 10,
    "m": 10**6, "mb": 10**6, "mi": 1 << 20, "mib": 1 << 20,
    "g": 10**9, "gb": 10**9, "gi": 1 << 30, "gib": 1 << 30,
    "t": 10**12, "tb": 10**12, "ti": 1 << 40, "tib": 1 << 40,
    "p": 10**15, "pb": 10**15, "pi": 1 << 50, "pib": 1 << 50,
    "e": 10**18, "eb": 10**18, "ei": 1 << 60, "eib": 1 << 60,
}
"""Suffix (case-insensitive, except a lone lower-case ``m``, see below) to bytes."""

_NET_UNITS: dict[str, Fraction] = {
    "bps": Fraction(1, 10**6), "bit/s": Fraction(1, 10**6),
    "kbps": Fraction(1, 10**3), "kbit/s": Fraction(1, 10**3),
    "mbps": Fraction(1), "mbit/s": Fraction(1), "": Fraction(1),
    "gbps": Fraction(10**3), "gbit/s": Fraction(10**3),
    "tbps": Fraction(10**6), "tbit/s": Fraction(10**6),
}
"""Suffix (lower-cased) to Mbit/s."""


def _split(text: str, what: str, example: str) -> tuple[Fraction, str]:
    """``(number, unit)`` of a quantity such as ``4.5Gi``; the number is exact."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ConfigError(f"{what}: expected a quantity such as {example}")
    value = text.strip()
    if value.startswith("-"):
        raise ConfigError(f"{what} {show(value)!r}: must not be negative")
    if not value.isascii():
        raise ConfigError(f"{what} {show(value)!r}: expected a quantity such as {example}")
    m = _QUANTITY_RE.fullmatch(value)
    if m is None:
        raise ConfigError(f"{what} {show(value)!r}: expected a quantity such as {example}")
    return Fraction(Decimal(m.group(1))), m.group(2)


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _bounded(value: int, top: int, what: str, text: str, unit: str) -> int:
    if value > top:
        raise ConfigError(f"{what} {show(text.strip())!r} is absurd: at most {top:,} {unit}")
    return value


def parse_cpu(text: str, what: str = "--cpu") -> int:
    """CPU as millicores: ``2`` and ``2000m`` are 2000, ``0.5`` is 500."""
    number, unit = _split(text, what, "2, 0.5 or 2000m")
    if unit == "m":
        milli = number
    elif unit == "":
        milli = number * 1000
    else:
        raise ConfigError(f"{what} {show(text.strip())!r}: CPU is cores (2, 0.5) or "
                          "millicores (2000m)")
    if milli.denominator != 1:
        raise ConfigError(f"{what} {show(text.strip())!r}: finer than 1m (a thousandth of "
                          "a core) is not allowed")
    return _bounded(int(milli), MAX_CPU_MILLICORES, what, text, "millicores")


def parse_bytes(text: str, what: str, example: str) -> Fraction:
    """A memory or disk size in bytes, exactly. A lone lower-case ``m`` is Kubernetes'
    *milli*-byte, which nobody means: it is refused with a hint instead of read as mega."""
    number, unit = _split(text, what, example)
    if unit == "m":
        raise ConfigError(f"{what} {show(text.strip())!r}: 'm' means thousandths; write Mi "
                          "(mebibytes) or M (megabytes)")
    factor = _BYTE_UNITS.get(unit.lower())
    if factor is None:
        raise ConfigError(f"{what} {show(text.strip())!r}: unknown unit {show(unit)!r} (use "
                          "Ki, Mi, Gi, Ti with or without B, or k, M, G, T for powers of 10)")
    return number * factor


def parse_mem(text: str, what: str = "--mem") -> int:
    """Memory as MiB, rounded up: ``4Gi`` is 4096, ``4G`` (4·10^9 bytes) is 3815."""
    size = parse_bytes(text, what, "512Mi, 4Gi or 4GiB")
    return _bounded(_ceil(size / MIB), MAX_MEM_MIB, what, text, "MiB")


def parse_disk(text: str, what: str = "--disk") -> int:
    """Disk as GiB, rounded up: ``100Gi`` is 100, ``1Ti`` is 1024, ``100G`` is 94."""
    size = parse_bytes(text, what, "100Gi, 100GiB or 1Ti")
    return _bounded(_ceil(size / GIB), MAX_DISK_GIB, what, text, "GiB")


def parse_net(text: str, what: str = "--net") -> int:
    """Network as Mbit/s, rounded up: ``100Mbps`` is 100, ``1Gbps`` is 1000, a plain
    number is Mbit/s. Megabits, not megabytes: ``MB/s`` and ``MBps`` are refused."""
    number, unit = _split(text, what, "100Mbps or 1Gbps")
    if "B" in unit:
        raise ConfigError(f"{what} {show(text.strip())!r}: network speed is in bits per "
                          "second (100Mbps = 100 megabits); bytes per second are not accepted")
    factor = _NET_UNITS.get(unit.lower())
    if factor is None:
        raise ConfigError(f"{what} {show(text.strip())!r}: unknown unit {show(unit)!r} (use "
                          "kbps, Mbps, Gbps or Tbps: bits per second)")
    return _bounded(_ceil(number * factor), MAX_NET_MBPS, what, text, "Mbit/s")


def parse_price(text: str, what: str = "--price", per: str = "block") -> int:
    """A price in li: ``0.01DLC/block``, ``1000li/block``, ``0.01DLC`` or ``1000``."""
    if not isinstance(text, str) or len(text) > MAX_TEXT + 10:
        raise ConfigError(f"{what}: expected a price such as 0.01DLC/{per}")
    value = text.strip()
    head, slash, tail = value.partition("/")
    if slash and tail.strip().lower() != per:
        raise ConfigError(f"{what} {show(value)!r}: a price is per {per} (0.01DLC/{per})")
    try:
        return parse_amount(head.strip())
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


# --- printing -----------------------------------------------------------------------------


def format_cpu(millicores: int) -> str:
    """``2`` for whole cores, else ``1500m``."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def format_mem(mib: int) -> str:
    """``4Gi`` when whole, else ``512Mi``."""
    if mib and mib % (1 << 20) == 0:
        return f"{mib >> 20}Ti"
    if mib and mib % 1024 == 0:
        return f"{mib >> 10}Gi"
    return f"{mib}Mi"


def format_disk(gib: int) -> str:
    return f"{gib >> 10}Ti" if gib and gib % 1024 == 0 else f"{gib}Gi"


def format_net(mbps: int) -> str:
    return f"{mbps // 1000}Gbps" if mbps and mbps % 1000 == 0 else f"{mbps}Mbps"


def format_price(li: int, per: str = "block") -> str:
    """``0.01 DLC/block``."""
    return f"{format_dlc(li)}/{per}"


__all__ = ["MAX_CPU_MILLICORES", "MAX_DISK_GIB", "MAX_MEM_MIB", "MAX_NET_MBPS", "format_cpu",
           "format_disk", "format_mem", "format_net", "format_price", "parse_bytes",
           "parse_cpu", "parse_disk", "parse_mem", "parse_net", "parse_price"]
