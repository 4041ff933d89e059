"""Graph passes: small graph -> graph steps, run in the visible order of a pipeline."""
from __future__ import annotations

from typing import Any

from qhw.graph import Graph
from qhw.passes.formats import infer_formats
from qhw.passes.hardware import apply_config
from qhw.passes.profile import fit_integer_bits, profile, propose_integer_bits
from qhw.passes.shapes import attribute_errors, check_hardware_options, infer_shapes


def validate(graph: Graph) -> Graph:
    graph.validate()
    return graph


#: What `prepare` runs, in order: structure, shapes, hardware options, formats.
DEFAULT_PIPELINE = (validate, infer_shapes, apply_config, check_hardware_options, infer_formats)


def prepare(graph: Graph, config: Any = None, default=None) -> Graph:
    """A validated copy of ``graph`` with shapes and formats inferred (``graph.notes``: every
    slot narrower than lossless). config: a qhw.config.ModelConfig (hls4ml layout), a path to
    one, or a dict {layer: {slot: format}}; its Model precision is the default unless given."""
    if isinstance(config, (str, bytes)) or hasattr(config, "__fspath__"):
        from qhw.config import load_config

        config = load_config(config)
    if default is None and getattr(config, "default", None) is not None:
        default = config.default
    g = graph.copy()
    with attribute_errors(g):
        validate(g)
        infer_shapes(g)
        apply_config(g, config)
        check_hardware_options(g)
        infer_formats(g, config=config, default=default)
    return g


__all__ = ["DEFAULT_PIPELINE", "prepare", "validate", "infer_shapes", "apply_config", "infer_formats",
           "calibrate", "observe", "AffineGraph", "lower_affine", "fold_batchnorm", "fold_constants", "unfolded_batchnorms",
           "profile", "propose_integer_bits", "fit_integer_bits"]

# After prepare is defined: these passes use it. (``calibrate`` the function replaces the
# submodule of the same name as the package attribute.)
from qhw.passes.calibrate import calibrate, observe  # noqa: E402
from qhw.passes.fold import fold_batchnorm, fold_constants, unfolded_batchnorms  # noqa: E402
from qhw.passes.lower_affine import AffineGraph, lower_affine  # noqa: E402
