"""qhw: compile quantized neural networks into bit-exact, verified FPGA hardware."""
from qhw._version import __version__

__all__ = ["__version__", "FixedFormat"]


def __getattr__(name: str):
    # FixedFormat (numpy) on first use: `qhw --help` and the CLI's checks of its arguments and
    # output paths, which run before any model is read, start without numpy
    if name == "FixedFormat":
        from qhw.fixed import FixedFormat

        return FixedFormat
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
