"""What every scenario shares: the machine's description, percentiles, per-process CPU and
memory from /proc, and how to run the ``daoli`` command without the caller's environment."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

DAOLI = [sys.executable, "-m", "daoli.cli.app"]
_TICKS = os.sysconf("SC_CLK_TCK")


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, Python and libp2p: what a reader needs to compare two figures."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        libp2p = metadata.version("libp2p")
    except metadata.PackageNotFoundError:
        libp2p = None
    return {"host": platform.node(), "cpu": cpu or platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "libp2p": libp2p,
            "platform": platform.platform()}


def machine_line(info: dict[str, Any] | None = None) -> str:
    m = info or machine_info()
    return (f"{m['host']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
            f"libp2p {m['libp2p']}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported figure is one that happened)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proc_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def clean_env() -> dict[str, str]:
    """The caller's environment without ``DAOLI_*`` settings that would redirect a run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}


def start_profilers(out: Path, pids: dict[str, int]) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """py-spy sampling each process into ``out/NAME.txt`` (collapsed stacks, the format
    flamegraph tools read) until :func:`stop_profilers`. py-spy needs ptrace rights (root, or
    ``kernel.yama.ptrace_scope`` 0); without them the run goes on unprofiled."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("py-spy is not installed: running without profiles", file=sys.stderr)
        return []
    out.mkdir(parents=True, exist_ok=True)
    return [(name, subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw",
                                     "--rate", "200", "--nonblocking", "-o",
                                     str(out / f"{name}.txt")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for name, pid in pids.items()]


def stop_profilers(spies: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, p in spies:
        p.send_signal(signal.SIGINT)
    for _, p in spies:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
