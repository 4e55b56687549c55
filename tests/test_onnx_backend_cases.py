"""ONNX's own backend node test cases for the integer MAC ops, run as written: the raw integer input goes in as
the graph input, the model's other inputs (weights, scales, zero points) are bound as constants
(``load_onnx(..., constants=...)``), and every output integer must equal the case's expected output.

The cases come from the onnx package (``onnx.backend.test.case.node``: the generators of
``onnx/backend/test/data/node/<case>``; the wheel installed here ships the generators, not the data files).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph.importers.onnx import import_model

onnx = pytest.importorskip("onnx")

PREFIXES = ("test_qlinearconv", "test_qlinearmatmul", "test_convinteger", "test_matmulinteger")
#: The cases of onnx 1.23 with those prefixes (a new one in a later onnx shows up in test_every_case_is_listed).
CASES = ("test_qlinearconv", "test_qlinearmatmul_2D_uint8_float32", "test_qlinearmatmul_3D_uint8_float32",
         "test_qlinearmatmul_2D_uint8_float16", "test_qlinearmatmul_3D_uint8_float16",
         "test_qlinearmatmul_2D_int8_float32", "test_qlinearmatmul_3D_int8_float32",
         "test_qlinearmatmul_2D_int8_float16", "test_qlinearmatmul_3D_int8_float16",
         "test_convinteger_without_padding", "test_convinteger_with_padding", "test_matmulinteger")


@functools.cache
def backend_cases() -> dict[str, object]:
    from onnx.backend.test.case import node as cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = cases.collect_testcases()
    return {c.name: c for c in found if c.name.startswith(PREFIXES)}


def test_every_case_is_listed():
    assert set(backend_cases()) == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_backend_case_bit_exact(name):
    case = backend_cases()[name]
    model = case.model
    inputs, expected = case.data_sets[0]
    names = [i.name for i in model.graph.input]
    graph = import_model(model, f"{name}.onnx", constants=dict(zip(names[1:], inputs[1:])))
    x = inputs[0]
    # the graph input keeps its integer type and the quantization of the op that reads it
    assert graph.tensors[graph.inputs[0]].dtype == str(x.dtype)
    assert graph.metadata["interface"]["inputs"] == {names[0]: str(x.dtype)}
    result = execute(graph, {graph.inputs[0]: x.transpose(0, 2, 3, 1) if x.ndim == 4 else x})
    y = result.outputs[graph.outputs[0]]
    y = y.transpose(0, 3, 1, 2) if y.ndim == 4 else y
    assert y.dtype == expected[0].dtype
    assert y.shape == expected[0].shape
    assert int(np.count_nonzero(y.astype(np.int64) != expected[0].astype(np.int64))) == 0
