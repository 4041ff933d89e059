"""``qhw simulate OUT [--backend rtl|hls] [-n N]``."""
from __future__ import annotations

from pathlib import Path

import click

from qhw.cli.common import emit_json, json_option, status
from qhw.errors import QhwError


@click.command("simulate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(["rtl", "hls"]), default="rtl", show_default=True)
@click.option("--engine", type=click.Choice(["harness", "cocotb"]), default="harness",
              show_default=True, help="RTL: C++ stream harness (fast) or cocotb testbench.")
@click.option("-n", "n", type=int, default=None, help="Use only the first N vectors.")
@click.option("--gap", type=float, default=0.2, show_default=True, help="Input gap probability.")
@click.option("--stall", type=float, default=0.2, show_default=True, help="Output stall probability.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--waves", is_flag=True, help="Keep a VCD waveform trace.")
@json_option
def simulate(out, backend, engine, n, gap, stall, seed, waves, as_json) -> None:
    """Run OUT's test vectors through the RTL (Verilator) or HLS C++ (g++) and compare.

    \b
    Example:
      qhw simulate build/model --json
    """
    from qhw.verify.run import simulate_out

    if not (out / "report.json").is_file():
        raise QhwError(f"{str(out)!r} is not a qhw compile output (no report.json); run qhw compile")
    tool = "g++ (HLS C simulation)" if backend == "hls" else f"Verilator ({engine})"
    with status(f"building and simulating {out} with {tool}..."):
        res = simulate_out(out, backend=backend, engine=engine, n=n, gap=gap, stall=stall, seed=seed,
                           waves=waves)
    if as_json:
        emit_json(res if isinstance(res, dict) else res.to_dict())
    else:
        click.echo(res.summary())
    ok = res["ok"] if isinstance(res, dict) else res.ok
    if not ok:
        raise SystemExit(1)
