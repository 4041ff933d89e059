"""The flow: named step lists that turn a model into hardware, run in order, stoppable after
any step (the graph there can be saved: ``qhw compile --stop-after STEP`` / ``--save-steps DIR``).

    COMPILE_FLOW      import -> prepare -> lower -> compile           (qhw.flow.steps)
    DEFAULT_PIPELINE  validate -> infer_shapes -> apply_config ->     (qhw.passes.pipeline; what
                      check_hardware_options -> infer_formats          prepare and build() run)

The flow sits above the graph, the passes, the golden model, io and the backends; none of them
imports it.
"""
from qhw.flow.builder import GraphBuilder
from qhw.flow.compile import DEFAULT_VECTORS, compile_graph
from qhw.flow.steps import COMPILE_FLOW, FLOWS, describe
from qhw.passes.pipeline import DEFAULT_PIPELINE, Pipeline, Step, prepare

__all__ = ["GraphBuilder", "compile_graph", "DEFAULT_VECTORS", "COMPILE_FLOW", "DEFAULT_PIPELINE", "FLOWS",
           "Pipeline", "Step", "prepare", "describe"]
