"""The human `daoli sim` output shows a rich progress bar once a run passes one second."""

from __future__ import annotations

import itertools

import pytest
from typer.testing import CliRunner

import daoli.cli.sim as sim_cli
from daoli.cli.app import app


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
