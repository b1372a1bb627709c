"""Compute: confined runs, output streamed, CPU metered by the kernel, limits enforced."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from cloud_helpers import (
    CHAIN,
    LEASE_ID,
    PROVIDER,
    buyer_lease,
    make_lease,
    memory_buyer,
    trio_test,
)

from daoli.cloud.compute import CgroupV2, ComputeService, RunLimits, RunResult, run_confined
from daoli.cloud.proto import COMPUTE_PROTOCOL, Refused
from daoli.cloud.service import CPU_MS, MemoryLeaseSource, ProviderLimits, Resources, ServiceHost

PY = sys.executable
MIB = 1 << 20


def limits(**kw: float) -> RunLimits:
    base = dict(wall_s=10.0, cpu_s=5, mem_bytes=512 * MIB, file_bytes=4 * MIB,
                output_bytes=4 * MIB, cpu_millicores=1000)
    base.update(kw)
    return RunLimits(**base)  # type: ignore[arg-type]


async def run(tmp: Path, argv: list[str], **kw: float) -> tuple[RunResult, bytes, bytes]:
    out = {1: bytearray(), 2: bytearray()}
    chunks: list[int] = []

    async def on(fd: int, data: bytes) -> None:
        chunks.append(len(data))
        out[fd].extend(data)

    result = await run_confined(argv, limits(**kw), tmp, on)
    assert all(n <= 64 * 1024 for n in chunks)
    return result, bytes(out[1]), bytes(out[2])


@trio_test
async def test_output_is_streamed_in_bounded_chunks(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('err')"
    result, out, err = await run(tmp_path, [PY, "-c", code])
    assert (result.code, result.reason) == (0, "exit")
    assert out == b"x" * 300000 and err == b"err"


@trio_test
async def test_cpu_is_metered_by_the_kernel_not_by_what_the_process_says(
        tmp_path: Path) -> None:
    code = ("import time\nt = time.process_time()\n"
            "while time.process_time() - t < 0.4: pass\nprint('cpu_ms=0')")
    result, out, _ = await run(tmp_path, [PY, "-c", code])
    assert out.strip() == b"cpu_ms=0"  # it lies
    assert 380 <= result.cpu_ms <= 3000  # the kernel does not


@trio_test
async def test_cpu_of_waited_for_children_is_metered(tmp_path: Path) -> None:
    code = ("import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
            "'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.3: pass'])")
    result, _, _ = await run(tmp_path, [PY, "-c", code])
    assert result.code == 0 and result.cpu_ms >= 280


@trio_test
async def test_rlimit_cpu_stops_a_busy_loop(tmp_path: Path) -> None:
    result, _, _ = await run(tmp_path, [PY, "-c", "while True: pass"], cpu_s=1, wall_s=20)
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.reason == "exit" and 900 <= result.cpu_ms <= 2500


@trio_test
async def test_rlimit_as_stops_a_memory_hog(tmp_path: Path) -> None:
    code = "x = bytearray(1 << 30); print('allocated')"
    result, out, err = await run(tmp_path, [PY, "-c", code], mem_bytes=256 * MIB)
    assert result.code != 0 and b"allocated" not in out and b"MemoryError" in err


@trio_test
async def test_rlimit_fsize_stops_a_huge_file(tmp_path: Path) -> None:
    code = ("import os\nf = os.open('big', os.O_WRONLY | os.O_CREAT)\nn = 0\n"
            "try:\n  while n < 8 << 20: n += os.write(f, b'x' * 65536)\n"
            "except OSError as e: print('stopped', n, e.errno)\nelse: print('wrote', n)")
    result, out, _ = await run(tmp_path, [PY, "-c", code], file_bytes=1 * MIB)
    words = out.split()
    assert words[0] == b"stopped" and int(words[1]) <= 1 * MIB, out
    assert result.signal in (None, signal.SIGXFSZ)


@trio_test
async def test_wall_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    code = ("import subprocess, time\nsubprocess.Popen(['sleep', '60'])\n"
            "print('started', flush=True)\ntime.sleep(60)")
    result, out, _ = await run(tmp_path, [PY, "-c", code], wall_s=0.7)
    assert result.reason == "timeout" and result.signal == signal.SIGKILL
    assert out == b"started\n" and result.wall_ms < 5000


@trio_test
async def test_what_the_command_leaves_running_is_killed(tmp_path: Path) -> None:
    code = "import subprocess; subprocess.Popen(['sleep', '60']); print('bye')"
    result, out, _ = await run(tmp_path, [PY, "-c", code], wall_s=30)
    assert result.code == 0 and out == b"bye\n" and result.wall_ms < 5000


@trio_test
async def test_argv_is_never_a_shell_and_the_workdir_is_fresh(tmp_path: Path) -> None:
    _, out, _ = await run(tmp_path, ["echo", "$HOME;", "ls", "|", "x"])
    assert out == b"$HOME; ls | x\n"
    code = "import os; print(os.listdir('.'), os.getcwd() == os.environ['HOME'], len(os.environ))"
    _, out, _ = await run(tmp_path, [PY, "-c", code])
    assert out.startswith(b"[] True")
    assert int(out.split()[-1]) <= 4
    assert list((tmp_path).iterdir()) == []  # working directories are removed


@trio_test
async def test_output_over_the_cap_is_cut_and_the_run_killed(tmp_path: Path) -> None:
    code = "import sys\nwhile True: sys.stdout.write('y' * 65536)"
    result, out, _ = await run(tmp_path, [PY, "-c", code], output_bytes=100_000)
    assert len(out) == 100_000 and result.truncated and result.reason == "output_limit"


@trio_test
async def test_missing_program_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Refused) as exc:
        await run(tmp_path, ["no-such-program-here"])
    assert exc.value.code == "bad_request"


def test_billed_cpu_is_capped_at_what_the_lease_sells() -> None:
    r = RunResult(0, None, cpu_ms=2000, wall_ms=1000, reason="exit", truncated=False,
                  cgroup=False)
    assert r.billed_cpu_ms(500) == 500 and r.billed_cpu_ms(4000) == 2000


def test_cgroup_detection_falls_back_and_writes_limits(tmp_path: Path) -> None:
    assert CgroupV2.detect(tmp_path) is None  # no cgroup.controllers: not cgroup2
    (tmp_path / "cgroup.controllers").write_text("cpuset io\n")
    assert CgroupV2.detect(tmp_path) is None  # no cpu/memory controllers
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    cg = CgroupV2.detect(tmp_path)
    assert cg is not None
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    group = cg.create(limits(cpu_millicores=500, mem_bytes=64 * MIB))
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "memory.max").read_text() == str(64 * MIB)
    (group / "cpu.stat").write_text("usage_usec 123456\nuser_usec 1\n")
    assert CgroupV2.usage_ms(group) == 123
    CgroupV2.detect()  # the real host: whatever it is, no exception


@trio_test
async def test_compute_service_meters_cpu_within_what_the_buyer_allows(tmp_path: Path) -> None:
    source = MemoryLeaseSource({LEASE_ID: make_lease(resources=Resources(1000, 256, 1))},
                               height=5)
    eng = ServiceHost(CHAIN, PROVIDER, source, ProviderLimits(max_file_bytes=MIB))
    compute = ComputeService(tmp_path, ProviderLimits(max_file_bytes=MIB))
    async with memory_buyer(eng, {COMPUTE_PROTOCOL: compute}, buyer_lease()) as buyer:
        code = ("import time\nt = time.process_time()\n"
                "while time.process_time() - t < 0.3: pass\nprint('done')")
        outcome = await buyer.run([PY, "-c", code], wall_s=10)
        assert outcome.code == 0 and outcome.stdout == b"done\n"
        assert 280 <= outcome.cpu_ms <= outcome.wall_ms  # billed: at most 1 CPU x wall
        session = next(iter(eng.accounts[LEASE_ID].sessions))
        assert session.meter.totals[CPU_MS] == outcome.cpu_ms
        s = await buyer.session(COMPUTE_PROTOCOL)
        assert s.observed.totals[CPU_MS] == outcome.cpu_ms  # within what the buyer allows
        with pytest.raises(Refused):
            await buyer.run(["definitely-not-installed"], wall_s=1)
