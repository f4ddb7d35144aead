"""run-prod's supervision for real (bot/ops/run_prod.py): supervisord from the rendered configuration
runs stand-in programs (``sleep``, a shell that exits), starts a killed one again after the delay
with a new pid, prints the line the benchmarks look for, stops the topology after too many exits,
notices a program that dies before it is ready, and stops every program, children included.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.ops import run_prod
from bot.ops.checks import Failed
from bot.ops.run_prod import Restarts, Supervisor
from bot.ops.topology import Layout, Program


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that died to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _until(check: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Supervisor]]:
    started: list[Supervisor] = []

    def start(programs: list[Program], **layout: object) -> Supervisor:
        supervisor = Supervisor(Layout(tmp_path, **layout), programs)  # type: ignore[arg-type]
        started.append(supervisor)
        supervisor.states()  # supervisord answers
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop()


SLEEPER = Program("sleeper", "sleeper", ("sh", "-c", "sleep 1000 & wait"))


def test_a_killed_program_is_started_again_after_the_delay_and_said_so(
    start: Callable[..., Supervisor], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = start([SLEEPER], restart_delay=1.5)
    pid_file = tmp_path / "pids" / "sleeper.pid"
    _until(pid_file.exists)
    first = int(pid_file.read_text())
    assert supervisor.states()["sleeper"]["pid"] == first  # the launcher became the program
    restarts = Restarts(supervisor)
    os.killpg(first, signal.SIGKILL)  # as bench/faults.py does
    killed = time.monotonic()
    _until(lambda: int(pid_file.read_text()) != first)
    assert time.monotonic() - killed >= 1.4  # supervisord restarts at once; the launcher waited
    restarts.check()
    assert "sleeper exited; starting it again in 1.5 s (log: " in capsys.readouterr().out
    second = int(pid_file.read_text())
    assert _alive(second) and supervisor.states()["sleeper"]["statename"] == "RUNNING"
    restarts.check()
    assert capsys.readouterr().out == ""  # one exit, one line


def test_a_program_that_keeps_exiting_stops_the_topology(
    start: Callable[..., Supervisor], capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = start(
        [SLEEPER, Program("crasher", "crasher", ("sh", "-c", "sleep 0.2; exit 3"))],
        restart_delay=0.2,
        restart_limit=3,
    )
    restarts = Restarts(supervisor)
    with pytest.raises(Failed):
        for _ in range(100):
            time.sleep(0.2)
            restarts.check()
    out, err = capsys.readouterr()
    assert out.count("crasher exited; starting it again in 0.2 s") == 2
    assert "crasher exited 3 times in ten minutes; stopping. See " in err
    assert "sleeper" not in out + err


def test_a_program_that_dies_before_it_is_ready_fails_the_start(
    start: Callable[..., Supervisor], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crasher = Program("crasher", "crasher", ("sh", "-c", "echo the reason; exit 3"), "http://127.0.0.1:9/")
    supervisor = start([SLEEPER, crasher], restart_delay=5)
    with pytest.raises(Failed):
        run_prod.wait_until_ready(supervisor)
    err = capsys.readouterr().err
    assert f"crasher failed to start; the end of {tmp_path}/crasher.log:" in err
    assert "the reason" in err


def test_stopping_stops_every_program_and_its_children(
    start: Callable[..., Supervisor], tmp_path: Path
) -> None:
    supervisor = start([SLEEPER, Program("other", "other", ("sleep", "1000"))])
    pids = [tmp_path / "pids" / f"{name}.pid" for name in ("sleeper", "other")]
    _until(lambda: all(p.exists() for p in pids))
    leaders = [int(p.read_text()) for p in pids]
    _until(lambda: len(_group(leaders[0])) == 2)  # sh and its sleep
    members = _group(leaders[0]) + leaders
    started = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - started < 10  # together, not one after another with a timeout
    assert not [pid for pid in members if _alive(pid)]
    assert supervisor.process.returncode == 0


def _group(pgid: int) -> list[int]:
    """The processes of a process group (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found.append(int(entry))
    return found
