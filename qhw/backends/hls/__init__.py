"""HLS C++ backend: Vitis-HLS-style C++ from an annotated graph, and its C simulation with g++.

``write_hls(graph, out_dir)`` writes the project; ``csim(OUT)`` builds it with g++ against the
ap_types headers (cached) and compares its outputs with the golden model's test vectors.
"""
from qhw.backends.hls.sim import CsimResult, csim, run_raw
from qhw.backends.hls.layers import supported_ops
from qhw.backends.hls import code_table  # noqa: F401  (registers its emitter with the layers)
from qhw.backends.hls import code_softmax  # noqa: F401  (registers its emitter with the layers)
from qhw.backends.hls import fsum_pool  # noqa: F401  (registers its emitter with the layers)
from qhw.backends.hls import qlinear_add  # noqa: F401  (registers its emitter with the layers)
from qhw.backends.hls.writer import INTERFACES, HlsProject, write_hls


class HlsBackend:
    """Registry entry for ``qhw compile``: writes ``OUT/hls``."""

    name = "hls"
    subdir = "hls"

    def write(self, graph, out_dir, options: dict | None = None) -> HlsProject:
        """``options``: ``interface`` ("stream"/"array"), ``top``, ``part``, ``clock_ns``."""
        return write_hls(graph, out_dir, **(options or {}))

    def simulate(self, out_dir) -> CsimResult:
        return csim(out_dir)


__all__ = ["write_hls", "csim", "run_raw", "CsimResult", "HlsProject", "HlsBackend",
           "INTERFACES", "supported_ops"]
