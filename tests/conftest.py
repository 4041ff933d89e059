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
    """Tests marked ``slow`` (each says why it is slow) run first, in their collection order:
    with pytest-xdist the long ones start at once on different workers and the short ones fill
    the gaps, so the workers finish together instead of one starting a long test at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
