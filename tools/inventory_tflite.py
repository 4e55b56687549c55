"""Print a .tflite model's operator inventory: builtin operators with counts, and the options that decide its
integer arithmetic (no TensorFlow needed: the flatbuffer is read with the TFLite schema classes that ship in the
``ai-edge-litert`` wheel, ``ai_edge_litert.schema_py_generated``).

    python tools/inventory_tflite.py tests/data/keras/*.tflite [--json]

Per operator the signature lists its tensor types (``int8->int8``; constants are left out) and, where the option
changes the integers computed, the option: the fused activation of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED /
ADD / SUB / MUL / pooling, SOFTMAX's ``beta``, MEAN's axes and ``keep_dims``, the type change of QUANTIZE /
DEQUANTIZE. ``tests/test_keras_tflite.py`` imports :func:`inventory` to check the committed models.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

#: Operators whose options carry a fused activation (``fusedActivationFunction``).
FUSED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "DIV", "AVERAGE_POOL_2D",
         "MAX_POOL_2D", "CONCATENATION"}


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _enum_names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _constant(model, tensor) -> bytes | None:
    """The stored bytes of a constant tensor, or None for a tensor computed at run time."""
    buffer = model.buffers[tensor.buffer] if 0 < tensor.buffer < len(model.buffers or []) else None
    if buffer is None or buffer.data is None or not len(buffer.data):
        return None
    return np.asarray(buffer.data, np.uint8).tobytes()


def inventory(path_or_bytes: str | Path | bytes) -> dict[str, dict[str, int]]:
    """``{"ops": {builtin name: count}, "signatures": {signature: count}}`` of the first subgraph, both sorted by
    name; a signature is ``"OP in_types->out_types key=value ..."`` (see the module docstring)."""
    S = _schema()
    buf = bytes(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else Path(path_or_bytes).read_bytes()
    model = S.ModelT.InitFromPackedBuf(buf, 0)
    sub = model.subgraphs[0]
    op_names = _enum_names(S.BuiltinOperator)
    type_names = {k: v.lower() for k, v in _enum_names(S.TensorType).items()}
    activations = _enum_names(S.ActivationFunctionType)
    ops: Counter[str] = Counter()
    signatures: Counter[str] = Counter()
    for op in sub.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if name == "CUSTOM" and code.customCode:
            name = f"CUSTOM:{code.customCode.decode()}"
        ops[name] += 1
        tensors = sub.tensors
        ins = [tensors[i] for i in op.inputs if i >= 0]
        variable = [type_names[t.type] for t in ins if _constant(model, t) is None]
        outs = [type_names[tensors[i].type] for i in op.outputs]
        parts = [name, f"{','.join(variable)}->{','.join(outs)}"]
        options = op.builtinOptions
        if name in FUSED and options is not None:
            parts.append(f"fused={activations[int(options.fusedActivationFunction)]}")
        if name == "SOFTMAX":
            parts.append(f"beta={float(options.beta):g}")
        if name in ("MEAN", "SUM", "REDUCE_MAX"):
            axes = _constant(model, tensors[op.inputs[1]])  # an int32 tensor
            parts.append(f"axes={[] if axes is None else np.frombuffer(axes, '<i4').tolist()}")
            parts.append(f"keep_dims={bool(options.keepDims) if options is not None else False}")
        signatures[" ".join(parts)] += 1
    return {"ops": dict(sorted(ops.items())), "signatures": dict(sorted(signatures.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help=".tflite files")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by file name")
    args = parser.parse_args(argv)
    found = {path.name: inventory(path) for path in args.models}
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for file, inv in found.items():
        print(f"{file}: {sum(inv['ops'].values())} operators")
        for name, count in inv["ops"].items():
            print(f"  {count:4d}  {name}")
        print("  signatures:")
        for signature, count in inv["signatures"].items():
            print(f"  {count:4d}  {signature}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
