"""Amounts as people write them: ``150000000``, ``150000000li``, ``1.5DLC``, ``1_000 dlc``.

Parsing is a regular expression over digits, never ``float`` or ``Decimal``: ``inf``, ``nan``,
``1e308`` and ``1e-308`` are not amounts, and no input can overflow or lose precision. Every
amount is an integer number of li in [0, 2^63 - 1] (1 DLC = 10^8 li).
"""

from __future__ import annotations

import re

from daoli.core.encoding import MAX_AMOUNT
from daoli.core.params import LI_PER_DLC
from daoli.errors import ConfigError

DLC_DECIMALS = 8
_AMOUNT_RE = re.compile(
    r"^(?P<int>[0-9][0-9_]{0,40})(?:\.(?P<frac>[0-9_]{1,40}))?\s*(?P<unit>[A-Za-z]{0,3})$")
_UNITS = {"": None, "li": "li", "dlc": "dlc"}


def parse_amount(text: str, default_unit: str | None = "li") -> int:
    """``text`` as an integer amount in li.

    ``default_unit`` applies when ``text`` has no unit; None makes a unit mandatory (for
    ``daoli units``, where a bare number is ambiguous). li amounts have no decimals; DLC
    amounts have at most 8.
    """
    s = text.strip() if isinstance(text, str) else ""
    m = _AMOUNT_RE.match(s)
    unit = _UNITS.get(m["unit"].lower(), "?") if m else "?"
    if m is None or unit == "?" or "__" in s or s.startswith("_") or m["int"].endswith("_"):
        raise ConfigError(f"amount {text!r}: expected an integer of li (e.g. 150000000 or "
                          "150000000li) or DLC with up to 8 decimals (e.g. 1.5DLC)")
    if unit is None:
        unit = default_unit
        if unit is None:
            raise ConfigError(f"amount {text!r} has no unit: add li or DLC (e.g. 1.5DLC)")
    whole = int(m["int"].replace("_", ""))
    frac = (m["frac"] or "").replace("_", "")
    if unit == "li":
        if frac.strip("0"):
            raise ConfigError(f"amount {text!r}: li is the smallest unit (no decimals)")
        li = whole
    else:
        if len(frac.rstrip("0")) > DLC_DECIMALS:
            raise ConfigError(f"amount {text!r} has more than {DLC_DECIMALS} decimals "
                              "(1 li = 0.00000001 DLC)")
        li = whole * LI_PER_DLC + int((frac.rstrip("0") or "0").ljust(DLC_DECIMALS, "0"))
    if li > MAX_AMOUNT:
        raise ConfigError(f"amount {text!r} is more than the largest amount, "
                          f"{format_dlc(MAX_AMOUNT, grouping=False)}")
    return li


def format_dlc(li: int, *, grouping: bool = True, unit: bool = True) -> str:
    """``li`` as DLC, exactly (no float), with thousands separators unless told otherwise."""
    whole, frac = divmod(li, LI_PER_DLC)
    s = f"{whole:,}" if grouping else str(whole)
    if frac:
        s += f".{frac:0{DLC_DECIMALS}d}".rstrip("0")
    return s + (" DLC" if unit else "")
