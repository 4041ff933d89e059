"""Native code_table nodes whose ``rows`` param (the table row of every element, as an average
pool with a divisor by position uses it) is hostile: a row beyond the table, a fraction, the
wrong count of elements, rows on a 1-D table. One error line naming the node, exit code 2,
nothing written."""
from __future__ import annotations

import numpy as np
import pytest

from bad_input_harness import assert_error, run_qhw, unchanged


def _rows_model(tmp_path, table, rows):
    from qhw.flow import GraphBuilder
    from qhw.io import save

    b = GraphBuilder("ct")
    x = b.input("x", (2, 5), "ap_int<4>")
    b.output("y", b.node("tab", "code_table", [x], {}, {"table": table, "rows": rows}, {"result": "ap_int<8>"}))
    case = tmp_path / "case"
    case.mkdir()
    return save(b.graph, case / "model.yaml")  # unvalidated: the CLI must refuse it


TABLE = np.tile(np.arange(16) - 8.0, (3, 1))


@pytest.mark.parametrize("table,rows,needles", [
    (TABLE, np.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2]), ("'tab'", "rows", "[0, 2]")),
    (TABLE, np.array([0, 1, 2, 0.5, 0, 1, 2, 0, 1, 2]), ("'tab'", "rows")),
    (TABLE, np.array([0, 1, 2, 0]), ("'tab'", "4 rows", "(2, 5)")),
    (np.arange(16) - 8.0, np.zeros(10), ("'tab'", "rows", "2-D table")),
])
def test_hostile_rows_are_one_error_line(tmp_path, table, rows, needles):
    model = _rows_model(tmp_path, table, rows)
    with unchanged(model.parent):
        r = run_qhw(["inspect", model])
    assert_error(r, *needles)
