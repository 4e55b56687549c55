"""A small builder for graphs in code: it infers output shapes, so callers only say what each op is.

>>> b = GraphBuilder("tiny")
>>> x = b.input("x", (1, 8, 8, 3), "int8", QuantParams.per_tensor(0.05, 3))
>>> w = b.constant("w", weights_ohwi, "int8", QuantParams.per_channel(sw, 0, axis=0))
>>> y = b.conv2d(x, w, None, out_quant=QuantParams.per_tensor(0.1, -5), padding="SAME")
>>> graph = b.build(outputs=[y])
"""
from __future__ import annotations

import numpy as np

from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.shapes import infer_shape
from accelsim.quant.params import QuantParams


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self._counter = 0

    def _unique(self, base: str) -> str:
        name = base
        while name in self.tensors or any(n.name == name for n in self.nodes):
            self._counter += 1
            name = f"{base}_{self._counter}"
        return name

    def input(self, name: str, shape: tuple[int, ...], dtype: str, quant: QuantParams | None) -> str:
        self.tensors[name] = Tensor(name, tuple(shape), dtype, quant)
        self.inputs.append(name)
        return name

    def constant(self, name: str, data: np.ndarray | None, dtype: str, quant: QuantParams | None,
                 shape: tuple[int, ...] | None = None) -> str:
        """A constant tensor; ``data=None`` with a ``shape`` declares shape-only weights (synthesized later)."""
        name = self._unique(name)
        shape = tuple(data.shape) if data is not None else tuple(shape or ())
        self.tensors[name] = Tensor(name, shape, dtype, quant, data, is_constant=True)
        return name

    def op(self, op: O.Op, inputs: list[str], out_dtype: str, out_quant: QuantParams | None,
           name: str | None = None, requant: str = "fixed_point") -> str:
        """Add a node; its output tensor (named after the node) gets the inferred shape."""
        node_name = self._unique(name or op.kind.lower())
        shape = infer_shape(op, [self.tensors[i].shape for i in inputs])
        out = self._unique(node_name if node_name not in self.tensors else f"{node_name}_out")
        self.tensors[out] = Tensor(out, shape, out_dtype, out_quant)
        self.nodes.append(Node(node_name, op, tuple(inputs), (out,), requant))
        return out

    # ---- conveniences for the common ops (the output dtype defaults to the first input's)
    def _dtype(self, x: str, out_dtype: str | None) -> str:
        return out_dtype or self.tensors[x].dtype

    def conv2d(self, x: str, w: str, bias: str | None, out_quant: QuantParams | None, *,
               stride: int | tuple[int, int] = 1, dilation: int | tuple[int, int] = 1,
               padding: O.Padding = "VALID", groups: int = 1, activation: O.Activation = "NONE",
               name: str | None = None, out_dtype: str | None = None, requant: str = "fixed_point") -> str:
        op = O.Conv2D(_pair(stride), _pair(dilation), padding, groups, activation)
        inputs = [x, w] + ([bias] if bias else [])
        return self.op(op, inputs, self._dtype(x, out_dtype), out_quant, name, requant)

    def depthwise_conv2d(self, x: str, w: str, bias: str | None, out_quant: QuantParams | None, **kw) -> str:
        """Depthwise conv: groups = input channels; weights ``(C·mult, KH, KW, 1)``."""
        return self.conv2d(x, w, bias, out_quant, groups=self.tensors[x].shape[-1], **kw)

    def fully_connected(self, x: str, w: str, bias: str | None, out_quant: QuantParams | None, *,
                        activation: O.Activation = "NONE", name: str | None = None,
                        out_dtype: str | None = None, requant: str = "fixed_point") -> str:
        inputs = [x, w] + ([bias] if bias else [])
        return self.op(O.FullyConnected(activation), inputs, self._dtype(x, out_dtype), out_quant, name, requant)

    def add(self, a: str, b: str, out_quant: QuantParams | None, *, activation: O.Activation = "NONE",
            name: str | None = None, requant: str = "fixed_point") -> str:
        return self.op(O.Add(activation), [a, b], self.tensors[a].dtype, out_quant, name, requant)

    def avg_pool(self, x: str, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: O.Padding = "VALID", *, out_quant: QuantParams | None = None, name: str | None = None) -> str:
        quant = out_quant or self.tensors[x].quant
        return self.op(O.AvgPool(_pair(kernel), _pair(stride), padding), [x], self.tensors[x].dtype, quant, name)

    def max_pool(self, x: str, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: O.Padding = "VALID", *, name: str | None = None) -> str:
        op = O.MaxPool(_pair(kernel), _pair(stride), padding)
        return self.op(op, [x], self.tensors[x].dtype, self.tensors[x].quant, name)

    def global_average_pool(self, x: str, out_quant: QuantParams | None = None, name: str | None = None) -> str:
        quant = out_quant or self.tensors[x].quant
        return self.op(O.GlobalAveragePool(), [x], self.tensors[x].dtype, quant, name)

    def concat(self, xs: list[str], out_quant: QuantParams | None, axis: int = -1, name: str | None = None,
               requant: str = "fixed_point") -> str:
        return self.op(O.Concat(axis), xs, self.tensors[xs[0]].dtype, out_quant, name, requant)

    def flatten(self, x: str, name: str | None = None) -> str:
        return self.op(O.Flatten(), [x], self.tensors[x].dtype, self.tensors[x].quant, name)

    def reshape(self, x: str, shape: tuple[int, ...], name: str | None = None) -> str:
        return self.op(O.Reshape(tuple(shape)), [x], self.tensors[x].dtype, self.tensors[x].quant, name)

    def pad(self, x: str, pads: tuple[tuple[int, int], ...], name: str | None = None) -> str:
        return self.op(O.Pad(tuple(pads)), [x], self.tensors[x].dtype, self.tensors[x].quant, name)

    def build(self, outputs: list[str], metadata: dict[str, object] | None = None) -> Graph:
        return Graph(self.name, self.tensors, tuple(self.nodes), tuple(self.inputs), tuple(outputs), metadata or {})


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))
