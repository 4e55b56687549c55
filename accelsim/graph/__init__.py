"""The graph IR (tensors, nodes, graphs), its builder, shape inference and counts."""
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ir import Graph, Node, Tensor

__all__ = ["Graph", "GraphBuilder", "Node", "Tensor"]
