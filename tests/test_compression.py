"""Weight compression codecs: sizes against closed forms and the Shannon entropy bound, and encode/decode round
trips whose stream length equals the reported size."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import AccelsimError
from accelsim.hw.compression import (
    CODECS,
    STREAM_CODECS,
    best_codec,
    compress_weights,
    decode_weights,
    decompression_cycles,
    decompression_energy_pj,
    encode_weights,
    huffman_code_lengths,
)


def _entropy_bits(values: np.ndarray) -> float:
    """Empirical Shannon entropy in bits per symbol (numpy only)."""
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _laplace_int8(rng: np.random.Generator, channels: int, per_channel: int) -> np.ndarray:
    """Laplace weights with a log-normal spread of scale across channels, quantized symmetric per tensor."""
    spread = np.exp(0.8 * rng.standard_normal(channels))
    w = rng.laplace(0.0, 1.0, (channels, per_channel)) * spread[:, None]
    return np.clip(np.rint(w / np.abs(w).max() * 127), -127, 127).astype(np.int8)


# ------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("n", [1, 7, 8, 1000, 4097])
def test_all_zero_weights_closed_forms(n):
    w = np.zeros(n, dtype=np.int8)
    assert compress_weights(w, 8, "bitmap").compressed_bytes == math.ceil(n / 8)
    # zero_rle: only the 4-bit run-width header, trailing zeros are implied
    assert compress_weights(w, 8, "zero_rle").compressed_bytes == 1
    # bitpack: every 64-weight block is 1 bit wide: 4-bit header + one bit per weight
    blocks = math.ceil(n / 64)
    assert compress_weights(w, 8, "bitpack").compressed_bytes == math.ceil((4 * blocks + n) / 8)
    # huffman: one symbol, 1-bit code; sparse table = 3 + 1 header bits, 9-bit count, one (8-bit symbol, 1-bit length)
    assert compress_weights(w, 8, "huffman").compressed_bytes == math.ceil((4 + 9 + 9 + n) / 8)


@pytest.mark.parametrize("n", [2, 64, 1001, 30000])
def test_bitpack_int4_is_half_a_byte_per_weight(n):
    w = np.random.default_rng(n).integers(-8, 8, n).astype(np.int8)
    result = compress_weights(w, 4, "bitpack")
    assert result.raw_bytes == result.compressed_bytes == math.ceil(n / 2)
    assert result.ratio == 1.0


def test_bitpack_minimum_width_blocks():
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 8, 64 * 10).astype(np.int8)     # every block fits 4-bit two's complement
    w[0] = 7                                             # 0111: still 4 bits
    assert compress_weights(w, 8, "bitpack").compressed_bytes == 10 * (4 + 64 * 4) // 8
    w[70] = -128                                         # block 1 needs the full 8 bits
    assert compress_weights(w, 8, "bitpack").compressed_bytes == (10 * 4 + 9 * 64 * 4 + 64 * 8) // 8
    w16 = np.full(100, 300, dtype=np.int16)              # 300 needs 10 bits; blocks of 64 and 36
    assert compress_weights(w16, 16, "bitpack").compressed_bytes == math.ceil((2 * 4 + 100 * 10) / 8)


def test_bitmap_is_one_bit_per_weight_plus_nonzeros():
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, 10_000).astype(np.int8)
    w[rng.random(w.size) < 0.5] = 0
    nonzeros = int((w != 0).sum())
    result = compress_weights(w, 8, "bitmap")
    assert result.compressed_bytes == math.ceil((w.size + 8 * nonzeros) / 8)
    assert result.raw_bytes == w.size and result.ratio == pytest.approx(result.compressed_bytes / w.size)


def test_zero_rle_periodic_runs_closed_form():
    w = np.zeros(1000, dtype=np.int8)
    w[9::10] = 5                                        # 100 nonzeros, each after a run of 9 zeros
    # R = 4 holds runs up to 15: 100 tokens of 4 + 8 bits; R = 3 would need a filler per nonzero (200 x 11)
    assert compress_weights(w, 8, "zero_rle").compressed_bytes == math.ceil((4 + 100 * 12) / 8)
    w = np.zeros(1000, dtype=np.int8)
    w[999] = 1                                          # one run of 999 zeros
    # R = 10 (max run 1023): one token of 18 bits beats e.g. R = 9 (one filler + token, 2 x 17 bits)
    assert compress_weights(w, 8, "zero_rle").compressed_bytes == math.ceil((4 + 18) / 8)


def test_huffman_hand_worked_example():
    # counts 0:4, 1:2, 2:1, 3:1 -> code lengths 1, 2, 3, 3 -> 4 + 4 + 3 + 3 = 14 payload bits
    w = np.array([0, 0, 0, 0, 1, 1, 2, 3], dtype=np.int8)
    lengths = huffman_code_lengths(np.bincount(w.astype(np.int64), minlength=256))
    assert lengths[:4].tolist() == [1, 2, 3, 3] and not lengths[4:].any()
    # table: 3-bit field width (2) + 1-bit kind; sparse: 9-bit count + 4 x (8-bit symbol + 2-bit length) = 49
    assert compress_weights(w, 8, "huffman").compressed_bytes == math.ceil((4 + 49 + 14) / 8)


def test_huffman_code_lengths_are_optimal():
    rng = np.random.default_rng(3)
    for alphabet in (2, 17, 256, 4000):
        counts = rng.integers(0, 1000, alphabet) * (rng.random(alphabet) < 0.8)
        counts[:2] += 1
        lengths = huffman_code_lengths(counts)
        present = counts > 0
        assert np.sum(2.0 ** -lengths[present]) == pytest.approx(1.0)   # complete prefix code (Kraft equality)
        # optimal cost = sum of all merged weights, computed independently with a sorted list
        pool = sorted(counts[present].tolist())
        merged = 0
        while len(pool) > 1:
            a, b = pool.pop(0), pool.pop(0)
            merged += a + b
            pool.insert(int(np.searchsorted(pool, a + b)), a + b)
        assert int((counts * lengths).sum()) == merged


def test_huffman_uniform_int8_is_at_the_entropy_bound():
    w = np.random.default_rng(4).integers(-128, 128, 200_000).astype(np.int8)
    entropy_bytes = w.size * _entropy_bits(w) / 8
    table_bytes = (4 + 256 * 5) / 8                      # dense table, code lengths < 32
    size = compress_weights(w, 8, "huffman").compressed_bytes
    assert entropy_bytes <= size <= 1.01 * entropy_bytes + table_bytes


def test_huffman_within_one_bit_of_entropy_and_laplace_beats_uniform():
    rng = np.random.default_rng(5)
    laplace = _laplace_int8(rng, 64, 1152)
    entropy_bytes = laplace.size * _entropy_bits(laplace) / 8
    size = compress_weights(laplace, 8, "huffman").compressed_bytes
    assert entropy_bytes <= size <= entropy_bytes + laplace.size / 8 + (4 + 256 * 5) / 8
    uniform = rng.integers(-127, 128, laplace.size).astype(np.int8)
    assert compress_weights(laplace, 8, "huffman").ratio < 0.75 < compress_weights(uniform, 8, "huffman").ratio


def test_unsigned_and_16_bit_huffman_use_the_bit_pattern():
    rng = np.random.default_rng(6)
    signed = rng.integers(-3000, 3000, 5000).astype(np.int16)
    as_int32 = signed.astype(np.int32)
    assert compress_weights(signed, 16, "huffman") == compress_weights(as_int32, 16, "huffman")
    unsigned = rng.integers(0, 256, 5000).astype(np.uint8)
    assert compress_weights(unsigned, 8, "huffman") == compress_weights(unsigned.astype(np.int64), 8, "huffman")


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("codec", STREAM_CODECS)
@pytest.mark.parametrize("bits,signed", [(4, True), (4, False), (8, True), (8, False), (16, True), (16, False)])
def test_round_trip_on_sparse_peaked_weights(codec, bits, signed):
    rng = np.random.default_rng(bits * 2 + signed)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    w = np.clip(np.rint(rng.laplace(0, 3, (6, 3, 3, 7))), low, high).astype(np.int64)
    w[rng.random(w.shape) < 0.4] = 0
    w.flat[5], w.flat[-1] = low, high                  # the extremes of the storage type
    stream = encode_weights(w, bits, codec)
    assert len(stream) == compress_weights(w, bits, codec).compressed_bytes
    assert np.array_equal(decode_weights(stream, codec, w.size, bits, signed).reshape(w.shape), w)


@settings(max_examples=60, deadline=None)
@given(codec=st.sampled_from(STREAM_CODECS), bits=st.sampled_from([4, 8, 16]), signed=st.booleans(),
       data=st.data())
def test_round_trip_property(codec, bits, signed, data):
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    values = st.one_of(st.just(0), st.integers(-3, 3).filter(lambda v: low <= v <= high), st.integers(low, high))
    w = np.array(data.draw(st.lists(values, min_size=1, max_size=300)), dtype=np.int64)
    stream = encode_weights(w, bits, codec)
    assert len(stream) == compress_weights(w, bits, codec).compressed_bytes
    assert np.array_equal(decode_weights(stream, codec, w.size, bits, signed), w)


# ------------------------------------------------------------------------------------------ selection, costs
def test_best_codec_picks_the_smallest():
    rng = np.random.default_rng(7)
    sparse = rng.integers(-127, 128, 20_000).astype(np.int8)
    sparse[rng.random(sparse.size) < 0.9] = 0
    sizes = {c: compress_weights(sparse, 8, c).compressed_bytes for c in CODECS}
    best = best_codec(sparse, 8, CODECS)
    assert best.compressed_bytes == min(sizes.values()) and sizes[best.codec] == best.compressed_bytes
    only = best_codec(sparse, 8, ["bitpack"])
    assert only.codec == "bitpack" and only.compressed_bytes == sizes["bitpack"]


def test_decompressor_cycles_and_energy():
    assert decompression_cycles(1000, 8) == 125
    assert decompression_cycles(1001, 8) == 126
    assert decompression_cycles(100, 0.5) == 200
    assert decompression_energy_pj(1000, 0.25) == pytest.approx(250.0)
    with pytest.raises(AccelsimError):
        decompression_cycles(10, 0)


def test_empty_tensor():
    result = compress_weights(np.zeros((0, 3), dtype=np.int8), 8, "huffman")
    assert (result.raw_bytes, result.compressed_bytes, result.ratio) == (0, 0, 1.0)


@pytest.mark.parametrize("weights,bits,codec", [
    (np.zeros(4, dtype=np.int8), 8, "lz4"),
    (np.zeros(4, dtype=np.int8), 3, "bitmap"),
    (np.array([-9, 0], dtype=np.int8), 4, "bitmap"),
    (np.array([16, 0], dtype=np.int8), 4, "huffman"),
    (np.array([-1, 200], dtype=np.int16), 8, "zero_rle"),
    (np.array([0.5, 1.0]), 8, "bitpack"),
])
def test_bad_inputs_raise_accelsim_errors(weights, bits, codec):
    with pytest.raises(AccelsimError):
        compress_weights(weights, bits, codec)
