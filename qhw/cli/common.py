"""Options and helpers shared by the sub-commands."""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from qhw.errors import ModelError

model_argument = click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
config_option = click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
                             help="Precision config (YAML/JSON, hls4ml layout).")
input_format_option = click.option("--input-format", default="ap_fixed<16,6>", show_default=True,
                                   help="Format of the inputs of an ONNX model.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")


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
    if not path.is_file():
        raise ModelError(f"{what} file {str(path)!r} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {what} file {str(path)!r} (expected a .npy array): {exc}") from None


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, default=str))


def status(message: str):
    """A spinner on stderr while a step runs (shown only on a terminal; scripts see nothing)."""
    from rich.console import Console

    return Console(stderr=True).status(message, spinner="dots")
