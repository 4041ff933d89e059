"""Options and helpers shared by the sub-commands."""
from __future__ import annotations

import json
import math
from pathlib import Path

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import numpy as np


model_argument = click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
config_option = click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
                             help="Precision config (YAML/JSON, hls4ml layout).")
_input_format = click.option("--input-format", default="ap_fixed<16,6>", show_default=True,
                             help="Format of the inputs of a float ONNX model.")


def _remember(ctx, param, value):
    """Import options reach :func:`load` through the click context (every command that loads a
    model has them, none has to pass them on)."""
    ctx.meta[f"qhw_{param.name}"] = value
    return value


def parse_input_quant(text: str):
    """``[NAME=]SCALE,ZERO_POINT,BITS[,signed|unsigned][,narrow]`` -> (name or None, QuantParams)."""
    from qhw.quant import QuantParams

    name, _, spec = text.rpartition("=")
    parts = [p.strip() for p in spec.split(",")]
    usage = (f"{text!r} is not NAME=SCALE,ZERO_POINT,BITS[,signed|unsigned][,narrow] "
             "(e.g. x=0.00392156862745098,0,8,unsigned)")
    if len(parts) < 3 or len(parts) > 5 or any(p not in ("signed", "unsigned", "narrow") for p in parts[3:]):
        raise click.BadParameter(usage)
    try:
        scale, zp, bits = float(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        raise click.BadParameter(usage) from None
    if not math.isfinite(scale) or not scale > 0:
        raise click.BadParameter(f"{text!r}: the scale must be a positive finite number")
    try:
        qp = QuantParams(scale, zp, bits, "unsigned" not in parts[3:], "narrow" in parts[3:])
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}") from None
    return name or None, qp


def _input_quant(ctx, param, value):
    return _remember(ctx, param, [parse_input_quant(v) for v in value])


_exact = click.option("--exact/--no-exact", "exact", default=False, show_default=True, expose_value=False,
                      callback=_remember,
                      help="QONNX import: refuse a bias or scale with no exact integer form "
                           "(--exact) instead of rounding it and noting the deviation in the "
                           "mapping report (qhw inspect shows it).")
_input_quant_opt = click.option(
    "--input-quant", "input_quant", multiple=True, expose_value=False, callback=_input_quant,
    metavar="[NAME=]SCALE,ZP,BITS[,unsigned][,narrow]",
    help="How an unquantized input of a quantized ONNX model is quantized (repeatable).")


def parse_input_shape(ctx, param, value):
    """``C,H,W`` (one sample in PyTorch's layout) -> a tuple of ints >= 1."""
    if value is None:
        return _remember(ctx, param, None)
    try:
        shape = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers (e.g. 3,32,32)") from None
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"{value!r}: every dimension must be >= 1")
    from qhw import limits

    try:
        limits.check("tensor_elements", math.prod(shape), "--input-shape")
    except limits.LimitError as exc:
        raise click.BadParameter(str(exc)) from None
    return _remember(ctx, param, shape)


_input_shape = click.option("--input-shape", "input_shape", default=None, expose_value=False,
                            callback=parse_input_shape, metavar="C,H,W",
                            help="One sample's shape in PyTorch's layout, for a TorchScript (.pt) "
                                 "model that does not record it.")


def input_format_option(f):
    """--input-format plus the import options (--exact/--no-exact, --input-quant, --input-shape)."""
    return _input_format(_exact(_input_quant_opt(_input_shape(f))))


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


def import_options() -> dict:
    """The import options of the running command (empty outside one): exact, input_quant and
    the mapping report the importer fills (``qhw inspect`` prints it)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    from qhw.frontends.report import MappingReport

    report = ctx.meta.setdefault("qhw_report", MappingReport())
    out = {"report": report}
    if "qhw_exact" in ctx.meta:
        out["exact"] = ctx.meta["qhw_exact"]
    if ctx.meta.get("qhw_input_quant"):
        out["input_quant"] = dict(ctx.meta["qhw_input_quant"])
    if ctx.meta.get("qhw_input_shape"):
        out["input_shape"] = ctx.meta["qhw_input_shape"]
    return out


def load(model: Path, config, input_format="ap_fixed<16,6>"):
    from qhw.io import load_model

    options = import_options()
    if config is None:
        return load_model(model, config=config, input_format=input_format, **options)
    from qhw.config import load_config

    config = load_config(config, warn=False)
    graph = load_model(model, config=config, input_format=input_format, **options)
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
