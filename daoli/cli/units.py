"""``daoli units``: convert amounts between DLC and li, exactly (as ``cast to-wei`` does)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from daoli.cli.common import JsonOpt, emit, examples, fail
from daoli.core.params import LI_PER_DLC
from daoli.core.units import format_dlc, parse_amount


def units(
    amount: Annotated[str, typer.Argument(
        help="An amount with its unit: 1.5DLC, 1.5 DLC, 150000000li (case-insensitive; "
        "'_' may group digits).", show_default=False)],
    to: Annotated[str | None, typer.Option(
        "--to", help="Print only the number in this unit: li or dlc (for scripts).",
        show_default="the other unit")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Convert an amount between DLC and li (1 DLC = 100,000,000 li), exactly.

    Prints the amount in the other unit; --to picks the unit and prints the bare number.
    Amounts are integers of li from 0 to 2^63 - 1; a DLC amount has at most 8 decimals.

    --json prints {"li": int, "dlc": "decimal string"} (dlc is a string so no float ever
    rounds it).
    """
    li = parse_amount(amount, default_unit=None)
    dlc = format_dlc(li, grouping=False, unit=False)
    if to is not None and to.lower() not in ("li", "dlc"):
        fail(f"--to {to!r}: use li or dlc")
    target = to.lower() if to else ("li" if amount.strip().lower().endswith("dlc") else "dlc")

    def human() -> None:
        if to:
            sys.stdout.write((str(li) if target == "li" else dlc) + "\n")
        else:
            sys.stdout.write((f"{li} li" if target == "li" else f"{dlc} DLC") + "\n")

    emit(as_json, {"li": li, "dlc": dlc}, human)


units.__doc__ = (units.__doc__ or "") + examples(
    "daoli units 1.5DLC", "daoli units 150000000li --to dlc", "daoli --json units 0.00000001DLC")

__all__ = ["LI_PER_DLC", "units"]
