"""Graph passes: small graph -> graph steps, run in the visible order of a pipeline
(:mod:`qhw.passes.pipeline`; the whole compile flow is :mod:`qhw.flow`)."""
from __future__ import annotations

from qhw.passes.calibrate import calibrate, observe
from qhw.passes.fold import fold_batchnorm, fold_constants, unfolded_batchnorms
from qhw.passes.formats import infer_formats
from qhw.passes.hardware import apply_config
from qhw.passes.lower_affine import AffineGraph, lower_affine
from qhw.passes.pipeline import DEFAULT_PIPELINE, Pipeline, Step, prepare, validate
from qhw.passes.profile import fit_integer_bits, profile, propose_integer_bits
from qhw.passes.shapes import check_hardware_options, infer_shapes

__all__ = ["DEFAULT_PIPELINE", "Pipeline", "Step", "prepare", "validate", "infer_shapes", "apply_config",
           "check_hardware_options", "infer_formats", "calibrate", "observe", "AffineGraph", "lower_affine",
           "fold_batchnorm", "fold_constants", "unfolded_batchnorms", "profile", "propose_integer_bits",
           "fit_integer_bits"]
