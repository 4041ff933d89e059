"""Resource estimation: Yosys synthesis (exact for its flow, slow) and a calibrated analytic model
(milliseconds), both returning :class:`Resources`.

    from qhw.estimate import analytic, synthesize
    analytic(graph, options={"multipliers": "csd"})          # Resources(lut=..., source="analytic")
    synthesize(graph, target="xilinx", nodsp=True)           # Resources(..., source="yosys-xilinx")
    synthesize("build/mlp/rtl", target="ecp5", pnr=True)     # + fmax_mhz
"""
from qhw.estimate.analytic import analytic
from qhw.estimate.resources import Resources
from qhw.estimate.synth import TARGETS, synthesize

__all__ = ["Resources", "analytic", "synthesize", "TARGETS"]
