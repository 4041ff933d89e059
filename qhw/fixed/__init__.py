"""Numeric core: ap_fixed-exact fixed-point formats and arithmetic on raw integers."""
from qhw.fixed.format import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

__all__ = ["FixedFormat", "MAX_WIDTH", "ROUNDING_MODES", "OVERFLOW_MODES"]
