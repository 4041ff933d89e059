"""Lines tests want shown in the run's summary (case counts of oracles, measured figures).

Tests call ``report.add(request, line)`` (or ``add(None, line)``); lines reach the terminal summary
also under pytest-xdist, through the test report's user_properties.
"""
LINES: list[str] = []


def add(line: str, request=None) -> None:
    LINES.append(line)
    if request is not None:
        request.node.user_properties.append(("qhw_report", line))
