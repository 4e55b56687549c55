"""ONNX import, pass 0: constant folding of shape subgraphs, before the Q/DQ scan and the handlers.

Exporters (``torch.onnx.export(..., dynamo=False)`` above all) compute reshape targets and slice bounds at run time
from the tensors' shapes: ``Shape -> Gather -> Div -> Mul -> Unsqueeze -> Concat -> Reshape``. With static input
shapes every such value is a constant. This pass evaluates, in graph order, each node of a small set of op types
whose inputs are all known (initializers, Constant outputs, earlier folded values; for ``Shape`` the static shape
of its input from ONNX shape inference), with its own numpy evaluator following the ONNX operator specification
([ref:ONNXLayoutOps]), and replaces the folded nodes by initializers. Nothing is evaluated by onnxruntime.
Only small tensors are folded (:data:`MAX_FOLD_ELEMENTS`), so weights are never rewritten.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

#: Largest tensor (elements) the pass evaluates or creates: shape vectors and indices, never weights.
MAX_FOLD_ELEMENTS = 4096
#: Rounds of (shape inference, folding): a folded Reshape target can make the next Shape static.
MAX_ROUNDS = 64


def _attrs(node) -> dict[str, object]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _axes(node, args: list[np.ndarray | None], index: int) -> list[int] | None:
    """An axes list from input ``index`` (opset >= 13) or the ``axes`` attribute (older opsets)."""
    if len(args) > index and args[index] is not None:
        return [int(a) for a in np.asarray(args[index]).reshape(-1)]
    axes = _attrs(node).get("axes")
    return None if axes is None else [int(a) for a in axes]


def _shape(node, args, shapes) -> np.ndarray:
    attrs = _attrs(node)
    dims = shapes[0]
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return np.asarray(dims[start:None if end is None else int(end)], np.int64)


def _gather(node, args, shapes) -> np.ndarray:
    data, idx = np.asarray(args[0]), np.asarray(args[1]).astype(np.int64)
    axis = int(_attrs(node).get("axis", 0)) % data.ndim
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return np.take(data, idx, axis=axis)


def _unsqueeze(node, args, shapes) -> np.ndarray:
    x = np.asarray(args[0])
    axes = sorted(a % (x.ndim + len(_axes(node, args, 1))) for a in _axes(node, args, 1))
    for a in axes:
        x = np.expand_dims(x, a)
    return x


def _squeeze(node, args, shapes) -> np.ndarray:
    x = np.asarray(args[0])
    axes = _axes(node, args, 1)
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


def _concat(node, args, shapes) -> np.ndarray:
    return np.concatenate([np.asarray(a) for a in args], axis=int(_attrs(node)["axis"]))


def _div(node, args, shapes) -> np.ndarray:
    a, b = np.asarray(args[0]), np.asarray(args[1])
    if np.issubdtype(a.dtype, np.integer):   # integer Div truncates toward zero (C semantics)
        q = np.abs(a) // np.abs(b)
        return (np.sign(a) * np.sign(b) * q).astype(a.dtype)
    return (a / b).astype(a.dtype)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def run(node, args, shapes) -> np.ndarray:
        a, b = np.asarray(args[0]), np.asarray(args[1])
        return fn(a, b).astype(a.dtype)
    return run


def _cast(node, args, shapes) -> np.ndarray:
    from onnx import helper

    return np.asarray(args[0]).astype(helper.tensor_dtype_to_np_dtype(int(_attrs(node)["to"])))


def _slice(node, args, shapes) -> np.ndarray:
    x = np.asarray(args[0])
    attrs = _attrs(node)
    if len(args) > 1:
        starts, ends = (np.asarray(args[i]).reshape(-1).astype(np.int64) for i in (1, 2))
        axes = _axes(node, args, 3) if len(args) > 3 and args[3] is not None else list(range(len(starts)))
        steps = (np.asarray(args[4]).reshape(-1).astype(np.int64) if len(args) > 4 and args[4] is not None
                 else np.ones(len(starts), np.int64))
    else:   # opset < 10: attributes
        starts, ends = np.asarray(attrs["starts"]), np.asarray(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = np.ones(len(starts), np.int64)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        b, n, step = onnx_slice_bounds(int(s), int(e), int(st), x.shape[int(a) % x.ndim])
        index[int(a) % x.ndim] = slice(b, None if b + n * step < 0 else b + n * step, step) if n else slice(0, 0)
    return x[tuple(index)]


def onnx_slice_bounds(start: int, end: int, step: int, dim: int) -> tuple[int, int, int]:
    """ONNX Slice on one axis of length ``dim`` as ``(begin, size, step)``: negative starts / ends count from the
    end, then starts and ends are clamped to ``[0, dim]`` (step > 0) or ``[0, dim − 1]`` / ``[−1, dim − 1]``
    (step < 0) ([ref:ONNXLayoutOps], Slice)."""
    if step == 0:
        raise ValueError("Slice step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    size = len(range(start, end, step))
    return start, size, step


def _constant_of_shape(node, args, shapes) -> np.ndarray:
    from onnx import numpy_helper

    value = _attrs(node).get("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return np.full(tuple(int(d) for d in np.asarray(args[0]).reshape(-1)), fill[0], fill.dtype)


def _range(node, args, shapes) -> np.ndarray:
    start, limit, delta = (np.asarray(a).reshape(()) for a in args[:3])
    return np.arange(start, limit, delta).astype(start.dtype)


def _reshape(node, args, shapes) -> np.ndarray:
    x = np.asarray(args[0])
    target = [int(v) for v in np.asarray(args[1]).reshape(-1)]
    allow_zero = int(_attrs(node).get("allowzero", 0))
    target = [x.shape[i] if v == 0 and not allow_zero else v for i, v in enumerate(target)]
    return x.reshape(target)


def _identity(node, args, shapes) -> np.ndarray:
    return np.asarray(args[0])


#: The op types this pass folds and their numpy evaluators ``(node, input values, input shapes) -> output``.
FOLDERS: Mapping[str, Callable] = {
    "Shape": _shape, "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Concat": _concat,
    "Div": _div, "Mul": _binary(np.multiply), "Add": _binary(np.add), "Sub": _binary(np.subtract), "Cast": _cast,
    "Slice": _slice, "ConstantOfShape": _constant_of_shape, "Range": _range, "Reshape": _reshape,
    "Identity": _identity,
}


def _static_shapes(model, batch: int, override: bool = False) -> dict[str, tuple[int, ...]]:
    """Static shapes from ONNX shape inference (graph inputs' symbolic batch set to ``batch``; with ``override``
    also a static one, as ``load_onnx(batch_size=...)`` does, and the model's own intermediate / output shapes are
    dropped so they cannot contradict it); empty when shape inference fails (a custom-domain op, say): then only
    constants fold."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    init = {t.name for t in m.graph.initializer}
    for inp in m.graph.input:
        if inp.name in init:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) and (override or not dims[0].HasField("dim_value")):
            dims[0].dim_value = batch
    if override:
        del m.graph.value_info[:]
        for out in m.graph.output:
            if out.type.tensor_type.HasField("shape"):
                out.type.tensor_type.ClearField("shape")
    try:
        m = onnx.shape_inference.infer_shapes(m)
    except Exception:   # noqa: BLE001 - shape inference is best effort here
        return {}
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in (*m.graph.input, *m.graph.value_info, *m.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)
    return shapes


def _small(value: np.ndarray) -> bool:
    return np.asarray(value).size <= MAX_FOLD_ELEMENTS


def fold_shape_subgraphs(model, batch_size: int | None = None):
    """A copy of ``model`` with every foldable node (op type in :data:`FOLDERS`, all inputs known and small)
    replaced by an initializer holding its output; ``model`` itself when nothing folds. A symbolic batch
    dimension of a graph input is taken as ``batch_size`` (default 1) for ``Shape``."""
    from onnx import numpy_helper

    graph = model.graph
    if not any(n.op_type in FOLDERS for n in graph.node):
        return model
    init = {t.name: t for t in graph.initializer}
    known: dict[str, np.ndarray] = {}
    for n in graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            known[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    folded: set[int] = set()
    for _ in range(MAX_ROUNDS):
        has_shape = any(n.op_type == "Shape" for i, n in enumerate(graph.node) if i not in folded)
        shapes = _static_shapes(model, int(batch_size or 1), batch_size is not None) if has_shape else {}
        grew = False
        for i, n in enumerate(graph.node):
            if i in folded or n.op_type not in FOLDERS:
                continue
            value = _fold_node(n, known, init, shapes)
            if value is None:
                continue
            known[n.output[0]] = value
            folded.add(i)
            grew = True
        if not grew or not any(n.op_type == "Shape" for i, n in enumerate(graph.node) if i not in folded):
            break
        model = _rewritten(model, known, folded)
        graph, folded = model.graph, set()
    if not folded:
        return model
    return _rewritten(model, known, folded)


def _fold_node(n, known: dict[str, np.ndarray], init: dict, shapes: dict[str, tuple[int, ...]]
               ) -> np.ndarray | None:
    """The output of ``n`` if every input is known (None otherwise or when a tensor is too large)."""
    from onnx import numpy_helper

    if len(n.output) != 1:
        return None
    if n.op_type == "Shape":
        shape = shapes.get(n.input[0])
        if shape is None:
            return None
        return _shape(n, [None], [shape])
    args: list[np.ndarray | None] = []
    for name in n.input:
        if not name:
            args.append(None)
        elif name in known:
            args.append(known[name])
        elif name in init and np.prod(tuple(init[name].dims), dtype=np.int64) <= MAX_FOLD_ELEMENTS:
            args.append(numpy_helper.to_array(init[name]))
        else:
            return None
    if not all(a is None or _small(a) for a in args):
        return None
    try:
        value = np.asarray(FOLDERS[n.op_type](n, args, [None if a is None else np.shape(a) for a in args]))
    except Exception:   # noqa: BLE001 - a node the evaluator cannot fold stays for its handler to judge
        return None
    return value if _small(value) else None


def _rewritten(model, known: dict[str, np.ndarray], folded: set[int]):
    """``model`` without the folded nodes; their outputs that remaining nodes or graph outputs read become
    initializers."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [n for i, n in enumerate(model.graph.node) if i not in folded]
    removed = [n for i, n in enumerate(model.graph.node) if i in folded]
    read = {x for n in keep for x in n.input} | {o.name for o in model.graph.output}
    have = {t.name for t in model.graph.initializer}
    del m.graph.node[:]
    m.graph.node.extend(keep)
    for n in removed:
        out = n.output[0]
        if out in read and out not in have:
            m.graph.initializer.append(numpy_helper.from_array(np.asarray(known[out]), out))
            have.add(out)
    return m
