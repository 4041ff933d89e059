"""``qhw compile MODEL [--config CONFIG] -o OUT``."""
from __future__ import annotations

from pathlib import Path

import click

from qhw.cli.common import (config_option, emit_json, input_format_option, json_option, load,
                            model_argument, reuse_factor_option, status, vectors_type, within_limit)


@click.command("compile")
@model_argument
@config_option
@input_format_option
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output folder: a new or empty one, or one qhw compile wrote (replaced "
                   "atomically); never the current folder or the model's.")
@reuse_factor_option
@click.option("--multipliers", type=click.Choice(["auto", "csd"]), default="auto", show_default=True,
              help="Constant multipliers: '*' (shifts for powers of two) or CSD shift-add.")
@click.option("--output-fifo", is_flag=True,
              help="End the RTL top in a small FIFO with credit-based input throttling: no "
                   "combinational ready path from output to input, no stall enable fanned out "
                   "to the pipeline; one more cycle of latency.")
@click.option("--io", "io", type=click.Choice(["auto", "parallel", "stream"]), default="auto",
              show_default=True,
              help="Convolutions and pooling: 'parallel' (unrolled over the image), 'stream' "
                   "(pixels through line buffers and one kernel array) or 'auto' (stream when a "
                   "convolution unrolled would exceed 65,536 constant products); a node's 'io' "
                   "attribute overrides it.")
@click.option("--vectors", "n_vectors", type=vectors_type, default=200, show_default=True,
              callback=within_limit("vectors"),
              help="Number of test vectors (golden model outputs) to write.")
@click.option("--backend", "backends", multiple=True, default=("rtl", "hls"), show_default=True,
              help="Backends to run (registered: rtl, hls).")
@json_option
def compile_cmd(model, config, input_format, out, reuse_factor, multipliers, output_fifo, io, n_vectors, backends,
                as_json) -> None:
    """Write OUT/rtl (Verilog), OUT/hls (HLS C++), OUT/vectors and OUT/report.json.

    \b
    Example:
      qhw compile model.yaml --config cfg.yaml -o build/model
      qhw simulate build/model
    """
    from qhw.io.atomic import check_output_dir
    from qhw.verify.compile import compile_graph

    check_output_dir(out, "compile", inputs=(model, config))  # before the work, not after
    graph = load(model, config, input_format)
    rtl = {"multipliers": multipliers}
    if io != "auto":
        rtl["io"] = io
    if output_fifo:
        rtl["output_fifo"] = True
    if reuse_factor:
        rtl["reuse_factor"] = reuse_factor
    with status(f"writing {', '.join(backends)} and {n_vectors} golden vectors to {out}..."):
        report = compile_graph(graph, out, tuple(backends),
                               {"rtl": rtl, "hls": {"io": io} if io != "auto" else {}}, n_vectors=n_vectors,
                               inputs=(model, config))
    if as_json:
        emit_json(report)
        return
    click.echo(f"wrote {out}: top {report.get('top')}, latency {report.get('latency')} cycles, "
               f"II {report.get('ii')}, backends {', '.join(report['backends'])}, "
               f"{n_vectors} vectors")
