"""``qhw simulate OUT [--backend rtl|hls] [-n N]``."""
from __future__ import annotations

from pathlib import Path

import click

from qhw.cli.common import (emit_json, finite, json_option, probability_type, status, vectors_type,
                            within_limit)


@click.command("simulate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(["rtl", "hls"]), default="rtl", show_default=True)
@click.option("--engine", type=click.Choice(["harness", "cocotb"]), default="harness",
              show_default=True, help="RTL: C++ stream harness (fast) or cocotb testbench.")
@click.option("-n", "n", type=vectors_type, default=None, callback=within_limit("vectors"),
              help="Use only the first N >= 1 vectors.")
@click.option("--gap", type=probability_type, default=0.2, show_default=True, callback=finite,
              help="Input gap probability, in [0, 1).")
@click.option("--stall", type=probability_type, default=0.2, show_default=True, callback=finite,
              help="Output stall probability, in [0, 1).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--waves", is_flag=True, help="Keep a VCD waveform trace.")
@json_option
def simulate(out, backend, engine, n, gap, stall, seed, waves, as_json) -> None:
    """Run OUT's test vectors through the RTL (Verilator) or HLS C++ (g++) and compare.

    \b
    Example:
      qhw simulate build/model --json
    """
    from qhw.io.compiled import check_output
    from qhw.verify.run import simulate_out

    check_output(out, backend)
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
