"""Keras MobileNetV2 / MobileNetV3 with their default softmax heads, converted by TensorFlow's own TFLiteConverter
(tests/data/keras/, made once by tools/make_keras_tflite.py; provenance.json records TensorFlow's version, the
settings and each file's SHA-256), executed by accelsim and compared on EVERY tensor with LiteRT's reference
kernels (``OpResolverType.BUILTIN_REF``, ``experimental_preserve_all_tensors=True``): 0 mismatches.

Also checked: the files are the ones the provenance describes, and each model's operator inventory (builtin ops
with counts, and the options that decide its integers: fused activations, SOFTMAX beta, MEAN axes / keep_dims,
QUANTIZE / DEQUANTIZE at the edges) is the one listed here, so a regenerated model with other ops is noticed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "keras"
PROVENANCE = json.loads((DATA / "provenance.json").read_text())
FILES = sorted(PROVENANCE["files"])
#: The issue's per-file limit ("< 2 MB each").
MAX_BYTES = 2_000_000


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------ provenance
def test_files_match_provenance() -> None:
    """Every committed .tflite is listed in provenance.json with its size and SHA-256, and vice versa."""
    on_disk = sorted(p.name for p in DATA.glob("*.tflite"))
    assert on_disk == FILES
    for file, entry in PROVENANCE["files"].items():
        data = (DATA / file).read_bytes()
        assert len(data) == entry["bytes"] < MAX_BYTES, file
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{file} differs from provenance.json"
        assert data[4:8] == b"TFL3", file
        assert file == f"{entry['model']}_{entry['variant']}.tflite"
        assert entry["model"] in PROVENANCE["models"] and entry["variant"] in PROVENANCE["variants"]


def test_provenance_records_the_converter_and_its_settings() -> None:
    p = PROVENANCE
    assert p["generator"] == "tools/make_keras_tflite.py" and (ROOT / p["generator"]).is_file()
    major, minor = (int(v) for v in p["tensorflow"].split(".")[:2])
    assert (major, minor) >= (2, 16), p["tensorflow"]
    assert isinstance(p["calibration"]["seed"], int) and p["calibration"]["images"] > 0
    assert {m["constructor"] for m in p["models"].values()} == {
        "keras.applications.MobileNetV2", "keras.applications.MobileNetV3Small", "keras.applications.MobileNetV3Large"}
    for model in p["models"].values():
        assert model["arguments"]["include_top"] is True and model["arguments"]["weights"] is None
    # every (model, variant) pair is either a file or a conversion the converter refused, with its reason
    pairs = {f"{m}_{v}" for m in p["models"] for v in p["variants"]}
    made = {f"{e['model']}_{e['variant']}" for e in p["files"].values()}
    assert made | set(p["refused_by_converter"]) == pairs and not made & set(p["refused_by_converter"])
    # TensorFlow 2.21's converter has no 16x8 HARD_SWISH, so MobileNetV3 has no 16x8 file
    assert all("HARD_SWISH" in reason for reason in p["refused_by_converter"].values())


# ------------------------------------------------------------------------------------------------ inventory
_V2_BODY = {
    "ops": {"ADD": 10, "CONV_2D": 35, "DEPTHWISE_CONV_2D": 17, "FULLY_CONNECTED": 1, "MEAN": 1, "SOFTMAX": 1},
    "signatures": {
        "ADD {t},{t}->{t} fused=NONE": 10,
        "CONV_2D {t}->{t} fused=NONE": 17,
        "CONV_2D {t}->{t} fused=RELU6": 18,
        "DEPTHWISE_CONV_2D {t}->{t} fused=RELU6": 17,
        "FULLY_CONNECTED {t}->{t} fused=NONE": 1,
        "MEAN {t}->{t} axes=[1, 2] keep_dims=False": 1,
        "SOFTMAX {t}->{t} beta=1": 1,
    },
}
#: MobileNetV3: Rescaling (MUL and ADD by constants), hard-swish as HARD_SWISH, squeeze-excite as MEAN (keep_dims)
#: -> CONV RELU -> CONV (+3 folded into its bias) RELU6 -> MUL by 1/6 -> MUL (broadcast over H, W); the head's
#: Flatten under a dynamic batch as SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (int32 shape arithmetic).
_V3_SMALL_BODY = {
    "ops": {"ADD": 7, "CONV_2D": 43, "DEPTHWISE_CONV_2D": 11, "HARD_SWISH": 19, "MEAN": 10, "MUL": 19, "PACK": 1,
            "RESHAPE": 1, "SHAPE": 1, "SOFTMAX": 1, "STRIDED_SLICE": 1},
    "signatures": {
        "ADD {t},{t}->{t} fused=NONE": 6,
        "ADD {t}->{t} fused=NONE": 1,
        "CONV_2D {t}->{t} fused=NONE": 23,
        "CONV_2D {t}->{t} fused=RELU": 11,
        "CONV_2D {t}->{t} fused=RELU6": 9,
        "DEPTHWISE_CONV_2D {t}->{t} fused=NONE": 8,
        "DEPTHWISE_CONV_2D {t}->{t} fused=RELU": 3,
        "HARD_SWISH {t}->{t}": 19,
        "MEAN {t}->{t} axes=[1, 2] keep_dims=True": 10,
        "MUL {t},{t}->{t} fused=NONE": 9,
        "MUL {t}->{t} fused=NONE": 10,
        "PACK int32->int32": 1,
        "RESHAPE {t},int32->{t}": 1,
        "SHAPE {t}->int32": 1,
        "SOFTMAX {t}->{t} beta=1": 1,
        "STRIDED_SLICE int32->int32": 1,
    },
}
_V3_LARGE_BODY = {
    "ops": {"ADD": 10, "CONV_2D": 49, "DEPTHWISE_CONV_2D": 15, "HARD_SWISH": 21, "MEAN": 9, "MUL": 17, "PACK": 1,
            "RESHAPE": 1, "SHAPE": 1, "SOFTMAX": 1, "STRIDED_SLICE": 1},
    "signatures": {
        "ADD {t},{t}->{t} fused=NONE": 9,
        "ADD {t}->{t} fused=NONE": 1,
        "CONV_2D {t}->{t} fused=NONE": 28,
        "CONV_2D {t}->{t} fused=RELU": 13,
        "CONV_2D {t}->{t} fused=RELU6": 8,
        "DEPTHWISE_CONV_2D {t}->{t} fused=NONE": 9,
        "DEPTHWISE_CONV_2D {t}->{t} fused=RELU": 6,
        "HARD_SWISH {t}->{t}": 21,
        "MEAN {t}->{t} axes=[1, 2] keep_dims=True": 9,
        "MUL {t},{t}->{t} fused=NONE": 8,
        "MUL {t}->{t} fused=NONE": 9,
        "PACK int32->int32": 1,
        "RESHAPE {t},int32->{t}": 1,
        "SHAPE {t}->int32": 1,
        "SOFTMAX {t}->{t} beta=1": 1,
        "STRIDED_SLICE int32->int32": 1,
    },
}
_BODIES = {"mobilenet_v2": _V2_BODY, "mobilenet_v3_small": _V3_SMALL_BODY, "mobilenet_v3_large": _V3_LARGE_BODY}


def expected_inventory(model: str, variant: str) -> dict[str, dict[str, int]]:
    """The listed inventory of ``model`` converted as ``variant``: the body at the variant's activation type, plus
    QUANTIZE / DEQUANTIZE at the edges of the float-interface variants."""
    t = "int16" if variant == "16x8" else "int8"
    body = _BODIES[model]
    ops = dict(body["ops"])
    signatures = {s.format(t=t): n for s, n in body["signatures"].items()}
    if variant != "int8":
        ops.update(QUANTIZE=1, DEQUANTIZE=1)
        signatures.update({f"QUANTIZE float32->{t}": 1, f"DEQUANTIZE {t}->float32": 1})
    return {"ops": dict(sorted(ops.items())), "signatures": dict(sorted(signatures.items()))}


@pytest.mark.parametrize("file", FILES)
def test_operator_inventory(file: str) -> None:
    pytest.importorskip("ai_edge_litert.schema_py_generated")
    entry = PROVENANCE["files"][file]
    assert _tool("inventory_tflite").inventory(DATA / file) == expected_inventory(entry["model"], entry["variant"])


def test_inventory_tool_prints_counts(capsys) -> None:
    pytest.importorskip("ai_edge_litert.schema_py_generated")
    file = next(f for f in FILES if f.startswith("mobilenet_v2_int8"))
    assert _tool("inventory_tflite").main([str(DATA / file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[file]["ops"]["CONV_2D"] == 35 and printed[file]["ops"]["SOFTMAX"] == 1


# ------------------------------------------------------------------------------------------------ bit-exactness
def _model(buf: bytes):
    from ai_edge_litert import schema_py_generated as S

    return S.ModelT.InitFromPackedBuf(buf, 0)


def file_tensor_names(buf: bytes) -> list[str]:
    """The accelsim name of each tensor of the file, by index: the file's name, with ``_<index>`` appended to an
    empty or repeated one (docs/tflite.md, "Names")."""
    names: list[str] = []
    for index, t in enumerate(_model(buf).subgraphs[0].tensors):
        name = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
        if not name or name in names:
            name = f"{name or 'tensor'}_{index}"
        names.append(name)
    return names


def operators(buf: bytes) -> list[tuple[str, list[int], list[int]]]:
    """(builtin name, input tensor indices, output tensor indices) of each operator, in execution order."""
    from ai_edge_litert import schema_py_generated as S

    model = _model(buf)
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if isinstance(v, int)}
    out = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        out.append((names[max(code.builtinCode, code.deprecatedBuiltinCode)], list(op.inputs), list(op.outputs)))
    return out


def cut_before(buf: bytes, builtin: str) -> bytes:
    """The model up to (without) its first ``builtin`` operator, whose input becomes the graph output."""
    import flatbuffers

    model = _model(buf)
    sub = model.subgraphs[0]
    ops = operators(buf)
    first = next(i for i, (name, _, _) in enumerate(ops) if name == builtin)
    sub.outputs = [ops[first][1][0]]
    sub.operators = sub.operators[:first]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def feeds(detail: dict, value_range: tuple[float, float]) -> list[np.ndarray]:
    """The inputs each model is run on: three seeded random images and a ramp through the whole input range.
    Integer inputs: uniform over the type's full range (the ramp visits every value); float inputs: uniform over
    the model's input range widened by 10 % on each side, so QUANTIZE saturates at both ends."""
    shape, dtype = tuple(detail["shape"]), np.dtype(detail["dtype"])
    size = int(np.prod(shape))
    out = []
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        for seed in range(3):
            out.append(np.random.default_rng(seed).integers(info.min, info.max + 1, shape).astype(dtype))
        out.append(np.resize(np.arange(info.min, info.max + 1), size).reshape(shape).astype(dtype))
    else:
        lo, hi = value_range
        lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
        for seed in range(3):
            out.append(np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype))
        out.append(np.linspace(lo, hi, size, dtype=np.float64).astype(dtype).reshape(shape))
    return out


#: int32 outputs of these operators are shape arithmetic (the Flatten's target shape under a dynamic batch),
#: resolved statically by the importer: not tensors accelsim computes.
SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")


def compare_every_tensor(buf: bytes, value_range: tuple[float, float]) -> tuple[int, dict[str, int], np.ndarray]:
    """Run the model with LiteRT (BUILTIN_REF, every tensor preserved) and with accelsim on each of ``feeds``;
    compare each operator's output tensor (the QUANTIZE of a float input included) integer for integer, and a float
    output (DEQUANTIZE) bit for bit with accelsim's dequantization of its integer output.
    Returns (integers compared, {operator: mismatches}, LiteRT's graph outputs stacked over the inputs)."""
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")
    from accelsim.execute import execute
    from accelsim.graph.importers.tflite import load_tflite
    from accelsim.quant.params import dequantize, quantize

    it = interpreter.Interpreter(model_content=buf, num_threads=1, experimental_preserve_all_tensors=True,
                                 experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    graph = load_tflite(buf)
    names, ops = file_tensor_names(buf), operators(buf)
    (in_detail,), (out_detail,) = it.get_input_details(), it.get_output_details()
    assert len(graph.inputs) == len(graph.outputs) == 1
    q_in, q_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    # A float interface is either kept outside the graph (the quantized tensors are the graph's input / output,
    # the float ones recorded in metadata) or computed inside it (a float32 graph input / output): both are checked.
    float_in = np.dtype(in_detail["dtype"]) == np.float32
    outside = float_in and q_in.dtype != "float32"
    if outside:
        assert names[in_detail["index"]] in graph.metadata.get("tflite_float_inputs", {}).values()

    compared, mismatches, outputs = 0, {}, []
    for x in feeds(in_detail, value_range):
        it.set_tensor(in_detail["index"], x)
        it.invoke()
        if outside:  # accelsim quantizes the float input as execute_float does; LiteRT's QUANTIZE is compared
            x = quantize(x, q_in.quant, q_in.dtype, rounding="half_away_from_zero")
        result = execute(graph, {graph.inputs[0]: x}, threads=1)
        for index, (op, _, outs) in enumerate(ops):
            for t in outs:
                ref = it.get_tensor(t)
                if ref.dtype == np.int32 and op in SHAPE_OPS:
                    continue
                if op == "DEQUANTIZE" and names[t] not in result:  # the float output, kept outside the graph
                    assert names[t] in graph.metadata.get("tflite_float_outputs", {}).values(), (
                        f"operator {index}: DEQUANTIZE inside the network")
                    got = dequantize(result[q_out.name], q_out.quant)
                else:
                    assert names[t] in result, f"operator {index} ({op}): tensor {names[t]!r} not computed"
                    got = result[names[t]]
                assert got.shape == ref.shape and got.dtype == ref.dtype, (index, op, names[t], got.shape, ref.shape)
                bad = int(np.count_nonzero(got != ref))
                if bad:
                    key = f"operator {index} {op} {names[t]!r}"
                    mismatches[key] = mismatches.get(key, 0) + bad
                compared += ref.size
        outputs.append(it.get_tensor(out_detail["index"]).copy())
    return compared, mismatches, np.stack(outputs)


def _value_range(file: str) -> tuple[float, float]:
    return tuple(PROVENANCE["models"][PROVENANCE["files"][file]["model"]]["input_range"])


@pytest.mark.parametrize("file", FILES)
def test_every_tensor_bit_exact_against_litert_reference(file: str) -> None:
    """Every integer tensor LiteRT computes for the whole model, softmax head included, equals accelsim's."""
    compared, mismatches, outputs = compare_every_tensor((DATA / file).read_bytes(), _value_range(file))
    assert not mismatches, (f"{file}: {sum(mismatches.values())} of {compared} integers differ; first: "
                            f"{list(mismatches.items())[:5]}")
    # a golden where the softmax output is nearly constant would prove little
    assert np.unique(outputs).size >= 12, f"{file}: degenerate softmax output"
    assert compared > 100_000


@pytest.mark.parametrize("file", [f for f in FILES if f.startswith("mobilenet_v2_")])
def test_mobilenet_v2_up_to_the_logits_bit_exact(file: str) -> None:
    """The converter's MobileNetV2 cut before its SOFTMAX (logits as the output): every tensor equal, also in a
    tree whose importer lacks the head's ops. The logits must be spread (not saturated) for this to prove much."""
    compared, mismatches, logits = compare_every_tensor(cut_before((DATA / file).read_bytes(), "SOFTMAX"),
                                                        _value_range(file))
    assert not mismatches, (f"{file} without its softmax: {sum(mismatches.values())} of {compared} integers "
                            f"differ; first: {list(mismatches.items())[:5]}")
    assert np.unique(logits).size >= 50, f"{file}: degenerate logits"
    assert compared > 1_000_000


# ------------------------------------------------------------------------------------------------ Keras Flatten
def flatten_model(shape_as_output: bool = False) -> bytes:
    """Keras's Flatten as TensorFlow's converter writes it under a dynamic batch: the RESHAPE's target shape is
    computed by SHAPE -> STRIDED_SLICE (the batch, shrunk to a scalar) -> PACK(batch, 100); an int8 ADD after it
    (so the reshaped tensor feeds a real op). With ``shape_as_output`` the SHAPE result is also a graph output."""
    from tflite_builder import S, TFLiteModel

    t = TFLiteModel()
    x = t.tensor("x", (1, 2, 2, 25), "int8", 0.05, 3)
    shape = t.tensor("shape", (4,), "int32")
    begin, end, strides = (t.tensor(n, (1,), "int32", data=np.array([v], np.int32))
                           for n, v in (("begin", 0), ("end", 1), ("strides", 1)))
    batch = t.tensor("batch", (), "int32")
    width = t.tensor("width", (), "int32", data=np.array(100, np.int32))
    target = t.tensor("target", (2,), "int32")
    flat = t.tensor("flat", (1, 100), "int8", 0.05, 3)
    y = t.tensor("y", (1, 100), "int8", 0.08, -6)
    opts = S.ShapeOptionsT()
    opts.outType = S.TensorType.INT32
    t.op("SHAPE", [x], [shape], "ShapeOptions", opts)
    opts = S.StridedSliceOptionsT()
    opts.shrinkAxisMask = 1
    t.op("STRIDED_SLICE", [shape, begin, end, strides], [batch], "StridedSliceOptions", opts)
    opts = S.PackOptionsT()
    opts.valuesCount, opts.axis = 2, 0
    t.op("PACK", [batch, width], [target], "PackOptions", opts)
    t.op("RESHAPE", [x, target], [flat], "ReshapeOptions", S.ReshapeOptionsT())
    t.add(flat, flat, y)
    return t.finish([x], [y, shape] if shape_as_output else [y])


def test_keras_flatten_shape_arithmetic_is_resolved_statically() -> None:
    """The importer drops the int32 shape arithmetic (no node computes it) and the model runs bit-exactly."""
    from tflite_builder import run_reference

    from accelsim.execute import execute
    from accelsim.graph.importers.tflite import load_tflite

    model = flatten_model()
    graph = load_tflite(model)
    assert [n.kind for n in graph.nodes] == ["Flatten", "Add"]  # a flattening RESHAPE is read as Flatten
    assert not {"shape", "batch", "target"} & set(graph.tensors)
    x = np.resize(np.arange(-128, 128), (1, 2, 2, 25)).astype(np.int8)
    (ref,) = run_reference(model, [x])
    got = execute(graph, {"x": x})["y"]
    assert np.array_equal(got, ref) and np.unique(ref).size > 12


def test_shape_arithmetic_read_elsewhere_is_still_refused() -> None:
    """A SHAPE whose result is a graph output is not shape arithmetic of a RESHAPE: refused by name."""
    from accelsim.errors import UnsupportedError
    from accelsim.graph.importers.tflite import load_tflite

    with pytest.raises(UnsupportedError, match="operator 0 is SHAPE"):
        load_tflite(flatten_model(shape_as_output=True))
