"""qhw predict: run the golden model (or the float model) on a batch."""
from __future__ import annotations

from pathlib import Path

import click

from qhw.cli.common import config_option, emit_json, input_format_option, json_option, load, load_array, model_argument


@click.command()
@model_argument
@config_option
@input_format_option
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Input batch (.npy, batch axis first, channels-last).")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the outputs (.npy, float values); an existing file is "
                   "replaced, never a folder or an input.")
@click.option("--float", "float_mode", is_flag=True, help="Run the float model instead of the fixed-point one.")
@click.option("--raw", is_flag=True, help="Write raw integer codes instead of float values.")
@json_option
def predict(model, config, input_format, input_path, output_path, float_mode, raw, as_json):
    """Run MODEL on the batch in --input and write its output to --output.

    \b
    Example:
      qhw predict examples/jet_mlp/model.yaml --input x.npy --output y.npy
    """
    from qhw.errors import ModelError
    from qhw.io.atomic import atomic_file, check_output_file

    inputs = (model, config, input_path)
    check_output_file(output_path, inputs)  # before the work (and numpy's import), not after
    import numpy as np

    from qhw import golden

    graph = load(model, config, input_format)
    x = load_array(input_path, "input")
    if len(graph.output_names) != 1:
        raise ModelError(f"{model}: predict writes one output; the model has {graph.output_names}")
    res = golden.run(graph, x, float_mode=float_mode)
    out = res.output()
    if not float_mode and not raw:
        out = golden.to_float(graph, res)[graph.output_names[0]]
    with atomic_file(output_path, "wb", inputs) as fh:
        np.save(fh, out)
    overflow = {k: v.saturated + v.wrapped + v.zeroed for k, v in res.overflow.items()
                if v.saturated + v.wrapped + v.zeroed}
    summary = {"model": str(model), "samples": int(out.shape[0]), "output": str(output_path),
               "shape": list(out.shape), "mode": "float" if float_mode else ("raw" if raw else "fixed"),
               "overflow": overflow}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"{summary['samples']} samples -> {output_path} {tuple(out.shape)} ({summary['mode']})")
        for name, n in overflow.items():
            click.echo(f"  overflow in {name}: {n} values out of range")
