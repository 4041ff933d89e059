import os
import sys
from pathlib import Path

# Test helpers (reference models, oracles, shared fixtures) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
# The Verilator harness at g++ -O0 (qhw/verify/build.py): the tests' runs are short, its build
# is what costs; inherited by the CLI subprocesses. Users and benchmarks keep -O1.
os.environ.setdefault("QHW_HARNESS_OPT", "-O0")

import report  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (each says why it is slow) run first, shared among the workers, so
    that the short ones fill the gaps and the workers finish together instead of one starting a
    long test at the end.

    pytest-xdist's load scheduling (``-n``) first sends worker k the items
    ``[k * chunk, (k + 1) * chunk)`` with ``chunk = max(2, min(N // workers // 4, --maxschedchunk))``
    and the rest on demand, in order. With every slow test at the front, the first worker got all
    of them (measured: 6 of 6 on gw0); so the slow tests are dealt round-robin to the front of
    each worker's first chunk (any beyond a chunk follow right after the chunks)."""
    slow = [it for it in items if it.get_closest_marker("slow") is not None]
    rest = [it for it in items if it.get_closest_marker("slow") is None]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers < 2 or len(items) < 2 * workers:
        items[:] = slow + rest
        return
    chunk = max(2, min(len(items) // workers // 4, config.getoption("maxschedchunk", None) or len(items)))
    heads, later = [], []
    for k in range(workers):
        mine = slow[k::workers]
        fill = max(0, chunk - len(mine))
        heads += mine[:chunk] + rest[:fill]
        later += mine[chunk:]
        rest = rest[fill:]
    items[:] = heads + later + rest


def pytest_terminal_summary(terminalreporter):
    lines = list(report.LINES)
    # pytest-xdist workers report through their own processes; collect what they sent.
    for rep in terminalreporter.getreports("passed"):
        for name, value in getattr(rep, "user_properties", []):
            if name == "qhw_report" and value not in lines:
                lines.append(value)
    if lines:
        terminalreporter.section("qhw oracle summary")
        for line in lines:
            terminalreporter.write_line(line)
