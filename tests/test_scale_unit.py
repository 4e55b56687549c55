"""Scale unit: rescale-operation counts (TFLite semantics), pipeline cycles, per-channel support check."""
from __future__ import annotations

import pytest

from accelsim.errors import AccelsimError, MappingError, UnsupportedError
from accelsim.hw.layer import LayerShape
from accelsim.hw.scale_unit import check_per_channel_support, requant_ops, scale_unit_cycles

CONV_PC = LayerShape(1, 8, 8, 16, 8, 8, 24, 3, 3, weight_bits=8, per_channel=True, name="conv3", kind="Conv2D")
CONV_PT = LayerShape(1, 8, 8, 16, 8, 8, 24, 3, 3, weight_bits=8, per_channel=False, name="conv4", kind="Conv2D")
ADD = LayerShape(1, 8, 8, 24, 8, 8, 24, num_inputs=2, name="add", kind="Add")
MAXPOOL = LayerShape(1, 8, 8, 24, 4, 4, 24, 2, 2, 2, 2, name="pool", kind="MaxPool")


def test_requant_ops():
    assert requant_ops(CONV_PC) == 8 * 8 * 24                 # one per output
    assert requant_ops(ADD) == 3 * 8 * 8 * 24                 # TFLite ADD: rescale both inputs, then the sum
    assert requant_ops(MAXPOOL) == 0                          # max pool keeps the input's quantization
    gap = LayerShape(1, 7, 7, 64, 1, 1, 64, 7, 7, name="gap", kind="GlobalAveragePool")
    assert requant_ops(gap) == 64


def test_scale_unit_cycles_closed_form():
    assert scale_unit_cycles(1536, 32, 4) == 48 + 4
    assert scale_unit_cycles(1537, 32, 4) == 49 + 4           # a partial vector costs a full cycle
    assert scale_unit_cycles(0, 32, 4) == 0
    with pytest.raises(ValueError):
        scale_unit_cycles(10, 0, 4)


def test_per_channel_layer_needs_support_or_fallback():
    assert check_per_channel_support(CONV_PC, True, "none") == "scale_unit"
    assert check_per_channel_support(CONV_PT, False, "none") == "scale_unit"
    assert check_per_channel_support(MAXPOOL, False, "none") == "scale_unit"
    assert check_per_channel_support(CONV_PC, False, "simd") == "simd"
    with pytest.raises(MappingError) as info:
        check_per_channel_support(CONV_PC, False, "none")
    message = str(info.value)
    assert "conv3" in message and "per-channel" in message
    assert "scale_unit.per_channel: true" in message and "scale_unit.fallback: simd" in message
    assert isinstance(info.value, AccelsimError)


def test_unknown_fallback():
    with pytest.raises(UnsupportedError, match="fallback"):
        check_per_channel_support(CONV_PC, False, "cpu")
