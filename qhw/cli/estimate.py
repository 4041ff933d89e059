"""``qhw estimate OUT|MODEL [--target xilinx|ecp5|ice40] [--synth] [--nodsp] [--pnr] [--json]``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from qhw.cli.common import (config_option, emit_json, input_format_option, json_option, load,
                            reuse_factor_option)

_FIELDS = ("lut", "ff", "carry", "dsp", "bram")


@click.command("estimate")
@click.argument("design", type=click.Path(exists=True, path_type=Path))
@config_option
@input_format_option
@click.option("--target", type=click.Choice(["xilinx", "ecp5", "ice40"]), default="xilinx",
              show_default=True, help="FPGA family (Yosys synth_<target>).")
@click.option("--synth", is_flag=True, help="Also run Yosys synthesis (slow; cached).")
@click.option("--nodsp", is_flag=True, help="Forbid DSP blocks (LUT-only area).")
@click.option("--pnr", is_flag=True, help="Place and route with nextpnr for Fmax (ecp5/ice40).")
@reuse_factor_option
@click.option("--multipliers", type=click.Choice(["auto", "csd"]), default="auto",
              show_default=True, help="MODEL only: constant multipliers as in qhw compile.")
@json_option
def estimate(design, config, input_format, target, synth, nodsp, pnr, reuse_factor, multipliers,
             as_json) -> None:
    """Resource estimate of a model or of a `qhw compile` output folder OUT: analytic
    (milliseconds, calibrated against Yosys); --synth adds Yosys synthesis of the RTL (OUT/rtl).

    \b
    Examples:
      qhw estimate examples/jet_mlp/model.yaml --multipliers csd
      qhw estimate build/jet_mlp --target ecp5 --json
    """
    from qhw.estimate import analytic, synthesize
    from qhw.estimate.analytic import coefficients

    rows: dict[str, dict] = {}
    options = {"multipliers": multipliers}
    if reuse_factor:
        options["reuse_factor"] = reuse_factor
    if design.is_dir() and not (design / "model.yaml").is_file():
        # an old compile output without its model: only synthesis can count it
        rows[f"yosys-{target}"] = synthesize(design, target=target, nodsp=nodsp, pnr=pnr).to_dict()
    else:
        if design.is_dir():  # a compile output: its model and the options it was compiled with
            from qhw.io import load_model
            from qhw.io.compiled import read_report

            graph = load_model(design / "model.yaml")
            if (design / "report.json").exists():
                options = dict(read_report(design).options.get("rtl", options))
        else:
            graph = load(design, config, input_format)
        calibrated = target in coefficients()
        if calibrated:
            rows["analytic"] = analytic(graph, target=target, options=options, nodsp=nodsp).to_dict()
        if (synth or pnr or not calibrated) and design.is_dir():
            rows[f"yosys-{target}"] = synthesize(design, target=target, nodsp=nodsp, pnr=pnr).to_dict()
        elif synth or pnr or not calibrated:
            with tempfile.TemporaryDirectory(prefix="qhw_estimate_") as tmp:
                from qhw.backends.verilog import write_verilog

                write_verilog(graph, Path(tmp) / "rtl", options=options)
                rows[f"yosys-{target}"] = synthesize(Path(tmp), target=target, nodsp=nodsp,
                                                     pnr=pnr).to_dict()
    clock = _clock_check(design, rows)
    if as_json:
        doc = {"design": str(design), "target": target, "nodsp": nodsp, "estimates": rows}
        if clock:
            doc["clock"] = clock
        emit_json(doc)
        return
    _table(rows, f"{design} ({target}{', no DSP' if nodsp else ''})")
    if clock:
        click.echo(f"clock target {clock['clock_period_ns']:g} ns ({clock['target_mhz']:g} MHz, "
                   f"compiled for {clock['compiled_for']}): measured Fmax {clock['fmax_mhz']:g} MHz, "
                   + ("met" if clock["met"] else "NOT met")
                   + f" (the delay model estimated {clock['fmax_mhz_estimate']:g} MHz)")


def _clock_check(design: Path, rows: dict[str, dict]) -> dict | None:
    """For a compile output built with --clock-period and a measured Fmax: the target and
    whether place and route met it."""
    fmax = next((r["fmax_mhz"] for r in rows.values() if r.get("fmax_mhz")), None)
    rep = design / "report.json" if design.is_dir() else None
    if fmax is None or rep is None or not rep.is_file():
        return None
    import json

    t = json.loads(rep.read_text()).get("timing")
    if not isinstance(t, dict) or "clock_period_ns" not in t:
        return None
    target_mhz = round(1000.0 / float(t["clock_period_ns"]), 2)
    return dict(clock_period_ns=float(t["clock_period_ns"]), target_mhz=target_mhz,
                compiled_for=t.get("target"), fmax_mhz=fmax, met=fmax >= target_mhz,
                fmax_mhz_estimate=t.get("fmax_mhz_estimate"))


def _table(rows: dict[str, dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("source")
    for f in _FIELDS:
        table.add_column(f.upper(), justify="right")
    fmax = any(r.get("fmax_mhz") for r in rows.values())
    if fmax:
        table.add_column("Fmax MHz", justify="right")
    for name, r in rows.items():
        cells = [str(r[f]) for f in _FIELDS] + ([str(r.get("fmax_mhz") or "-")] if fmax else [])
        table.add_row(name, *cells)
    Console(width=100).print(table)
