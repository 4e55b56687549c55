"""The ``mlw`` weight codec (Arm Ethos-U weight stream, Vela's encoder): stream sizes against Arm's compiled encoder
(``ethosu.mlw_codec`` from ``ethos-u-vela``, a test peer) on many tensors, Vela's brick order against its
``reorder_encode``, hand-worked closed forms, the encoder bit for bit and both decoders, and whole networks
against Vela's ``total_npu_encoded_weights``."""
from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim.errors import AccelsimError
from accelsim.hw.compression import (
    MLW_OFM_BLOCK_DEPTH,
    best_codec,
    compress_weights,
    decode_weights,
    encode_weights,
    mlw_decode_stream,
    mlw_encode_stream,
    mlw_stream_bits,
    mlw_traversal,
    mlw_weight_bytes,
    mlw_weight_order,
)

#: Agreement band with Arm's encoder (Vela 5.2.0 ``mlw_codec``). Measured: every tensor below is byte-exact (the
#: model decides sections, palettes, parameters and slices as the encoder does); the band leaves room for a
#: tie broken differently.
ENCODER_BAND = 0.01


def _arm_stream_bytes(values: np.ndarray) -> int:
    mlw_codec = pytest.importorskip("ethosu.mlw_codec")
    return len(mlw_codec.encode(np.asarray(values, dtype=np.int64).ravel().tolist()))


def _arm_layer_bytes(weights: np.ndarray) -> int:
    """Arm's encoder in Vela's brick order for ``weights`` (OHWI or (O, I)): Ethos-U55-256 micro-blocks (8 deep),
    8-bit IFM, sub-kernels of at most 8x8, the traversal Vela picks (the same rule as accelsim's)."""
    mlw_codec = pytest.importorskip("ethosu.mlw_codec")
    w = weights.reshape(weights.shape[0], 1, 1, weights.shape[1]) if weights.ndim == 2 else weights
    traversal = mlw_traversal(w.shape)
    stream, _ = mlw_codec.reorder_encode(8, 8, w.astype(np.int16), MLW_OFM_BLOCK_DEPTH, traversal == "depthwise",
                                         traversal == "part_kernel", 8, 8, 8)
    return len(stream)


def _distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(10)
    cases: dict[str, np.ndarray] = {}
    for n in (1, 7, 100, 1000, 40_000):
        for scale in (0.5, 1, 3, 10, 30):
            cases[f"laplace{scale}_{n}"] = np.clip(np.rint(rng.laplace(0, scale, n)), -127, 127)
        sparse = np.clip(np.rint(rng.laplace(0, 20, n)), -127, 127)
        sparse[rng.random(n) < 0.7] = 0
        cases[f"sparse70_{n}"] = sparse
        very_sparse = rng.integers(-127, 128, n)
        very_sparse[rng.random(n) < 0.97] = 0
        cases[f"sparse97_{n}"] = very_sparse
        cases[f"uniform_{n}"] = rng.integers(-127, 128, n)
        cases[f"zeros_{n}"] = np.zeros(n)
        cases[f"constant_{n}"] = np.full(n, -3)
        cases[f"palette6_{n}"] = rng.choice([-64, -8, 0, 8, 64, 127], n)
        # trained-like: per-64-weight blocks of a log-normal scale spread (as BN-folded channels)
        spread = np.repeat(np.exp(0.8 * rng.standard_normal(n // 64 + 1)), 64)[:n]
        mixed = rng.laplace(0, 1, n) * spread
        cases[f"channel_mix_{n}"] = np.clip(np.rint(mixed / np.abs(mixed).max() * 127), -127, 127)
        cases[f"int9_{n}"] = np.clip(np.rint(rng.laplace(0, 60, n)), -255, 255)
    return cases


_CASES = _distributions()


@pytest.mark.parametrize("name", sorted(_CASES))
def test_stream_size_matches_arms_encoder(name):
    values = _CASES[name].astype(np.int16)
    ours = mlw_stream_bits(values) // 8
    arm = _arm_stream_bytes(values)
    assert ours % 16 == 0
    assert abs(ours / arm - 1) <= ENCODER_BAND, (ours, arm)


def _layer_weights(shape: tuple[int, ...], seed: int, zero_fraction: float = 0.0) -> np.ndarray:
    """Per-channel-quantized Laplace weights with a log-normal channel spread (accelsim's synthetic recipe)."""
    rng = np.random.default_rng(seed)
    spread = np.exp(1.0 * rng.standard_normal(shape[0])).reshape((-1,) + (1,) * (len(shape) - 1))
    w = rng.laplace(0, 1, shape) * spread
    w = np.rint(w / np.abs(w).max(axis=tuple(range(1, len(shape))), keepdims=True) * 127)
    w[rng.random(shape) < zero_fraction] = 0
    return w.astype(np.int8)


@pytest.mark.parametrize("shape,zeros", [
    ((32, 3, 3, 3), 0.0),          # first conv: part-kernel-first, IFM padded to 8, elements to 12
    ((64, 7, 7, 3), 0.0),          # ResNet stem
    ((96, 11, 11, 3), 0.0),        # AlexNet conv1: 11x11 split into 8x8 sub-kernels
    ((144, 3, 3, 1), 0.0),         # depthwise
    ((40, 5, 5, 1), 0.5),          # depthwise 5x5, sparse
    ((24, 1, 1, 96), 0.0),         # 1x1 projection, depth-first
    ((100, 1, 1, 20), 0.0),        # IFM 20: depth-first pads IFM to 32; OFM 100 not a multiple of 8
    ((64, 3, 3, 48), 0.0),         # part-kernel-first chosen by utilisation
    ((256, 3, 3, 256), 0.3),       # big 3x3, sparse
    ((1000, 512), 0.0),            # fully connected
])
def test_layer_size_in_vela_brick_order_matches_arms_reorder_encode(shape, zeros):
    w = _layer_weights(shape, seed=sum(shape), zero_fraction=zeros)
    ours = compress_weights(w, 8, "mlw").compressed_bytes
    arm = _arm_layer_bytes(w)
    assert abs(ours / arm - 1) <= ENCODER_BAND, (ours, arm)


# ------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("n", [1, 12, 13, 100, 5000])
def test_constant_stream_closed_form(n):
    """n copies of -3: one section whose palette is its symbol 2·3 + 1 = 7 plus the 0 entry (a palette of one
    entry is not allowed), entries 3 bits wide (the largest entry, 7); every index is 0 and costs one unary bit,
    written in 12-bit chunks: 23 (slice header) + 13 (palette header) + 2·3 (palette) + 12·ceil(n/12) + 3 (end
    marker) bits, padded to 16 bytes."""
    bits = 23 + 13 + 2 * 3 + 12 * math.ceil(n / 12) + 3
    expected = 16 * math.ceil(bits / 128)
    assert mlw_stream_bits(np.full(n, -3)) // 8 == expected
    assert _arm_stream_bytes(np.full(n, -3)) == expected


def test_zero_runs_make_sparse_streams_small():
    """Zeros are coded as run lengths, not weights: an all-zero tensor of 50,000 weights takes ~0.13 bit per
    weight in Arm's encoder (800 bytes), and accelsim's model gives the same."""
    zeros = np.zeros(50_000, dtype=np.int16)
    assert mlw_stream_bits(zeros) // 8 == _arm_stream_bytes(zeros) == 800


def test_brick_order_depthwise_closed_form():
    """Depthwise (C, 3, 3, 1): per 8-channel micro-block, the 9 kernel elements padded to 12, then 8 channels."""
    w = np.arange(16 * 9, dtype=np.int64).reshape(16, 3, 3, 1) % 200 - 100
    expected = []
    for ublock in range(2):
        for element in range(12):
            for c in range(8):
                expected.append(w[ublock * 8 + c].ravel()[element] if element < 9 else 0)
    assert mlw_weight_order(w).tolist() == expected


def test_brick_order_depth_first_closed_form():
    """1x1 conv, 8 OFM x 40 IFM: IFM padded to 64 in blocks of 32; per IFM block 4 IFM micro-blocks, each the
    8 OFM channels x 8 IFM channels."""
    w = (np.arange(8 * 40, dtype=np.int64).reshape(8, 1, 1, 40) % 250) - 125
    expected = []
    for ifm_block in range(2):
        for ifm_ublock in range(4):
            for o in range(8):
                for i in range(8):
                    ifm = ifm_block * 32 + ifm_ublock * 8 + i
                    expected.append(w[o, 0, 0, ifm] if ifm < 40 else 0)
    assert mlw_weight_order(w).tolist() == expected


@pytest.mark.parametrize("shape,traversal", [
    ((32, 3, 3, 3), "part_kernel"), ((64, 1, 1, 8), "part_kernel"), ((64, 3, 3, 48), "part_kernel"),
    ((64, 3, 3, 64), "depth_first"), ((64, 1, 1, 32), "depth_first"), ((96, 3, 3, 1), "depthwise"),
    ((1000, 512), "depth_first"),
])
def test_traversal_rule(shape, traversal):
    assert mlw_traversal(shape) == traversal


# ------------------------------------------------------------------------------------------ contract, errors
def test_codec_contract_and_errors():
    w = _layer_weights((16, 3, 3, 16), seed=3)
    result = compress_weights(w, 8, "mlw")
    assert result.codec == "mlw" and result.raw_bytes == w.size
    assert result.compressed_bytes == mlw_weight_bytes(w)
    assert best_codec(w, 8, ["mlw"]) == result
    with pytest.raises(AccelsimError):                 # outside the 9-bit sign-magnitude alphabet
        compress_weights(np.array([300, -2], dtype=np.int16), 16, "mlw")
    with pytest.raises(AccelsimError):
        encode_weights(np.array([300, -2], dtype=np.int16), 16, "mlw")
    with pytest.raises(AccelsimError):                 # a shape that does not hold the count
        decode_weights(encode_weights(w, 8, "mlw"), "mlw", w.size, 8, True, shape=(3, 3))
    with pytest.raises(AccelsimError):                 # a truncated stream
        mlw_decode_stream(encode_weights(w, 8, "mlw")[:40])


# ------------------------------------------------------------------------------------------ encoder, decoder
@pytest.mark.parametrize("name", sorted(k for k, v in _CASES.items() if v.size <= 1000))
def test_encoder_is_bit_identical_with_arms_and_both_decoders_read_it(name):
    mlw_codec = pytest.importorskip("ethosu.mlw_codec")
    values = _CASES[name].astype(np.int64)
    ours = mlw_encode_stream(values)
    assert ours == bytes(mlw_codec.encode(values.tolist()))
    assert len(ours) == mlw_stream_bits(values) // 8
    assert np.array_equal(np.asarray(mlw_codec.decode(bytearray(ours))), values)
    assert np.array_equal(mlw_decode_stream(ours), values)


@pytest.mark.parametrize("shape,zeros", [((32, 3, 3, 3), 0.0), ((48, 3, 3, 1), 0.4), ((24, 1, 1, 40), 0.0),
                                         ((100, 20), 0.6)])
def test_layer_round_trip_through_encode_weights(shape, zeros):
    """encode_weights / decode_weights keep the codec contract: the stream is as long as compressed_bytes and
    decodes (with the tensor's shape, to undo the brick order) to the weights; Arm's reorder_encode writes the
    same stream."""
    w = _layer_weights(shape, seed=len(shape) + sum(shape), zero_fraction=zeros)
    stream = encode_weights(w, 8, "mlw")
    assert len(stream) == compress_weights(w, 8, "mlw").compressed_bytes
    assert np.array_equal(decode_weights(stream, "mlw", w.size, 8, True, shape=w.shape).reshape(w.shape), w)
    mlw_codec = pytest.importorskip("ethosu.mlw_codec")
    w4 = w.reshape(w.shape[0], 1, 1, w.shape[1]) if w.ndim == 2 else w
    traversal = mlw_traversal(w4.shape)
    arm, _ = mlw_codec.reorder_encode(8, 8, w4.astype(np.int16), MLW_OFM_BLOCK_DEPTH, traversal == "depthwise",
                                      traversal == "part_kernel", 8, 8, 8)
    assert stream == bytes(arm)


# ------------------------------------------------------------------------------------------ whole networks
@pytest.mark.parametrize("network", ["squeezenet_1.1", "mobilenet_v2_1.0_224"])
def test_network_total_matches_vela(network, tmp_path):
    """accelsim's per-layer mlw sizes summed over a network against Vela 5.2.0's total_npu_encoded_weights for the
    same int8 .tflite (accelsim's export) on Ethos-U55-256, within 5 %."""
    pytest.importorskip("ethosu.vela")
    import csv
    import subprocess
    import sys

    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.ops import op_def
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads import load_workload

    graph = synthesize_weights(load_workload(network))
    model = tmp_path / "model.tflite"
    model.write_bytes(export_tflite(graph))
    subprocess.run([sys.executable, "-c", "import sys; from ethosu.vela.vela import main; sys.exit(main(sys.argv[1:]))",
                    str(model), "--accelerator-config", "ethos-u55-256", "--output-dir", str(tmp_path / "out")],
                   check=True, capture_output=True, timeout=600)
    with next((tmp_path / "out").glob("*_summary_*.csv")).open(newline="") as f:
        vela = float(next(csv.DictReader(f))["total_npu_encoded_weights"])
    ours = sum(mlw_weight_bytes(np.asarray(graph.tensors[node.inputs[1]].data)) for node in graph.nodes
               if op_def(node.kind).has_weights)
    assert abs(ours / vela - 1) <= 0.05, (ours, vela)


def test_sizes_are_memoised_by_content_not_identity():
    """compress_weights remembers mlw sizes by the tensor's content and shape: an equal copy gives the same
    result, a tensor of the same shape with other values its own."""
    w = _layer_weights((64, 3, 3, 32), seed=5)
    first = compress_weights(w, 8, "mlw")
    assert compress_weights(w.copy(), 8, "mlw") == first
    assert compress_weights(np.zeros_like(w), 8, "mlw").compressed_bytes == mlw_weight_bytes(np.zeros_like(w))
    assert compress_weights(np.zeros_like(w), 8, "mlw").compressed_bytes < first.compressed_bytes
    flat = compress_weights(w.reshape(-1), 8, "mlw")       # same values, no brick order: its own entry
    assert flat.compressed_bytes == mlw_stream_bits(w.reshape(-1)) // 8


def test_best_codec_skips_mlw_for_weights_it_cannot_store():
    wide = np.random.default_rng(4).integers(-3000, 3000, (16, 3, 3, 8)).astype(np.int16)
    assert best_codec(wide, 16, ["mlw", "huffman"]).codec == "huffman"
    with pytest.raises(AccelsimError, match="mlw"):
        best_codec(wide, 16, ["mlw"])
