"""The /proc sampler of make bench-load: CPU time and resident memory of process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench import procstat


def test_a_busy_child_shows_in_its_parents_tree_with_its_cpu_and_memory() -> None:
    busy = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", "import time\nend = time.time() + 0.6\nwhile time.time() < end: pass"]
    )
    try:
        me = os.getpid()
        before = procstat.cpu_seconds(procstat.tree(me))
        time.sleep(0.5)
        family = procstat.tree(me)
        assert busy.pid in family and me in family
        used = procstat.cpu_used_between(before, procstat.cpu_seconds(family))
        assert used >= 0.2, "the child's spinning shows as CPU time"
        assert procstat.rss_mb([busy.pid]) > 1
    finally:
        busy.wait()


def test_processes_gone_or_new_are_counted_from_what_is_known() -> None:
    assert procstat.cpu_used_between({1: 5.0, 2: 1.0}, {1: 6.5, 3: 0.25}) == 1.75
    assert procstat.rss_mb([]) == 0
    assert procstat.cpu_seconds([2**22 + 1]) == {}, "a pid that does not exist is left out"


def test_named_finds_this_interpreter() -> None:
    me = os.getpid()
    assert me in procstat.named([procstat.command(me)])


def test_the_load_summary_gathers_the_tracked_figures() -> None:
    from bench.load import summary_of

    result = {
        "throughput_ratio": 0.5,
        "throughput_ratio_on_our_stores": 0.77,
        "ours": {
            "subscribers": {
                "latency_ms": {"p95": 334.2},
                "errors": 0,
                "lost": 0,
                "cpu": {"ms_per_message": 151.3},
            },
            "topology": {
                "rasa_rss_mb": {"5005": 1010.5, "5006": 1120.0},
                "model_archive_mb": 8.5,
                "ready_seconds": 39.9,
                "rasa_rss_after_minutes_of_load": 10.1,
            },
            "soak": {"errors": 1, "lost": 2},
        },
    }
    summary = summary_of(result)
    assert {k: summary[k] for k in list(summary)[:10]} == {
        "ratio_vs_stock_same_stores": 0.77,
        "ratio_vs_stock_as_shipped": 0.5,
        "p95_ms_50_subscribers": 334.2,
        "errors": 1,
        "lost": 2,
        "cpu_ms_per_message": 151.3,
        "rasa_rss_mb_max": 1120.0,
        "rasa_rss_after_minutes_of_load": 10.1,
        "model_archive_mb": 8.5,
        "ready_seconds": 39.9,
    }
    assert summary["train_seconds_from"].startswith("nlu-") and summary["train_seconds"] > 0


def test_cpu_is_split_by_part_of_the_topology() -> None:
    from bench.load import _cpu_by_part

    me = os.getpid()

    class FakeTopology:
        rasa_ports = [5005]

        def pid(self, name: str) -> int:
            if name == "action-server":
                return me
            raise FileNotFoundError(name)

    gone = 2**22 + 3  # no such process: its command cannot be read
    parts = _cpu_by_part(FakeTopology(), {me: 1.0, gone: 0.5}, {me: 3.0, gone: 1.0})  # type: ignore[arg-type]
    assert parts == {"action-server": 2.0, "other": 0.5}
