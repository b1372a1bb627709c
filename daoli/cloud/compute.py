"""Compute on a lease: run one command (argv, never a shell) in a confined process.

Confinement, per run:

* a fresh empty working directory under the provider's data dir, deleted afterwards, and an
  environment of ``PATH``, ``HOME`` (the working directory) and ``LANG`` only; stdin is
  ``/dev/null``; the child leads its own session (process group);
* ``setrlimit`` in the child before ``exec``: ``RLIMIT_CPU`` (soft = the run's CPU seconds,
  hard one more, so SIGXCPU then SIGKILL), ``RLIMIT_AS`` (the lease's memory), ``RLIMIT_FSIZE``
  (the provider's per-file cap; a bigger write fails with EFBIG or SIGXFSZ),
  ``RLIMIT_CORE`` 0, and ``RLIMIT_NPROC`` when the run is under its own uid (root ignores it,
  so it is only set with ``run_as``);
* a cgroup v2 sub-group with ``cpu.max`` (millicores/1000 CPUs), ``memory.max`` and
  ``pids.max`` when a writable cgroup2 hierarchy with those controllers exists at
  ``/sys/fs/cgroup`` (:meth:`CgroupV2.detect`); otherwise the rlimits alone, with a logged
  note (a hybrid cgroup v1 host, such as this CI, has none);
* a wall-clock timeout, after which the whole process group (and cgroup) is killed; when the
  command exits, whatever it left running in its group is killed too;
* stdout and stderr are read in chunks of at most 64 KiB and handed on as they come; past
  the provider's output cap the run is killed (``reason: output_limit``).

CPU time is metered by the kernel: ``ru_utime + ru_stime`` from ``os.wait4`` of the child
(which includes every descendant it waited for), or the cgroup's ``cpu.stat`` ``usage_usec``
(every descendant) when larger. Nothing the process prints is believed. Without a cgroup, a
grandchild that escapes into a new session before the command exits is not metered (it is
still bound by its own RLIMIT_CPU): use the cgroup, or ``run_as`` a dedicated uid, in
production.

Wire (``/daoli/cloud/compute/1``): ``["run", argv, wall_ms]`` -> any number of
``["out", 1|2, data]`` -> ``["exit", {code, signal, cpu_ms, kernel_cpu_ms, wall_ms, reason,
truncated}]``. ``cpu_ms`` is what is billed: the kernel's figure capped at what the lease
sells in that wall time (``wall_ms * cpu_millicores / 1000``), so a buyer can check it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from daoli.cloud.proto import CHUNK_BYTES, COMPUTE_PROTOCOL, Refused, expect
from daoli.cloud.service import BYTES_OUT, CPU_MS, ProviderLimits, Session

log = logging.getLogger("daoli.cloud.compute")

MAX_ARGV = 256
MAX_ARGV_BYTES = 32 * 1024
RUN_PATH = "/usr/local/bin:/usr/bin:/bin"
PUMP_GRACE_S = 1.0
"""After the command exits, how long its output pipes may stay open (a grandchild holding
them is killed with the group; one that escaped gets cut off here)."""


@dataclass(frozen=True)
class RunLimits:
    wall_s: float
    cpu_s: int
    mem_bytes: int
    file_bytes: int
    output_bytes: int
    cpu_millicores: int
    procs: int = 64


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``code`` is the exit status, or None when a signal ended it."""

    code: int | None
    signal: int | None
    cpu_ms: int
    wall_ms: int
    reason: str
    """``exit``, ``timeout`` or ``output_limit``."""
    truncated: bool
    cgroup: bool

    def billed_cpu_ms(self, cpu_millicores: int) -> int:
        """Kernel CPU capped at what the lease sells in this wall time."""
        return min(self.cpu_ms, math.ceil(self.wall_ms * cpu_millicores / 1000))


class CgroupV2:
    """A cgroup v2 parent group for runs, when the host allows one."""

    PARENT = "daoli-cloud"

    def __init__(self, parent: Path) -> None:
        self.parent = parent

    @classmethod
    def detect(cls, root: Path = Path("/sys/fs/cgroup")) -> CgroupV2 | None:
        """A usable hierarchy: cgroup2 at ``root`` with cpu and memory controllers, and we
        may create a group and delegate them to it. Anything else: None (rlimits only)."""
        try:
            controllers = (root / "cgroup.controllers").read_text().split()
            if not {"cpu", "memory"} <= set(controllers) or not os.access(root, os.W_OK):
                return None
            parent = root / cls.PARENT
            parent.mkdir(exist_ok=True)
            wanted = [c for c in ("cpu", "memory", "pids") if c in controllers]
            enable = " ".join(f"+{c}" for c in wanted)
            (root / "cgroup.subtree_control").write_text(enable)
            (parent / "cgroup.subtree_control").write_text(enable)
            return cls(parent)
        except OSError as exc:
            log.info("no usable cgroup v2 at %s (%s): rlimits only", root, exc)
            return None

    def create(self, limits: RunLimits) -> Path:
        group = self.parent / f"run-{secrets.token_hex(6)}"
        group.mkdir()
        period = 100_000
        quota = max(1000, limits.cpu_millicores * period // 1000)
        (group / "cpu.max").write_text(f"{quota} {period}")
        (group / "memory.max").write_text(str(limits.mem_bytes))
        pids = group / "pids.max"
        if pids.exists():
            pids.write_text(str(limits.procs))
        return group

    @staticmethod
    def usage_ms(group: Path) -> int:
        try:
            for line in (group / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) // 1000
        except (OSError, ValueError):
            pass
        return 0

    @staticmethod
    def kill(group: Path) -> None:
        with contextlib.suppress(OSError):
            (group / "cgroup.kill").write_text("1")

    @staticmethod
    def remove(group: Path) -> None:
        for _ in range(50):
            try:
                group.rmdir()
                return
            except OSError:
                CgroupV2.kill(group)
        log.warning("could not remove cgroup %s", group)


def check_argv(argv: Any) -> list[str]:
    if type(argv) is not list or not 1 <= len(argv) <= MAX_ARGV:
        raise Refused("bad_request", f"argv is a list of 1 to {MAX_ARGV} strings")
    total = 0
    for a in argv:
        if type(a) is not str or "\x00" in a:
            raise Refused("bad_request", "argv items are strings without NUL")
        total += len(a.encode())
    if total > MAX_ARGV_BYTES:
        raise Refused("bad_request", f"argv is at most {MAX_ARGV_BYTES} bytes")
    if not argv[0]:
        raise Refused("bad_request", "argv[0] is empty")
    return list(argv)


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_confined(argv: Sequence[str], limits: RunLimits, work_parent: Path,
                       on_output: Callable[[int, bytes], Awaitable[None]],
                       cgroups: CgroupV2 | None = None,
                       run_as: tuple[int, int] | None = None) -> RunResult:
    """Run ``argv`` confined (see the module docstring) and stream its output to
    ``on_output(fd, chunk)``. Raises Refused(bad_request) when the program cannot start."""
    work_parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=work_parent))
    group: Path | None = None
    if cgroups is not None:
        try:
            group = cgroups.create(limits)
        except OSError as exc:
            log.warning("cgroup for a run not created (%s): rlimits only", exc)
    if run_as is not None:
        os.chown(workdir, run_as[0], run_as[1])
    procs_path = str(group / "cgroup.procs") if group is not None else None

    def confine() -> None:  # runs in the child between fork and exec
        if procs_path is not None:
            with open(procs_path, "w") as f:
                f.write(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.mem_bytes, limits.mem_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        if run_as is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.procs, limits.procs))
            os.setgroups([])
            os.setgid(run_as[1])
            os.setuid(run_as[0])

    env = {"PATH": RUN_PATH, "HOME": str(workdir), "LANG": "C.UTF-8"}
    program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=RUN_PATH)
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    start = trio.current_time()
    try:
        try:
            if program is None:
                raise FileNotFoundError(argv[0])
            proc = subprocess.Popen(
                [program, *argv[1:]], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=w_out, stderr=w_err, preexec_fn=confine, start_new_session=True,
                close_fds=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise Refused("bad_request", f"cannot start {argv[0][:100]!r}: "
                                         f"{type(exc).__name__}") from None
        finally:
            os.close(w_out)
            os.close(w_err)
        return await _supervise(proc, r_out, r_err, limits, on_output, group, start)
    finally:
        for fd in (r_out, r_err):
            with contextlib.suppress(OSError):
                os.close(fd)
        if group is not None:
            CgroupV2.remove(group)
        shutil.rmtree(workdir, ignore_errors=True)


async def _supervise(proc: subprocess.Popen[bytes], r_out: int, r_err: int, limits: RunLimits,
                     on_output: Callable[[int, bytes], Awaitable[None]], group: Path | None,
                     start: float) -> RunResult:
    pid = proc.pid
    pidfd = os.pidfd_open(pid)
    sent = 0
    truncated = False
    reason = "exit"
    status = 0
    rusage: Any = None
    done = trio.Event()
    pumps_left = 2
    pumps_done = trio.Event()

    def kill() -> None:
        if group is not None:
            CgroupV2.kill(group)
        _killpg(pid)

    async def pump(fd: int, which: int) -> None:
        nonlocal pumps_left
        try:
            await pump_until_eof(fd, which)
        finally:
            pumps_left -= 1
            if pumps_left == 0:
                pumps_done.set()

    async def pump_until_eof(fd: int, which: int) -> None:
        nonlocal sent, truncated, reason
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                data = os.read(fd, CHUNK_BYTES)
            except BlockingIOError:
                continue
            if not data:
                return
            room = limits.output_bytes - sent
            if room <= 0:
                continue
            if len(data) > room:
                data = data[:room]
                truncated = True
                if reason == "exit":
                    reason = "output_limit"
                kill()
            sent += len(data)
            await on_output(which, data)

    try:
        for fd in (r_out, r_err):
            os.set_blocking(fd, False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, r_out, 1)
            nursery.start_soon(pump, r_err, 2)
            with trio.move_on_after(limits.wall_s) as wall:
                await trio.lowlevel.wait_readable(pidfd)
            if wall.cancelled_caught:
                reason = "timeout"
                kill()
                await trio.lowlevel.wait_readable(pidfd)
            _, status, rusage = os.wait4(pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            done.set()
            kill()  # whatever the command left running in its group
            with trio.move_on_after(PUMP_GRACE_S):
                await pumps_done.wait()  # EOF on both: every holder of the pipes is gone
            nursery.cancel_scope.cancel()
    finally:
        if not done.is_set():
            kill()
            try:
                _, status, rusage = os.wait4(pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass
        os.close(pidfd)
    wall_ms = int((trio.current_time() - start) * 1000)
    cpu_ms = int((rusage.ru_utime + rusage.ru_stime) * 1000) if rusage is not None else 0
    if group is not None:
        cpu_ms = max(cpu_ms, CgroupV2.usage_ms(group))
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return RunResult(code, sig, cpu_ms, wall_ms, reason, truncated, group is not None)


class ComputeService:
    """The compute service: one run at a time per lease, confined and metered."""

    protocol = COMPUTE_PROTOCOL

    def __init__(self, data_dir: Path, limits: ProviderLimits = ProviderLimits(),
                 cgroups: CgroupV2 | None = None, run_as: tuple[int, int] | None = None
                 ) -> None:
        self.work_parent = Path(data_dir) / "runs"
        self.limits = limits
        self.cgroups = cgroups
        self.run_as = run_as
        self._running: set[bytes] = set()

    async def handle(self, session: Session, request: list[Any]) -> None:
        if request[0] != "run":
            raise Refused("bad_request", f"unknown compute request {str(request[0])[:32]!r}")
        argv, wall_ms = expect(request, "run", 2)
        argv = check_argv(argv)
        if type(wall_ms) is not int or wall_ms < 1:
            raise Refused("bad_request", "run: wall_ms must be a positive integer")
        q = session.quotas
        if q.cpu_millicores < 1 or q.mem_bytes < 1:
            raise Refused("quota", "this lease has no CPU or memory to run with")
        lease_id = session.lease.id
        if lease_id in self._running:
            raise Refused("busy", "a run is already in progress on this lease")
        wall_s = min(wall_ms / 1000, self.limits.max_run_s)
        limits = RunLimits(
            wall_s=wall_s, cpu_s=max(1, math.ceil(q.cpu_millicores / 1000 * wall_s)),
            mem_bytes=q.mem_bytes, file_bytes=self.limits.max_file_bytes,
            output_bytes=self.limits.max_output_bytes, cpu_millicores=q.cpu_millicores,
            procs=self.limits.max_procs)

        async def out(fd: int, data: bytes) -> None:
            await session.send(["out", fd, data])
            session.charge(BYTES_OUT, len(data))

        self._running.add(lease_id)
        try:
            result = await run_confined(argv, limits, self.work_parent / lease_id.hex(), out,
                                        self.cgroups, self.run_as)
        finally:
            self._running.discard(lease_id)
        billed = result.billed_cpu_ms(q.cpu_millicores)
        session.charge(CPU_MS, billed)
        await session.send(["exit", {
            "code": result.code, "signal": result.signal, "cpu_ms": billed,
            "kernel_cpu_ms": result.cpu_ms, "wall_ms": result.wall_ms,
            "reason": result.reason, "truncated": result.truncated}])


__all__ = ["CgroupV2", "ComputeService", "RunLimits", "RunResult", "check_argv",
           "run_confined"]
