"""Options and helpers shared by the sub-commands."""
from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np


model_argument = click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
config_option = click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
                             help="Precision config (YAML/JSON, hls4ml layout).")
input_format_option = click.option("--input-format", default="ap_fixed<16,6>", show_default=True,
                                   help="Format of the inputs of an ONNX model.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")


def within_limit(name: str):
    """An option callback refusing a value over the limit ``name`` (qhw.limits) with click's
    usage error (one line, exit code 2) that says how to raise the limit."""
    def callback(ctx, param, value):
        from qhw import limits

        if value is None:
            return value
        lim = limits.all_limits()[name]
        try:
            cap = limits.limit(name)
        except limits.LimitError as exc:
            raise click.BadParameter(str(exc)) from None
        if value > cap:
            raise click.BadParameter(f"{value:,} is over the limit of {cap:,} {lim.what} (raise it "
                                     f"with the environment variable {lim.env}=N)")
        return value
    return callback


def finite(ctx, param, value):
    """An option callback refusing NaN and infinities (click's FloatRange lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


#: -n / --vectors: at least one vector, at most the vectors limit
vectors_type = click.IntRange(min=1)
#: --reuse-factor: R >= 1 (II = R), at most the reuse_factor limit
reuse_factor_option = click.option(
    "--reuse-factor", type=click.IntRange(min=1), default=None, callback=within_limit("reuse_factor"),
    help="Default reuse factor R >= 1 of dense/conv layers without their own (II = R).")
#: --gap / --stall: a probability in [0, 1)
probability_type = click.FloatRange(0.0, 1.0, max_open=True)


def load(model: Path, config, input_format="ap_fixed<16,6>"):
    from qhw.io import load_model

    if config is None:
        return load_model(model, config=config, input_format=input_format)
    from qhw.config import load_config

    config = load_config(config, warn=False)
    graph = load_model(model, config=config, input_format=input_format)
    for line in config.warnings:  # keys hls4ml ignores (and names matching no layer): one line each
        click.echo(f"qhw: warning: {line}", err=True)
    return graph


def load_array(path: Path, what: str) -> np.ndarray:
    """A numeric .npy array (header checked against the file and the limits first, no pickles,
    no NaN or infinity)."""
    from qhw.io.documents import read_npy

    return read_npy(path, what)


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, default=str))


def status(message: str):
    """A spinner on stderr while a step runs (shown only on a terminal; scripts see nothing)."""
    from rich.console import Console

    return Console(stderr=True).status(message, spinner="dots")
