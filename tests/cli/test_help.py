"""Help texts render as written: paragraphs reflowed, placeholders and JSON shapes kept."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from daoli.cli.app import app


@pytest.mark.parametrize(("args", "needles"), [
    (["init", "--help"], ["<home>/dev.password", "1,000,000 DLC", '"dev_wallet"']),
    (["wallet", "list", "--help"], ['{"wallets": [', '"unreadable"']),
    (["sim", "--help"], ["SKIPS ECDSA", "wins_by_miner", "wall_seconds"]),
    (["chain", "genesis", "--help"], ['"genesis_id"', '"trustees"']),
])
def test_help_keeps_placeholders_and_schemas(args: list[str], needles: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for needle in needles:
        assert needle in text, needle
