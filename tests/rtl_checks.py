"""The two checks every generated design gets: ``verilator --lint-only -Wall`` and Yosys
``read_verilog -sv; synth`` (bottom-up, see :func:`qhw.tools.yosys.synth_check`)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace


def design_in(rtl_dir) -> SimpleNamespace:
    """The design a ``qhw compile`` wrote (``OUT/rtl/design.json``), as ``write_verilog`` returns it."""
    rtl_dir = Path(rtl_dir)
    man = json.loads((rtl_dir / "design.json").read_text())
    return SimpleNamespace(rtl_dir=rtl_dir, files=man["files"], top=man["top"])


def assert_lint_clean(d) -> None:
    from qhw.tools.verilator import lint

    res = lint([d.rtl_dir / f for f in d.files], top=d.top)
    assert res.ok, res.summary()


def assert_synthesizes(d) -> dict:
    """Yosys synth of the whole design without errors and without latches; returns ``stat``."""
    from qhw.tools.yosys import synth_check

    res = synth_check(d.rtl_dir, d.files, d.top)
    for note in res.notes:  # a retry after Yosys died is allowed once, and shown in the CI log
        warnings.warn(f"{d.top}: {note}", stacklevel=2)
    assert res.ok, f"Yosys synth of {d.top}: {res.summary()}"
    cells = {}
    for mod in res.stat.get("modules", {}).values():
        for typ, n in mod.get("num_cells_by_type", mod.get("cell_types", {})).items():
            cells[typ] = cells.get(typ, 0) + n
    latches = {t: n for t, n in cells.items() if "LATCH" in t.upper()}
    assert not latches, f"latches in {d.top}: {latches}"
    return res.stat


def check_design(d) -> None:
    assert_lint_clean(d)
    assert_synthesizes(d)
