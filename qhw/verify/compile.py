"""``compile_graph`` moved to :mod:`qhw.flow.compile` (the last step of the compile flow); kept
importable here."""
from qhw.flow.compile import DEFAULT_VECTORS, compile_graph

__all__ = ["compile_graph", "DEFAULT_VECTORS"]
