"""``qhw sweep MODEL --data X.npy [...] -o DIR``."""
from __future__ import annotations

import json
from pathlib import Path

import click

from qhw.cli.common import (config_option, emit_json, finite, input_format_option, json_option, load,
                            load_array, model_argument, status)
from qhw.errors import ConfigError, QhwError


def _widths(ctx, param, text):
    """A width range option parsed (and its size checked) by the option parser."""
    from qhw.sweep import parse_range, width_value

    if text is None:
        return None
    try:
        values = parse_range(text, f"--{param.name}")
        for v in values:
            width_value(v, f"--{param.name}")
    except QhwError as exc:
        raise click.BadParameter(str(exc)) from None
    return values


def _periods(ctx, param, text):
    """``--clock-period 5,10``: the clock-period axis (ns)."""
    from qhw.sweep.space import parse_periods

    if text is None:
        return None
    try:
        return parse_periods(text)
    except QhwError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("sweep")
@model_argument
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Validation inputs (.npy, batch first).")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Class labels (.npy) for accuracy.")
@config_option
@input_format_option
@click.option("--weights", callback=_widths, help="Weight widths A:B[:STEP] (inclusive), e.g. 4:8.")
@click.option("--activations", callback=_widths, help="Activation (result) widths A:B[:STEP], e.g. 6:16:2.")
@click.option("--accum", callback=_widths, help="Accumulator widths A:B[:STEP].")
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Grid file (YAML): {axis: [values] | 'A:B[:STEP]'}, axes weights, activations, "
                   "accum, table_size, variant, or <layer>.<axis>.")
@click.option("--clock-period", "clock_periods", callback=_periods, metavar="NS[,NS...]",
              help="Clock periods (ns), an axis: every point's RTL pipelined for each on --target; "
                   "results get latency in cycles and ns, and the Pareto front weighs latency too.")
@click.option("--synth", is_flag=True, help="Also synthesize every point with Yosys (slow; cached).")
@click.option("--target", type=click.Choice(["xilinx", "ecp5", "ice40"]), default="xilinx", show_default=True,
              help="Resources (and with a clock period, delays) of this target.")
@click.option("--nodsp", is_flag=True, help="Forbid DSP blocks (LUT-only area).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: one per core, at most 8).")
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786) instead of local workers.")
@click.option("--max-error", type=click.FloatRange(min=0.0), callback=finite, help="Also search a cheap per-layer configuration whose "
                                              "mean |error| vs float stays within this budget.")
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output folder: results.csv, pareto.png/.svg (and search.json); a new or "
                   "empty one, or one qhw sweep wrote (resumed).")
@json_option
def sweep(model, data_path, labels_path, config, input_format, weights, activations, accum,
          grid_path, clock_periods, synth, target, nodsp, workers, scheduler, max_error, out,
          as_json) -> None:
    """Evaluate a grid of bit-widths: golden-model error vs float, class agreement (and accuracy
    with --labels), analytic resources (Yosys with --synth). Resumable: finished points in
    OUT/results.csv are skipped on a rerun.

    \b
    Example:
      qhw sweep examples/jet_mlp/model.yaml --data examples/jet_mlp/x_val.npy \\
          --labels examples/jet_mlp/y_val.npy --weights 3:10 --activations 6:14:2 -o build/sweep
    """
    from qhw.sweep import (Problem, grid, load_grid, pareto_front, plot, run_sweep, search,
                           versus_grid)
    from qhw.io.atomic import check_output_dir, output_dir
    from qhw.sweep.runner import SWEEP_FILES, default_workers

    inputs = (model, data_path, labels_path, config, grid_path)
    check_output_dir(out, "sweep", inputs, legacy=SWEEP_FILES)  # before the work, not after
    graph = load(model, config, input_format)
    x = load_array(data_path, "data")
    y = load_array(labels_path, "labels") if labels_path else None
    axes: dict = load_grid(grid_path) if grid_path else {}
    for name, values in (("weights", weights), ("activations", activations), ("accum", accum),
                         ("clock_period", clock_periods)):
        if values:
            axes[name] = values
    if not axes and max_error is None:
        raise ConfigError("nothing to sweep: give --weights/--activations/--accum, --clock-period, "
                          "--grid or --max-error")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    points = grid(axes) if axes else []
    if axes:  # an existing OUT/results.csv must be one qhw wrote: refused now, not after the work
        from qhw.sweep.runner import RESULTS, read_results

        read_results(Path(out) / RESULTS)
    with status("measuring float ranges and the float reference..."):
        problem = Problem.build(graph, x, y, synth=synth, target=target, nodsp=nodsp)
    summary: dict = {"out": str(out)}
    if axes:
        records = run_sweep(problem, points, out, workers=workers or default_workers(),
                            scheduler=scheduler)
        cost = "yosys_lut" if synth else "lut"  # Yosys's figures when asked for
        lat = "latency_ns" if "clock_period" in axes else None
        plot(records, out, cost=cost, title=f"{graph.name}: {len(records)} points", latency=lat)
        front = pareto_front(records, cost=cost, latency=lat)
        failed = [r for r in records if r.get("status") != "ok"]
        summary.update(points=len(records), failed=len(failed), pareto=[
            {k: r.get(k) for k in ("id", *sorted(axes), "mean_abs_error", "agreement", "accuracy", "lut",
                                   *(["yosys_lut"] if synth else []),
                                   *(["latency_cycles", "latency_ns", "timing_met"] if lat else []))}
            for r in front])
    if max_error is not None:
        widths = _search_widths(axes)
        with status(f"searching per-layer widths within mean |error| {max_error}..."):
            found = search(problem, max_error, widths=widths)
        summary["search"] = {"point": found["point"], "lut": found["record"]["lut"],
                             "mean_abs_error": found["record"]["mean_abs_error"],
                             "evaluations": found["evaluations"], "steps": len(found["steps"])}
        if axes:
            summary["search"]["versus_grid"] = versus_grid(found, records, max_error)
        output_dir(out, "sweep", inputs, legacy=SWEEP_FILES)
        (Path(out) / "search.json").write_text(json.dumps(
            {**found, "max_error": max_error, "versus_grid": summary["search"].get("versus_grid")},
            indent=1, sort_keys=True, default=str) + "\n")
    if as_json:
        emit_json(summary)
        return
    if axes:
        click.echo(f"{summary['points']} points ({summary['failed']} failed) -> {out}/results.csv, "
                   f"{out}/pareto.png, {out}/pareto.svg")
        click.echo(f"Pareto front (mean |error| vs float, {'Yosys' if synth else 'analytic'} LUTs"
                   + (", latency at the clock period (estimate)" if lat else "") + "):")
        for r in summary["pareto"]:
            cfg = " ".join(f"{k}={r[k]}" for k in sorted(axes))
            acc = f"  accuracy {r['accuracy']:.3f}" if r.get("accuracy") is not None else ""
            yosys = f"  Yosys LUT {r['yosys_lut']}" if synth else ""
            timed = (f"  latency {r['latency_cycles']} cycles = {r['latency_ns']:g} ns"
                     + ("" if r["timing_met"] else " (period not met)")) if lat else ""
            click.echo(f"  {cfg:28s} error {r['mean_abs_error']:.3g}  LUT {r['lut']}{yosys}{timed}{acc}")
    if max_error is not None:
        s = summary["search"]
        vg = s.get("versus_grid")
        extra = (f"; the cheapest grid point within budget has {vg['best_grid_lut']} LUTs "
                 f"({vg['lut_difference']:+d})") if vg else ""
        click.echo(f"search: mean |error| {s['mean_abs_error']:.3g} <= {max_error} at LUT {s['lut']} "
                   f"({s['evaluations']} golden runs{extra}) -> {out}/search.json")


def _search_widths(axes: dict) -> dict[str, list[int]]:
    """The search narrows within the global weight/activation widths swept (integer bits are
    always fitted to the data), or within 4..16 / 6..16 bits without a grid."""
    from qhw.sweep import width_value

    widths = {}
    for k in ("weights", "activations"):
        vals = [width_value(v, f"--{k}") for v in axes.get(k, [])]
        if vals and all(isinstance(v, tuple) for v in vals):
            widths[k] = sorted({v[0] for v in vals})
    return widths or {"weights": list(range(4, 17)), "activations": list(range(6, 17))}
