"""qhw: compile quantized neural networks into bit-exact, verified FPGA hardware."""
from qhw._version import __version__
from qhw.fixed import FixedFormat

__all__ = ["__version__", "FixedFormat"]
