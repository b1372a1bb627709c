"""The human `daoli sim` output shows a rich progress bar once a run passes one second."""

from __future__ import annotations

import itertools

import pytest
from rich.console import Console
from typer.testing import CliRunner

import daoli.cli.sim as sim_cli
from daoli.cli.app import app
from daoli.errors import ConfigError


def test_progress_bar_path_runs_to_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = itertools.count(0.0, 2.0)  # every reading is 2 s later: the bar starts at once
    monkeypatch.setattr(sim_cli.time, "perf_counter", lambda: next(clock))
    started = []
    real_start = sim_cli.Progress.start

    def start(self: sim_cli.Progress) -> None:
        started.append(True)
        real_start(self)

    monkeypatch.setattr(sim_cli.Progress, "start", start)
    result = CliRunner().invoke(app, ["sim", "--trustees", "4", "--miners", "20",
                                      "--heights", "3"])
    assert result.exit_code == 0, result.output
    assert started, "the progress bar never started"
    assert "heights finalized" in result.stdout


def test_progress_bar_console_takes_no_markup_and_keeps_stdout_clean(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar draws on its own stderr console, with markup off like the CLI's consoles (and
    --no-color honoured); stdout holds the report only."""
    clock = itertools.count(0.0, 2.0)
    monkeypatch.setattr(sim_cli.time, "perf_counter", lambda: next(clock))
    made: list[Console] = []
    real_console = sim_cli.live_console

    def console(to_stderr: bool) -> Console:
        made.append(real_console(to_stderr))
        return made[-1]

    monkeypatch.setattr(sim_cli, "live_console", console)
    result = CliRunner().invoke(app, ["--no-color", "sim", "--trustees", "4", "--miners", "5",
                                      "--heights", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert not made, "--json runs draw no progress bar"
    result = CliRunner().invoke(app, ["--no-color", "sim", "--trustees", "4", "--miners", "5",
                                      "--heights", "2"])
    assert result.exit_code == 0, result.output
    assert made and all(c.stderr and not c._markup and c.no_color for c in made)
    assert "simulating" not in result.stdout and "heights finalized" in result.stdout


def test_progress_bar_is_not_shown_for_an_invalid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounds are checked before the run: a refused config never starts the bar."""
    clock = itertools.count(0.0, 2.0)
    monkeypatch.setattr(sim_cli.time, "perf_counter", lambda: next(clock))
    started: list[bool] = []
    monkeypatch.setattr(sim_cli.Progress, "start", lambda self: started.append(True))
    result = CliRunner().invoke(app, ["sim", "--heights", "0"])
    assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 2
    assert "--heights" in str(result.exception) and not started
