import sys
from pathlib import Path

# Test helpers (reference models, oracles, shared fixtures) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

import report  # noqa: E402


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
