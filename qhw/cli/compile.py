"""``qhw compile MODEL [--config CONFIG] -o OUT``: the compile flow (qhw.flow.COMPILE_FLOW)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import click

from qhw.cli.common import (config_option, emit_json, import_options, input_format_option, json_option,
                            model_argument, reuse_factor_option, status, vectors_type, within_limit)

#: the marker command of a --save-steps folder (a compile output is not one, and vice versa)
SAVE_STEPS_COMMAND = "compile --save-steps"


def _list_steps(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    from qhw.flow import describe

    click.echo(describe())
    ctx.exit(0)


def _step_name(ctx, param, value):
    """--stop-after: one of the compile flow's steps (checked before any work)."""
    if value is None:
        return value
    from qhw.flow import COMPILE_FLOW

    if value not in COMPILE_FLOW.names():
        raise click.BadParameter(f"unknown step {value!r}; the steps are: {', '.join(COMPILE_FLOW.names())}")
    return value


def _finite(ctx, param, value):
    """--clock-period: FloatRange lets nan through (every comparison with nan is false)."""
    if value is not None and value != value:
        raise click.BadParameter(f"{value} is not in the range 0<x<=1000000.0")
    return value


def _check_outputs(out: Path, save_steps: Path | None, inputs: tuple) -> None:
    """Both output folders may be written (qhw.io.atomic's rules), and neither holds the other."""
    from qhw.io.atomic import OutputError, check_output_dir

    out_dir, _ = check_output_dir(out, "compile", inputs=inputs)
    if save_steps is None:
        return
    try:
        steps_dir, _ = check_output_dir(save_steps, SAVE_STEPS_COMMAND, inputs=inputs)
    except OutputError as exc:
        raise OutputError(f"--save-steps: {exc}") from None
    if steps_dir == out_dir or out_dir in steps_dir.parents or steps_dir in out_dir.parents:
        raise OutputError(f"--save-steps folder {str(save_steps)!r} and the output folder {str(out)!r} "
                          f"overlap; give two separate folders")


def _stopped(graph, out: Path, step: str, inputs: tuple) -> dict:
    """OUT after ``--stop-after STEP``: the graph there (model.yaml + .npz) and report.json."""
    import json

    from qhw.io import save
    from qhw.io.atomic import atomic_dir

    report = {"graph": graph.name, "stopped_after": step, "model": "model.yaml"}
    with atomic_dir(out, "compile", inputs) as tmp:
        save(graph, tmp / "model.yaml")
        (tmp / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


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
@click.option("--clock-period", "clock_period", type=click.FloatRange(min=0, min_open=True, max=1e6),
              default=None, metavar="NS", callback=_finite,
              help="Pipeline the RTL for this clock period in ns (default: the config's "
                   "ClockPeriod, else none): registers where the delay model says a path would "
                   "not fit, the fewest.")
@click.option("--target", type=click.Choice(["xilinx", "ecp5", "ice40"]), default=None,
              help="Whose primitive delays --clock-period uses (default xilinx); only with a "
                   "clock period (--clock-period or the config's ClockPeriod), an error without.")
@click.option("--vectors", "n_vectors", type=vectors_type, default=200, show_default=True,
              callback=within_limit("vectors"),
              help="Number of test vectors (golden model outputs) to write.")
@click.option("--backend", "backends", multiple=True, default=("rtl", "hls"), show_default=True,
              help="Backends to run (registered: rtl, hls).")
@click.option("--stop-after", "stop_after", metavar="STEP", callback=_step_name,
              help="Stop after this step of the flow (import, prepare, lower, compile; see "
                   "--list-steps) and write only the graph there to OUT/model.yaml (+ .npz).")
@click.option("--list-steps", is_flag=True, is_eager=True, expose_value=False, callback=_list_steps,
              help="List the steps of the compile flow (and of prepare) and exit.")
@click.option("--save-steps", "save_steps", type=click.Path(path_type=Path), metavar="DIR",
              help="Also save the graph after every step that runs, as DIR/NN_<step>.yaml (+ .npz) "
                   "(a new or empty folder, or one an earlier --save-steps wrote).")
@json_option
def compile_cmd(model, config, input_format, out, reuse_factor, multipliers, output_fifo, io, clock_period,
                target, n_vectors, backends, stop_after, save_steps, as_json) -> None:
    """Write OUT/rtl (Verilog), OUT/hls (HLS C++), OUT/vectors and OUT/report.json.

    \b
    Example:
      qhw compile model.yaml --config cfg.yaml -o build/model
      qhw compile model.yaml -o build/prepared --stop-after prepare --save-steps build/steps
      qhw simulate build/model
    """
    from qhw.io.atomic import atomic_dir

    inputs = (model, config)
    _check_outputs(out, save_steps, inputs)  # before the work (and the flow's imports), not after
    from qhw.flow import COMPILE_FLOW
    from qhw.io import save

    cfg = None
    if config is not None:
        from qhw.config import load_config

        cfg = load_config(config, warn=False)
    rtl = {"multipliers": multipliers}
    if io != "auto":
        rtl["io"] = io
    if output_fifo:
        rtl["output_fifo"] = True
    if reuse_factor:
        rtl["reuse_factor"] = reuse_factor
    if clock_period is None and cfg is not None:
        clock_period = cfg.clock_period
    if clock_period is None and target is not None:
        raise click.BadOptionUsage("target", f"--target {target} needs a clock period to pipeline "
                                             "for: give --clock-period NS (or ClockPeriod in --config)")
    if clock_period is not None:
        rtl.update(clock_period=clock_period, target=target or "xilinx")
    results: dict = {}
    options = {"config": cfg, "default": None, "input_format": input_format,
               "import_options": import_options(),
               "backends": tuple(backends),
               "backend_options": {"rtl": rtl, "hls": {"io": io} if io != "auto" else {}}, "n_vectors": n_vectors,
               "seed": 0, "out": out, "inputs": inputs, "results": results}
    with contextlib.ExitStack() as stack:
        steps_dir = stack.enter_context(atomic_dir(save_steps, SAVE_STEPS_COMMAND, inputs)) if save_steps else None

        warned = []

        def after_step(i, step, graph):
            if not warned and step.name in ("prepare", stop_after):  # the config is applied by then
                warned.append(True)
                for line in getattr(cfg, "warnings", ()):  # keys hls4ml ignores: one line each
                    click.echo(f"qhw: warning: {line}", err=True)
            if steps_dir is not None:
                save(graph, steps_dir / f"{i:02d}_{step.name}.yaml")

        if stop_after is None or stop_after == "compile":
            with status(f"writing {', '.join(backends)} and {n_vectors} golden vectors to {out}..."):
                COMPILE_FLOW.run(model, options, after_step=after_step)
            report = results["report"]
        else:
            graph = COMPILE_FLOW.run(model, options, stop_after=stop_after, after_step=after_step)
            report = _stopped(graph, out, stop_after, inputs)
    if as_json:
        emit_json(report)
        return
    if "stopped_after" in report:
        click.echo(f"wrote {out}: the graph after step {stop_after!r} (model.yaml)")
        return
    click.echo(f"wrote {out}: top {report.get('top')}, latency {report.get('latency')} cycles, "
               f"II {report.get('ii')}, backends {', '.join(report['backends'])}, "
               f"{n_vectors} vectors")
    t = report.get("timing")
    if t:
        cp = t["critical_path"]
        click.echo(f"timing ({t['target']}, estimate): {t['latency_cycles']} cycles = {t['latency_ns']:g} ns "
                   f"at {t['clock_period_ns']:g} ns, {t['registers_added']} pipeline register stages "
                   f"added; critical path {cp['ns']:g} ns in {cp['layer']} ({cp['block']}), "
                   f"Fmax ~{t['fmax_mhz_estimate']:g} MHz: "
                   + ("meets the period" if t["met"] else "does NOT meet the period"))
