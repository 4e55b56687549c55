"""ONNX import: layout tracking for data-movement ops (Reshape, Transpose, Slice, Split, Gather, Squeeze,
Unsqueeze) on ranks 2–5, and the clean-up of the Transposes it inserts.

The IR keeps the importer's convention: a 4-D activation is NHWC, a tensor of any other rank is in ONNX order.
An op whose ONNX semantics depend on the NCHW element order (a Reshape that splits or merges the channel and
spatial axes, a Gather or Squeeze that changes the rank of a 4-D tensor) reads its input through an explicit IR
``Transpose(0, 3, 1, 2)`` (NHWC -> NCHW order) and, when its output is 4-D, writes it through
``Transpose(0, 2, 3, 1)``. Rank-preserving ops on 4-D tensors (Transpose, Slice, Split, Gather with a 1-D index)
map their axes instead and move no extra data.

After the handlers, :func:`simplify_layout` replaces each chain of Transpose / Reshape nodes (single consumer, not
a graph output, batch axis untouched) by the shortest equivalent ``Reshape -> Transpose -> Reshape``: the chain's
element permutation is decomposed into one axis permutation of a mixed-radix factorisation of the sample. Adjacent
inverse Transposes cancel, and ShuffleNet's channel shuffle (``Reshape(N, g, C/g, H, W) -> Transpose(0, 2, 1, 3,
4) -> Reshape(N, C, H, W)`` around the NCHW boundary Transposes) becomes one NHWC Transpose of a
``(N, H·W, g, C/g)`` view: a single data movement.
"""
from __future__ import annotations

import math

import numpy as np

from accelsim.graph import ops as O
from accelsim.graph.importers.onnx_context import IRBuilder, OnnxContext
from accelsim.graph.importers.onnx_fold import onnx_slice_bounds
from accelsim.graph.importers.onnx_fusion import FusedNode
from accelsim.graph.importers.onnx_handlers import FLOAT_TABLE, QUANT_TABLE, nchw_axis, nhwc_to_nchw
from accelsim.graph.importers.onnx_qdq import onnx_attrs
from accelsim.graph.ir import Node, Tensor
from accelsim.graph.shapes import infer_shape

#: NHWC -> NCHW and NCHW -> NHWC axis permutations.
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
#: ONNX op types this module handles (float and quantized models).
LAYOUT_OPS = ("Transpose", "Slice", "Split", "Gather", "Squeeze", "Unsqueeze")


# ------------------------------------------------------------------------------------------- helpers
def _internal(ctx: OnnxContext, node, op: O.Op, x: Tensor, name: str) -> Tensor:
    """An IR node of ``op`` on ``x`` writing an importer-internal tensor ``name`` (same type and quantization)."""
    b = ctx.builder
    if name in b.tensors:   # the NCHW view of a tensor read by several ops is made once
        return b.tensors[name]
    shape = infer_shape(op, [x.shape])
    requant = ctx.requant if x.dtype != "float32" else "fixed_point"
    b.add_node(f"{node.name or node.op_type}{name[name.rfind('__'):]}", op, [x.name],
               Tensor(name, shape, x.dtype, x.quant), requant)
    return b.tensors[name]


def onnx_order(ctx: OnnxContext, node, x: Tensor) -> Tensor:
    """``x`` with its elements in ONNX order: a 4-D (NHWC) tensor through an IR Transpose to NCHW."""
    if len(x.shape) != 4:
        return x
    return _internal(ctx, node, O.Transpose(TO_NCHW), x, f"{x.name}__nchw")


def emit_onnx_order(ctx: OnnxContext, node, op: O.Op, x: Tensor, onnx_out: str) -> str:
    """Emit ``op`` on ``x`` (both in ONNX element order) as the ONNX output ``onnx_out``: a 4-D result is written
    through a Transpose to NHWC. Data movement keeps the input's quantization."""
    dtype, quant = ctx.passthrough_quant(node, x, onnx_out)
    shape = _shape(ctx, node, op, x)
    if len(shape) != 4:
        return ctx.emit(node, op, [x.name], onnx_out, dtype, quant)
    mid = _internal(ctx, node, op, x, f"{ctx.ir(onnx_out)}__onnx")
    return ctx.emit(node, O.Transpose(TO_NHWC), [mid.name], onnx_out, dtype, quant)


def _shape(ctx: OnnxContext, node, op: O.Op, x: Tensor) -> tuple[int, ...]:
    try:
        return infer_shape(op, [x.shape])
    except ValueError as exc:
        raise ctx.unsupported(node, str(exc)) from None


def reshape_any(ctx: OnnxContext, node, x: Tensor, onnx_shape: tuple[int, ...]) -> str:
    """A Reshape in ONNX element order to ``onnx_shape`` (resolved, batch first), any ranks."""
    return emit_onnx_order(ctx, node, O.Reshape(tuple(onnx_shape)), onnx_order(ctx, node, x), node.output[0])


def _moved(ctx: OnnxContext, node, op: O.Op, x: Tensor, onnx_out: str) -> str:
    """A rank-preserving data movement on IR axes."""
    dtype, quant = ctx.passthrough_quant(node, x, onnx_out)
    return ctx.emit(node, op, [x.name], onnx_out, dtype, quant)


def _ir_axis(axis: int, rank: int) -> int:
    return nchw_axis(axis, rank)


def _const_ints(ctx: OnnxContext, node, index: int) -> list[int] | None:
    if len(node.input) <= index or not node.input[index]:
        return None
    return [int(v) for v in np.asarray(ctx.const(node, node.input[index])).reshape(-1)]


# ------------------------------------------------------------------------------------------- handlers
@FLOAT_TABLE.handles("Transpose")
@QUANT_TABLE.handles("Transpose")
def transpose(ctx: OnnxContext, f: FusedNode) -> None:
    """ONNX Transpose: on a 4-D tensor the permutation composed with the NHWC <-> NCHW permutations."""
    node = f.node
    x = ctx.act(node, node.input[0])
    rank = len(x.shape)
    perm = [int(p) for p in onnx_attrs(node).get("perm", range(rank - 1, -1, -1))]
    if sorted(perm) != list(range(rank)):
        raise ctx.unsupported(node, f"perm={perm} is not a permutation of {rank} axes")
    if rank == 4:
        perm = [TO_NCHW[perm[TO_NHWC[i]]] for i in range(4)]
    _moved(ctx, node, O.Transpose(tuple(perm)), x, node.output[0])


@FLOAT_TABLE.handles("Slice")
@QUANT_TABLE.handles("Slice")
def slice_(ctx: OnnxContext, f: FusedNode) -> None:
    """ONNX Slice with constant starts / ends / axes / steps (opset >= 10), clamped as ONNX specifies."""
    node = f.node
    x = ctx.act(node, node.input[0])
    starts, ends = _const_ints(ctx, node, 1), _const_ints(ctx, node, 2)
    if starts is None or ends is None:
        attrs = onnx_attrs(node)
        if "starts" not in attrs:
            raise ctx.unsupported(node, "starts and ends must be constants")
        starts, ends = [int(v) for v in attrs["starts"]], [int(v) for v in attrs["ends"]]
        axes = [int(v) for v in attrs.get("axes", range(len(starts)))]
        steps = [1] * len(starts)
    else:
        axes = _const_ints(ctx, node, 3) or list(range(len(starts)))
        steps = _const_ints(ctx, node, 4) or [1] * len(starts)
    _emit_slices(ctx, node, x, [(a, s, e, st) for a, s, e, st in zip(axes, starts, ends, steps)], node.output[0])


def _emit_slices(ctx: OnnxContext, node, x: Tensor, per_axis: list[tuple[int, int, int, int]], out: str) -> str:
    rank = len(x.shape)
    onnx_shape = nhwc_to_nchw(x.shape)
    begin, size, strides = [0] * rank, [-1] + [d for d in x.shape[1:]], [1] * rank
    for axis, start, end, step in per_axis:
        axis %= rank
        if step == 0:
            raise ctx.unsupported(node, "a Slice step of 0 is invalid")
        b, n, st = onnx_slice_bounds(start, end, step, onnx_shape[axis])
        if n == 0:
            raise ctx.unsupported(node, f"the slice of axis {axis} is empty; empty tensors are not supported")
        ir = _ir_axis(axis, rank)
        begin[ir], size[ir], strides[ir] = b, n, st
    op = O.Slice(tuple(begin), tuple(size), tuple(strides) if any(s != 1 for s in strides) else ())
    return _moved(ctx, node, op, x, out)


@FLOAT_TABLE.handles("Split")
@QUANT_TABLE.handles("Split")
def split(ctx: OnnxContext, f: FusedNode) -> None:
    """ONNX Split as one Slice per output (``split`` input or attribute, or ``num_outputs`` / equal parts)."""
    node = f.node
    x = ctx.act(node, node.input[0])
    attrs = onnx_attrs(node)
    rank = len(x.shape)
    axis = int(attrs.get("axis", 0)) % rank
    dim = nhwc_to_nchw(x.shape)[axis]
    parts = _const_ints(ctx, node, 1) or [int(v) for v in attrs.get("split", ())]
    outputs = [o for o in node.output]
    if not parts:
        k = int(attrs.get("num_outputs", len(outputs)))
        chunk = -(-dim // k)
        parts = [min(chunk, dim - i * chunk) for i in range(k)]
    if len(parts) != len(outputs) or sum(parts) != dim or any(p <= 0 for p in parts):
        raise ctx.unsupported(node, f"split {parts} does not divide axis {axis} of length {dim} into "
                                    f"{len(outputs)} non-empty parts")
    start = 0
    for out, n in zip(outputs, parts):
        if out:
            _emit_slices(ctx, node, x, [(axis, start, start + n, 1)], out)
        start += n


@FLOAT_TABLE.handles("Gather")
@QUANT_TABLE.handles("Gather")
def gather(ctx: OnnxContext, f: FusedNode) -> None:
    """ONNX Gather of an activation with constant 0-D or 1-D indices."""
    node = f.node
    x = ctx.act(node, node.input[0])
    if not ctx.is_const(node.input[1]):
        raise ctx.unsupported(node, "indices must be a constant; supported: Gather with constant indices")
    idx = np.asarray(ctx.const(node, node.input[1])).astype(np.int64)
    if idx.ndim > 1:
        raise ctx.unsupported(node, f"indices of rank {idx.ndim}; supported: a scalar or a 1-D list")
    rank = len(x.shape)
    axis = int(onnx_attrs(node).get("axis", 0)) % rank
    indices: tuple[int, ...] | int = int(idx) if idx.ndim == 0 else tuple(int(i) for i in idx)
    if rank == 4 and idx.ndim == 0:   # the rank drops: gather in ONNX order
        emit_onnx_order(ctx, node, O.Gather(axis, indices), onnx_order(ctx, node, x), node.output[0])
        return
    op = O.Gather(_ir_axis(axis, rank), indices)
    _shape(ctx, node, op, x)
    _moved(ctx, node, op, x, node.output[0])


@FLOAT_TABLE.handles("Squeeze", "Unsqueeze")
@QUANT_TABLE.handles("Squeeze", "Unsqueeze")
def squeeze(ctx: OnnxContext, f: FusedNode) -> None:
    """ONNX Squeeze / Unsqueeze of an activation: a Reshape in ONNX order."""
    node = f.node
    x = ctx.act(node, node.input[0])
    dims = list(nhwc_to_nchw(x.shape))
    axes = _const_ints(ctx, node, 1)
    if axes is None:
        axes = [int(a) for a in onnx_attrs(node).get("axes", ())]
    if node.op_type == "Squeeze":
        drop = {a % len(dims) for a in axes} if axes else {i for i, d in enumerate(dims) if d == 1}
        if any(dims[a] != 1 for a in drop):
            raise ctx.unsupported(node, f"cannot squeeze axes {sorted(drop)} of {tuple(dims)}")
        shape = [d for i, d in enumerate(dims) if i not in drop]
    else:
        rank = len(dims) + len(axes)
        shape = dims
        for a in sorted(a % rank for a in axes):
            shape.insert(a, 1)
    if not shape or shape[0] != dims[0]:
        raise ctx.unsupported(node, "the batch axis must stay the first axis")
    reshape_any(ctx, node, x, tuple(shape))


# ------------------------------------------------------------------------------- Transpose/Reshape chains
def permutation_factors(moved: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """``(dims, perm)`` with ``arange(n).reshape(dims).transpose(perm).ravel() == moved`` and the fewest axes, or
    None when ``moved`` (the input index of each output element) is no single axis permutation.

    Output axes are peeled from the innermost: a maximal run of constant input stride is one axis; the axes sorted
    by stride must tile the input (each stride the product of the lengths below it)."""
    n = moved.size
    axes: list[tuple[int, int]] = []       # (length, input stride), innermost output axis first
    cur = moved.astype(np.int64)
    while cur.size > 1:
        step = int(cur[1] - cur[0])
        if step <= 0:
            return None
        diffs = np.diff(cur)
        run = int(np.argmax(diffs != step)) + 1 if np.any(diffs != step) else cur.size
        length = 0
        for cand in range(run, 1, -1):
            if cur.size % cand == 0:
                blocks = cur.reshape(-1, cand)
                if np.array_equal(blocks - blocks[:, :1], np.broadcast_to(np.arange(cand) * step, blocks.shape)):
                    length = cand
                    break
        if not length:
            return None
        axes.append((length, step))
        cur = cur.reshape(-1, length)[:, 0]
    if cur.size == 1 and int(cur[0]) != 0:
        return None
    by_stride = sorted(range(len(axes)), key=lambda i: axes[i][1])
    expect = 1
    for i in by_stride:
        if axes[i][1] != expect:
            return None
        expect *= axes[i][0]
    if expect != n:
        return None
    in_order = by_stride[::-1]                 # input axes, outermost (largest stride) first
    dims = tuple(axes[i][0] for i in in_order)
    perm = tuple(in_order.index(i) for i in reversed(range(len(axes))))
    if not np.array_equal(np.arange(n).reshape(dims).transpose(perm).ravel(), moved):
        return None
    return dims, perm


def _chain_map(chain: list[Node], tensors: dict[str, Tensor]) -> np.ndarray | None:
    """Input index of every output element of one sample through the chain (None if an op moves the batch)."""
    x = tensors[chain[0].inputs[0]]
    cur = np.arange(math.prod(x.shape[1:]), dtype=np.int64).reshape(x.shape[1:])
    for node in chain:
        out = tensors[node.outputs[0]]
        if isinstance(node.op, O.Transpose):
            if node.op.perm[0] != 0:
                return None
            cur = cur.transpose([p - 1 for p in node.op.perm[1:]])
        else:
            if out.shape[0] != x.shape[0]:
                return None
            cur = cur.reshape(out.shape[1:])
    return np.ascontiguousarray(cur).ravel()


def simplify_layout(builder: IRBuilder, keep: set[str]) -> None:
    """Rewrite each maximal chain of Transpose / Reshape nodes whose inner tensors have one consumer and are not
    graph outputs (``keep``) as at most ``Reshape -> Transpose -> Reshape`` (views around one data movement), or
    as one Reshape view when the chain moves no element."""
    readers: dict[str, int] = {}
    for n in builder.nodes:
        for i in n.inputs:
            readers[i] = readers.get(i, 0) + 1
    producer = {n.outputs[0]: n for n in builder.nodes}
    consumers: dict[str, list[Node]] = {}
    for n in builder.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    movable = (O.Transpose, O.Reshape)
    in_chain: set[str] = set()
    chains: list[list[Node]] = []
    for n in builder.nodes:
        if not isinstance(n.op, movable) or n.name in in_chain:
            continue
        prev = producer.get(n.inputs[0])
        if prev is not None and isinstance(prev.op, movable) and readers.get(prev.outputs[0], 0) == 1 \
                and prev.outputs[0] not in keep:
            continue   # not the head of its chain
        chain = [n]
        while True:
            out = chain[-1].outputs[0]
            nxt = consumers.get(out, [])
            if out in keep or len(nxt) != 1 or not isinstance(nxt[0].op, movable):
                break
            chain.append(nxt[0])
        if any(isinstance(c.op, O.Transpose) for c in chain):
            chains.append(chain)
            in_chain.update(c.name for c in chain)
    for chain in chains:
        _rewrite(builder, chain)


def _rewrite(builder: IRBuilder, chain: list[Node]) -> None:
    tensors = builder.tensors
    moved = _chain_map(chain, tensors)
    if moved is None:
        return
    found = permutation_factors(moved)
    if found is None:
        return
    dims, perm = found
    x, out = tensors[chain[0].inputs[0]], tensors[chain[-1].outputs[0]]
    batch, requant = x.shape[0], chain[-1].requant
    new: list[Node] = []
    cur = x.name
    moves = perm != tuple(range(len(perm)))
    count = 1 if not moves else (1 + (tuple(x.shape[1:]) != dims)
                                 + (tuple(dims[p] for p in perm) != tuple(out.shape[1:])))
    if count >= len(chain) and not (len(chain) == 1 and not moves):
        return   # nothing shorter
    base = chain[-1].name

    def add(op: O.Op, shape: tuple[int, ...], last: bool) -> None:
        nonlocal cur
        name = out.name if last else f"{out.name}__mv{len(new)}"
        if not last:
            tensors[name] = Tensor(name, shape, out.dtype, out.quant)
        new.append(Node(f"{base}__mv{len(new)}" if not last else base, op, (cur,), (name,), requant))
        cur = name

    if not moves:
        add(O.Reshape(out.shape), out.shape, True)
    else:
        steps: list[tuple[O.Op, tuple[int, ...]]] = []
        if tuple(x.shape[1:]) != dims:
            steps.append((O.Reshape((batch, *dims)), (batch, *dims)))
        moved_dims = tuple(dims[p] for p in perm)
        steps.append((O.Transpose((0, *(p + 1 for p in perm))), (batch, *moved_dims)))
        if moved_dims != tuple(out.shape[1:]):
            steps.append((O.Reshape(out.shape), out.shape))
        for k, (op, shape) in enumerate(steps):
            add(op, shape, k == len(steps) - 1)
    names = {c.name for c in chain}
    for c in chain[:-1]:
        tensors.pop(c.outputs[0], None)
    at = max(i for i, n in enumerate(builder.nodes) if n.name in names)
    kept = [n for i, n in enumerate(builder.nodes) if n.name not in names or i == at]
    i = next(i for i, n in enumerate(kept) if n.name == base)
    builder.nodes[:] = kept[:i] + new + kept[i + 1:]
