"""The hostile-input campaign of ``tests/cli/hostile.py``, bounded for CI.

Fixed seeds, so a failure here is reproducible with the ``reproduce:`` line it prints; a
time budget per part, so a slow or loaded machine runs fewer cases (always cases 0..k-1 of
the seed) instead of timing out. The release check is the long mode::

    python -m tests.cli.hostile --cases 2000 --seed 7 --unprivileged --unprivileged-cases 700

See docs/hostile-input.md for what is generated and checked. The fast tests at the end
check the oracle itself (when --json is in effect, what counts as a failure).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.cli.hostile import (
    UNPRIVILEGED_USER,
    Case,
    Fixture,
    Interpreter,
    Outcome,
    Report,
    Tree,
    check,
    json_expectation,
    load_tree,
    run_campaign,
    unprivileged_interpreter,
)

SEED = 12
"""The campaign seed for cases run as the current user."""
UNPRIVILEGED_SEED = 1012
"""The campaign seed for cases run as 'nobody'."""
CASES, BUDGET = 400, 65.0
"""At most this many cases, and no new case after this many seconds (about 150-250 cases
on two idle cores)."""
UNPRIVILEGED_CASES, UNPRIVILEGED_BUDGET = 150, 25.0
WORKERS = 3
TIMEOUT = 20.0
"""Seconds one case may take before it counts as a hang."""
SHRINK_BUDGET = 15.0
"""Seconds spent making the reproducers of failures smaller."""


def _check(report: Report, capsys: pytest.CaptureFixture[str], what: str) -> None:
    count = report.unprivileged_cases if what == "unprivileged" else report.cases
    with capsys.disabled():
        print(f"\n{what} hostile campaign: {count} cases in {report.seconds:.0f} s, "
              f"{len(report.failing)} failing, {len(report.classes())} failure classes")
    assert count > 0 or report.problems, "the campaign ran no case"
    if report.failing or report.problems:
        pytest.fail(report.render(), pytrace=False)


@pytest.mark.slow
def test_cli_survives_hostile_input(capsys: pytest.CaptureFixture[str]) -> None:
    """No traceback, hang, exit code outside 0-4, malformed stderr or --json output."""
    report = run_campaign(seed=SEED, cases=CASES, budget=BUDGET, workers=WORKERS,
                          timeout=TIMEOUT, shrink=True, shrink_budget=SHRINK_BUDGET)
    _check(report, capsys, "normal")


@pytest.mark.slow
def test_cli_survives_hostile_input_as_nobody(capsys: pytest.CaptureFixture[str]) -> None:
    """The same, run as the unprivileged user (unreadable files and homes bite for real)."""
    with tempfile.TemporaryDirectory(prefix="daoli-hostile-probe-") as tmp:
        Path(tmp).chmod(0o755)
        interp = unprivileged_interpreter(Path(tmp))
    if not isinstance(interp, Interpreter):
        pytest.skip(f"cannot run as {UNPRIVILEGED_USER!r}: {interp}")
    report = run_campaign(seed=SEED, cases=0, unprivileged_cases=UNPRIVILEGED_CASES,
                          unprivileged_seed=UNPRIVILEGED_SEED,
                          unprivileged_budget=UNPRIVILEGED_BUDGET, workers=WORKERS,
                          timeout=TIMEOUT, shrink=True, shrink_budget=SHRINK_BUDGET / 2)
    assert not report.skipped, report.skipped
    _check(report, capsys, "unprivileged")


# --- the oracle itself (fast) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> Tree:
    return load_tree()


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["--json", "wallet", "list"], {}, "json"),
    (["wallet", "--json", "list"], {}, "json"),
    (["wallet", "list", "--json"], {}, "json"),
    (["--json", "--bogus", "wallet", "list"], {}, "json"),
    (["--version", "--json"], {}, "json"),
    (["units", "1DLC"], {b"DAOLI_OUTPUT": b"json"}, "json"),
    (["units", "1DLC"], {}, "text"),
    (["units", "1DLC"], {b"DAOLI_OUTPUT": b"JSON"}, "text"),
    (["--home", "--json", "wallet", "list"], {}, "maybe"),  # a home named --json
    (["--bogus", "--json", "wallet", "list"], {}, "maybe"),  # click stops at --bogus
    (["--version", "wallet", "list", "--json"], {}, "maybe"),  # exits before 'wallet'
    (["wallet", "list", "--json", "-h"], {}, "maybe"),  # help is exempt
    (["--", "wallet", "list", "--json"], {}, "maybe"),
    (["wallet", "list", "--json=1"], {}, "maybe"),
])
def test_json_expectation(tree: Tree, argv: list[str], env: dict[bytes, bytes],
                          expected: str) -> None:
    assert json_expectation(tree, argv, env) == expected


def _outcome(argv: list[str], rc: int, stdout: str, stderr: str) -> Outcome:
    case = Case(0, 0, False, ("units",), list(argv), {}, Fixture("home", "fresh", "home", 0))
    return Outcome(case, [a.encode() for a in argv], {}, rc, stdout.encode(), stderr.encode(),
                   0.1)


ERROR_OBJECT = '{"error": {"message": "bad", "exit_code": 2}}\n'


@pytest.mark.parametrize(("rc", "stdout", "stderr", "failed"), [
    (2, ERROR_OBJECT, "error: bad\n", None),
    (2, ERROR_OBJECT, "warning: w\nerror: bad\n", None),
    (0, '{"li": 1}\n', "", None),
    (2, ERROR_OBJECT, "", "stderr"),
    (2, ERROR_OBJECT, "error: a\nerror: b\n", "stderr"),
    (2, ERROR_OBJECT, "Usage: daoli\nerror: bad\n", "stderr"),
    (2, ERROR_OBJECT + ERROR_OBJECT, "error: bad\n", "json"),
    (2, '{"error": {"message": "bad", "exit_code": 1}}', "error: bad\n", "json"),
    (2, "", "error: bad\n", "json"),
    (0, '{"x": NaN}', "", "json"),
    (0, "[1]", "", "json"),
    (5, ERROR_OBJECT, "error: bad\n", "exit-code"),
    (2, ERROR_OBJECT, "error: [Errno 2] No such file\n", "leak"),
    (1, "", "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
        "KeyError: 'salt'\n", "traceback"),
])
def test_check(tree: Tree, rc: int, stdout: str, stderr: str, failed: str | None) -> None:
    failures = check(_outcome(["--json", "units", "1DLC"], rc, stdout, stderr), tree)
    assert [f.check for f in failures] == ([failed] if failed else [])
