"""The annotated graph: nodes are operations, edges carry tensors (shape + FixedFormat)."""
from qhw.graph.builder import GraphBuilder
from qhw.graph.graph import Graph
from qhw.graph.node import Node
from qhw.graph.tensor import TensorSpec

__all__ = ["Graph", "Node", "TensorSpec", "GraphBuilder"]
