"""Running cocotb testbenches (from ``sim/``) against a cached Verilator build.

``cocotb_tools.runner`` would rebuild per call; here the build comes from :func:`build_cocotb`
(once per design content) and only ``Runner.test`` runs, with the build folder pointed at the
cache. Testbenches report through a JSON file whose path is passed in ``QHW_RESULT``.
"""
from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from qhw._resources import sim_dir
from qhw.errors import MissingToolError
from qhw.tools.exitinfo import ChildUsage, ended
from qhw.tools.verilator import INSTALL_HINT, verilator_env

if TYPE_CHECKING:  # build.py imports this module when cocotb is used: no import back
    from qhw.verify.build import VerilatedBuild


def make_runner():
    """A cocotb Verilator runner (cocotb 2.x)."""
    try:
        from cocotb_tools.runner import get_runner
    except ImportError:
        raise MissingToolError(f"cocotb is not installed; {INSTALL_HINT}") from None
    return get_runner("verilator")


@contextmanager
def _patched_env(extra: Mapping[str, str]):
    """Verilator on PATH, the testbench folder importable, and pytest's per-test variable hidden
    (under pytest the runner would ``sys.exit`` on a failed test instead of returning)."""
    saved = dict(os.environ)
    saved_path = list(sys.path)
    os.environ.update(verilator_env())
    os.environ.update(extra)
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    sys.path.insert(0, str(sim_dir()))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.path[:] = saved_path


def run_cocotb(build: VerilatedBuild, test_module: str, test_dir: os.PathLike,
               env: Mapping[str, str] | None = None, waves: bool = False,
               seed: int = 1) -> dict:
    """Run the cocotb module ``test_module`` (a file in ``sim/``) against ``build``.

    The testbench writes its result JSON to ``$QHW_RESULT``; that dict is returned, with
    ``waves`` set to the VCD path when tracing was on.
    """
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    result_path = test_dir / "result.json"
    result_path.unlink(missing_ok=True)
    extra = {k: str(v) for k, v in (env or {}).items()}
    extra["QHW_RESULT"] = str(result_path)
    runner = make_runner()
    how = ""
    usage = ChildUsage.start()
    with _patched_env(extra):
        try:
            runner.test(test_module=test_module, hdl_toplevel=build.top, hdl_toplevel_lang="verilog",
                        build_dir=str(build.exe.parent), test_dir=str(test_dir), waves=waves,
                        seed=seed, extra_env=extra, results_xml=str(test_dir / "results.xml"),
                        log_file=str(test_dir / "sim.log"))
        except (SystemExit, RuntimeError) as exc:
            # the result file (or its absence) tells what happened; cocotb 2 raises
            # RuntimeError("Command failed with return code: N") when the simulator fails
            code = re.search(r"return code:?\s*(-?\d+)", str(exc))
            how = ended(int(code.group(1))) if code else str(exc)
    usage.stop()
    if not result_path.is_file():
        log = (test_dir / "sim.log").read_text() if (test_dir / "sim.log").is_file() else ""
        tail = "\n".join(log.strip().splitlines()[-30:]) or "it printed nothing"
        raise RuntimeError(f"cocotb test {test_module!r} wrote no result (the simulator: "
                           f"{how or 'no error reported'} {usage.text()}); log tail:\n{tail}")
    result = json.loads(result_path.read_text())
    vcd = test_dir / "dump.vcd"
    result["waves"] = str(vcd) if waves and vcd.is_file() else None
    return result
