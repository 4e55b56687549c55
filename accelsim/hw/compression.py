"""Weight compression codecs for an on-the-fly weight decompression unit.

Weights are stored compressed in DRAM (and in every on-chip level above the decompressor) and expanded to their
packed width just before the compute units, as recommended by Krishnamoorthi 2018 §7 (d). The simulator asks
:func:`compress_weights` for each layer's size under each codec the unit supports and costs the smallest:
``compressed_bytes`` drives DRAM and SRAM weight traffic, ``raw_bytes`` the decompressor's cycles and energy.

Every codec is an exact bit-level format (``docs/compression.md``), and :func:`encode_weights` /
:func:`decode_weights` implement it, so the sizes are those of a real stream. A layer's stream is padded to a
whole byte. The element count, bit width and signedness come from the graph, so streams carry no shape header.

* ``bitpack`` — 4-bit weights: two per byte, ``ceil(n/2)`` bytes. 8/16-bit weights: blocks of
  :data:`BITPACK_BLOCK` weights, each a :data:`BITPACK_WIDTH_HEADER_BITS`-bit header holding ``w − 1`` and the
  block's weights at ``w`` bits, ``w`` the narrowest two's-complement width that holds every weight of the block
  (``w = bits`` stores the block unchanged).
* ``zero_rle`` — a :data:`RLE_RUN_HEADER_BITS`-bit header holding ``R − 1`` (``R`` in 1..16, the run-field width
  that minimises the size), then tokens ``(run: R bits, value: bits)``: ``run`` zeros, then ``value``. A zero run
  longer than ``2^R − 1`` is split by filler tokens ``(2^R − 1, 0)``; trailing zeros are implied by the count.
* ``bitmap`` — ``n`` mask bits (1 = nonzero), then the nonzero weights at full width.
* ``huffman`` — canonical Huffman over the weights' ``bits``-bit patterns: a code-length table (dense or sparse,
  whichever is smaller) followed by the codewords.
* ``mlw`` — Arm's Ethos-U weight stream as Vela's encoder writes it [ref:VelaMLW], in Vela's brick order of the
  tensor (so its size depends on the shape, which :func:`compress_weights` passes): a vectorised/compiled size
  model plus an encoder and decoder (:func:`mlw_encode_stream`, :func:`mlw_decode_stream`) whose streams are
  bit-identical with Arm's encoder on the tested tensors and decode with Arm's decoder; streams end padded to
  16 bytes. Weights must lie within ±255.
"""
from __future__ import annotations

import hashlib
import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence, get_args

import numpy as np
from numba import njit

from accelsim.config.hw import Codec
from accelsim.errors import UnsupportedError

CODECS: tuple[str, ...] = get_args(Codec)
#: Codecs that store any 4-, 8- or 16-bit weights (``mlw`` codes weights within ±255 only).
STREAM_CODECS: tuple[str, ...] = ("bitpack", "zero_rle", "bitmap", "huffman")
BIT_WIDTHS: tuple[int, ...] = (4, 8, 16)

#: Weights per block of the 8/16-bit ``bitpack`` format and the width of each block's header (``w − 1``).
BITPACK_BLOCK = 64
BITPACK_WIDTH_HEADER_BITS = 4
#: ``zero_rle`` stream header: the run-field width ``R − 1``; ``R`` ranges over 1..16.
RLE_RUN_HEADER_BITS = 4
RLE_MAX_RUN_BITS = 16
#: ``huffman`` table header: the width ``L`` of each code-length field (3 bits) and the dense/sparse flag (1 bit).
HUFFMAN_LENGTH_FIELD_HEADER_BITS = 3
HUFFMAN_TABLE_KIND_BITS = 1


@dataclass(frozen=True)
class CompressionResult:
    """Size of one weight tensor under one codec.

    ``raw_bytes``: packed size ``ceil(n·bits/8)``; ``compressed_bytes``: encoded stream size, padded to a whole
    byte; ``ratio`` = ``compressed_bytes / raw_bytes`` (below 1 saves traffic; 1.0 for an empty tensor).
    """

    codec: str
    raw_bytes: int
    compressed_bytes: int
    ratio: float


# ----------------------------------------------------------------------------------------------- public API
def compress_weights(weights: np.ndarray, bits: int, codec: str) -> CompressionResult:
    """Size of ``weights`` (quantized integers of any shape, stored at ``bits`` = 4, 8 or 16) under ``codec``."""
    values = _flat_values(weights, bits)
    _check_codec(codec)
    raw = packed_bytes(values.size, bits)
    if values.size == 0:
        return CompressionResult(codec, 0, 0, 1.0)
    if codec == "mlw":
        compressed = _mlw_weight_bytes_memo(values.reshape(np.shape(weights)), bits)
    else:
        compressed = math.ceil(_SIZE_BITS[codec](values, bits) / 8)
    return CompressionResult(codec, raw, compressed, compressed / raw)


def best_codec(weights: np.ndarray, bits: int, codecs: Sequence[str]) -> CompressionResult:
    """The smallest of :func:`compress_weights` over ``codecs`` (the first listed wins a tie). A codec that cannot
    store the weights (``mlw`` beyond ±255) is skipped; if none can, its error is raised."""
    if not codecs:
        raise UnsupportedError(f"best_codec needs at least one codec; known codecs: {', '.join(CODECS)}")
    results, refused = [], []
    for codec in codecs:
        try:
            results.append(compress_weights(weights, bits, codec))
        except MlwRangeError as error:      # the codec cannot store these weights; another listed one may
            refused.append(error)
    if not results:
        raise refused[0]
    return min(results, key=lambda r: r.compressed_bytes)


def packed_bytes(count: int, bits: int) -> int:
    """Bytes of ``count`` weights packed at ``bits`` each: ``ceil(count·bits/8)``."""
    return math.ceil(count * bits / 8)


def decompression_cycles(raw_bytes: float, output_bytes_per_cycle: float) -> int:
    """Cycles for the decompressor to produce ``raw_bytes`` decompressed bytes at ``output_bytes_per_cycle``
    (config key ``decompression.output_bytes_per_cycle``): ``ceil(raw_bytes / output_bytes_per_cycle)``."""
    if output_bytes_per_cycle <= 0:
        raise UnsupportedError(f"output_bytes_per_cycle must be > 0, found {output_bytes_per_cycle}")
    return math.ceil(raw_bytes / output_bytes_per_cycle)


def decompression_energy_pj(raw_bytes: float, energy_pj_per_byte: float) -> float:
    """Decompressor energy in pJ: ``raw_bytes`` decompressed bytes × ``energy_pj_per_byte`` (pJ per output byte,
    config key ``decompression.energy_pj_per_byte`` or the energy-table default)."""
    return float(raw_bytes) * float(energy_pj_per_byte)


def encode_weights(weights: np.ndarray, bits: int, codec: str) -> bytes:
    """The encoded stream of ``weights`` (row-major order; ``mlw``: Vela's brick order of the tensor's shape);
    ``len`` equals ``compressed_bytes``."""
    values = _flat_values(weights, bits)
    _check_codec(codec)
    if values.size == 0:
        return b""
    if codec == "mlw":
        _check_mlw_range(values, bits)
        return mlw_encode_stream(mlw_weight_order(values.reshape(np.shape(weights))))
    field_values, field_widths = _ENCODERS[codec](values.astype(np.int64), bits)
    return _pack_fields(field_values, field_widths)


def decode_weights(data: bytes, codec: str, count: int, bits: int, signed: bool,
                   shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Decode a stream of :func:`encode_weights`: ``count`` weights of ``bits`` bits (two's complement if
    ``signed``), as a flat int64 array. ``mlw`` streams are in the brick order of the tensor's ``shape`` (give
    it for a 2-D or 4-D tensor; without it the stream is taken as flat)."""
    _check_bits(bits)
    _check_codec(codec)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if codec == "mlw":
        return _mlw_unorder(mlw_decode_stream(data), count, shape)
    reader = _BitReader(data)
    return _DECODERS[codec](reader, count, bits, signed)


def huffman_code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code length in bits of each symbol from its occurrence count (0 for absent symbols).

    Builds the Huffman tree with a heap (ties broken by creation order); a lone symbol gets a 1-bit code.
    """
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(counts.size, dtype=np.int64)
    present = np.flatnonzero(counts)
    if present.size == 1:
        lengths[present] = 1
    if present.size <= 1:
        return lengths
    leaves = present.size
    heap = [(c, i) for i, c in enumerate(counts[present].tolist())]
    heapq.heapify(heap)
    parent = [0] * (2 * leaves - 1)
    node = leaves
    while len(heap) > 1:
        count_a, a = heapq.heappop(heap)
        count_b, b = heapq.heappop(heap)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (count_a + count_b, node))
        node += 1
    depth = [0] * (2 * leaves - 1)
    for i in range(2 * leaves - 3, -1, -1):  # a parent is created after its children: visit parents first
        depth[i] = depth[parent[i]] + 1
    lengths[present] = depth[:leaves]
    return lengths


# ------------------------------------------------------------------------------------------------- checks
def _check_bits(bits: int) -> None:
    if bits not in BIT_WIDTHS:
        raise UnsupportedError(f"weight storage width {bits} bits is not supported; supported: {BIT_WIDTHS}")


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise UnsupportedError(f"unknown weight codec {codec!r}; known codecs: {', '.join(CODECS)}")


def _flat_values(weights: np.ndarray, bits: int) -> np.ndarray:
    """The weights flattened (in their own integer dtype), checked to fit ``bits``-bit signed or unsigned storage."""
    _check_bits(bits)
    weights = np.asarray(weights)
    if weights.size and not np.issubdtype(weights.dtype, np.integer):
        raise UnsupportedError(f"weights to compress must be integers, found dtype {weights.dtype}")
    values = weights.reshape(-1)
    if values.size:
        low, high = int(values.min()), int(values.max())
        limit = (1 << (bits - 1)) - 1 if low < 0 else (1 << bits) - 1
        if low < -(1 << (bits - 1)) or high > limit:
            raise UnsupportedError(f"weights in [{low}, {high}] do not fit {bits}-bit storage")
    return values


# ------------------------------------------------------------------------------------------------- sizes
def _twos_complement_widths(values: np.ndarray, bits: int) -> np.ndarray:
    """Narrowest two's-complement width of each value, capped at ``bits`` (= stored unchanged)."""
    values = np.asarray(values, dtype=np.int64)
    magnitude = np.where(values < 0, ~values, values)
    widths = np.frexp(magnitude.astype(np.float64))[1] + 1  # frexp exponent = bit length (0 for 0)
    return np.minimum(widths, bits)


def _bitpack_block_widths(values: np.ndarray, bits: int) -> np.ndarray:
    """Width of each block: that of its minimum or maximum, whichever is wider (the width grows with |v|)."""
    full = values.size // BITPACK_BLOCK
    body = values[: full * BITPACK_BLOCK].reshape(full, BITPACK_BLOCK)
    lows, highs = [body.min(axis=1)], [body.max(axis=1)]
    if values.size > full * BITPACK_BLOCK:
        tail = values[full * BITPACK_BLOCK:]
        lows.append(tail.min(keepdims=True))
        highs.append(tail.max(keepdims=True))
    return np.maximum(_twos_complement_widths(np.concatenate(lows), bits),
                      _twos_complement_widths(np.concatenate(highs), bits))


def _bitpack_bits(values: np.ndarray, bits: int) -> int:
    if bits == 4:
        return values.size * 4
    widths = _bitpack_block_widths(values, bits)
    lengths = np.full(widths.size, BITPACK_BLOCK, dtype=np.int64)
    lengths[-1] = values.size - BITPACK_BLOCK * (widths.size - 1)
    return int(widths.size * BITPACK_WIDTH_HEADER_BITS + (widths * lengths).sum())


def _zero_run_histogram(values: np.ndarray) -> np.ndarray:
    """``hist[z]`` = number of maximal runs of exactly ``z`` zeros that end before a nonzero weight (trailing
    zeros are implied by the count and excluded)."""
    zeros = np.flatnonzero(values == 0)
    if zeros.size == 0:
        return np.zeros(1, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(zeros) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [zeros.size - 1]])
    runs = ends - starts + 1
    if zeros[-1] == values.size - 1:
        runs = runs[:-1]
    return np.bincount(runs, minlength=1)


def _rle_run_bits(run_histogram: np.ndarray, nonzeros: int, bits: int) -> tuple[int, int]:
    """(run-field width R, token count) minimising ``tokens·(R + bits)``; the narrowest R wins a tie.

    Tokens = nonzeros + fillers, with ``z // 2^R`` fillers before a nonzero that follows ``z`` zeros.
    """
    run_lengths = np.arange(run_histogram.size)
    best = (0, 0, 0)
    for run_bits in range(1, RLE_MAX_RUN_BITS + 1):
        tokens = nonzeros + int(run_histogram @ (run_lengths >> run_bits))
        size = tokens * (run_bits + bits)
        if run_bits == 1 or size < best[0]:
            best = (size, run_bits, tokens)
    return best[1], best[2]


def _zero_rle_bits(values: np.ndarray, bits: int) -> int:
    nonzeros = int(np.count_nonzero(values))
    run_bits, tokens = _rle_run_bits(_zero_run_histogram(values), nonzeros, bits)
    return RLE_RUN_HEADER_BITS + tokens * (run_bits + bits)


def _bitmap_bits(values: np.ndarray, bits: int) -> int:
    return values.size + int(np.count_nonzero(values)) * bits


def _huffman_symbols(values: np.ndarray, bits: int) -> np.ndarray:
    """Each weight's ``bits``-bit pattern (two's complement for negatives) as a symbol in ``[0, 2^bits)``."""
    if bits in (8, 16) and values.dtype.itemsize * 8 == bits:
        return values.view(np.uint8 if bits == 8 else np.uint16)  # the pattern is the storage itself
    return values.astype(np.int64) & ((1 << bits) - 1)


def _huffman_table(lengths: np.ndarray, bits: int) -> tuple[int, bool]:
    """(code-length field width L, sparse?) of the smaller table form."""
    field = max(int(lengths.max()).bit_length(), 1)
    if field >= 1 << HUFFMAN_LENGTH_FIELD_HEADER_BITS:
        raise UnsupportedError(f"Huffman code of length {int(lengths.max())} exceeds the table format")
    present = int(np.count_nonzero(lengths))
    dense = lengths.size * field
    sparse = (bits + 1) + present * (bits + field)
    return field, sparse < dense


def _huffman_table_bits(lengths: np.ndarray, bits: int) -> int:
    field, sparse = _huffman_table(lengths, bits)
    body = (bits + 1) + int(np.count_nonzero(lengths)) * (bits + field) if sparse else lengths.size * field
    return HUFFMAN_LENGTH_FIELD_HEADER_BITS + HUFFMAN_TABLE_KIND_BITS + body


def _huffman_bits(values: np.ndarray, bits: int) -> int:
    counts = np.bincount(_huffman_symbols(values, bits), minlength=1 << bits)
    lengths = huffman_code_lengths(counts)
    return _huffman_table_bits(lengths, bits) + int((counts * lengths).sum())


_SIZE_BITS = {"bitpack": _bitpack_bits, "zero_rle": _zero_rle_bits, "bitmap": _bitmap_bits,
              "huffman": _huffman_bits}


# ------------------------------------------------------------------------------------------------- encoders
# Each encoder returns the stream as parallel arrays of field values and field widths (MSB first).
Fields = tuple[np.ndarray, np.ndarray]


def _pack_fields(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate fields (each ``widths[i]`` bits of ``values[i]``, MSB first) and pad to a whole byte."""
    values = np.asarray(values, dtype=np.int64)
    widths = np.asarray(widths, dtype=np.int64)
    field = np.repeat(np.arange(widths.size), widths)
    offset = np.arange(field.size) - (np.cumsum(widths) - widths)[field]
    bit = (values[field] >> (widths[field] - 1 - offset)) & 1
    return np.packbits(bit.astype(np.uint8)).tobytes()


def _encode_bitpack(values: np.ndarray, bits: int) -> Fields:
    mask = (1 << bits) - 1
    if bits == 4:
        return values & mask, np.full(values.size, 4)
    block_widths = _bitpack_block_widths(values, bits)
    field_values, field_widths = [], []
    for block, width in enumerate(block_widths):
        chunk = values[block * BITPACK_BLOCK:(block + 1) * BITPACK_BLOCK]
        field_values += [np.array([width - 1]), chunk & ((1 << int(width)) - 1)]
        field_widths += [np.array([BITPACK_WIDTH_HEADER_BITS]), np.full(chunk.size, width)]
    return np.concatenate(field_values), np.concatenate(field_widths)


def _encode_zero_rle(values: np.ndarray, bits: int) -> Fields:
    nonzero = np.flatnonzero(values)
    runs = np.diff(nonzero, prepend=-1) - 1                   # zeros before each nonzero
    run_bits, tokens = _rle_run_bits(_zero_run_histogram(values), nonzero.size, bits)
    per_nonzero = (runs >> run_bits) + 1                      # fillers + the nonzero's own token
    owner = np.repeat(np.arange(nonzero.size), per_nonzero)
    is_last = np.arange(tokens) - (np.cumsum(per_nonzero) - per_nonzero)[owner] == per_nonzero[owner] - 1
    max_run = (1 << run_bits) - 1
    run_field = np.where(is_last, runs[owner] & max_run, max_run)
    value_field = np.where(is_last, values[nonzero][owner], 0) & ((1 << bits) - 1)
    token_values = np.stack([run_field, value_field], axis=1).reshape(-1)
    token_widths = np.tile([run_bits, bits], tokens)
    return (np.concatenate([[run_bits - 1], token_values]),
            np.concatenate([[RLE_RUN_HEADER_BITS], token_widths]))


def _encode_bitmap(values: np.ndarray, bits: int) -> Fields:
    nonzero = values[values != 0] & ((1 << bits) - 1)
    return (np.concatenate([(values != 0).astype(np.int64), nonzero]),
            np.concatenate([np.ones(values.size, dtype=np.int64), np.full(nonzero.size, bits)]))


def _canonical_codes(lengths: np.ndarray) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes: symbol -> (code, length), assigned in (length, symbol) order."""
    codes: dict[int, tuple[int, int]] = {}
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths).tolist(), key=lambda s: (lengths[s], s)):
        length = int(lengths[symbol])
        code <<= length - previous
        codes[symbol] = (code, length)
        code, previous = code + 1, length
    return codes


def _encode_huffman(values: np.ndarray, bits: int) -> Fields:
    symbols = _huffman_symbols(values, bits)
    lengths = huffman_code_lengths(np.bincount(symbols, minlength=1 << bits))
    field, sparse = _huffman_table(lengths, bits)
    head_values = [field, int(sparse)]
    head_widths = [HUFFMAN_LENGTH_FIELD_HEADER_BITS, HUFFMAN_TABLE_KIND_BITS]
    if sparse:
        present = np.flatnonzero(lengths)
        head_values.append(present.size)
        head_widths.append(bits + 1)
        table_values = np.stack([present, lengths[present]], axis=1).reshape(-1)
        table_widths = np.tile([bits, field], present.size)
    else:
        table_values, table_widths = lengths, np.full(lengths.size, field)
    codes = _canonical_codes(lengths)
    code_of = np.zeros(lengths.size, dtype=np.int64)
    for symbol, (code, _) in codes.items():
        code_of[symbol] = code
    return (np.concatenate([head_values, table_values, code_of[symbols]]),
            np.concatenate([head_widths, table_widths, lengths[symbols]]))


_ENCODERS = {"bitpack": _encode_bitpack, "zero_rle": _encode_zero_rle, "bitmap": _encode_bitmap,
             "huffman": _encode_huffman}


# ------------------------------------------------------------------------------------------------- decoders
class _BitReader:
    """Reads MSB-first fields from a byte string."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        self.position = 0

    def remaining(self) -> int:
        return self.bits.size - self.position

    def read(self, width: int) -> int:
        if width > self.remaining():
            raise UnsupportedError("compressed weight stream ends early")
        value = 0
        for bit in self.bits[self.position:self.position + width]:
            value = (value << 1) | int(bit)
        self.position += width
        return value


def _from_pattern(pattern: int, width: int, signed: bool) -> int:
    """The integer a ``width``-bit pattern holds (two's complement if ``signed``)."""
    return pattern - (1 << width) if signed and pattern >> (width - 1) else pattern


def _decode_bitpack(reader: _BitReader, count: int, bits: int, signed: bool) -> np.ndarray:
    out = np.zeros(count, dtype=np.int64)
    if bits == 4:
        for i in range(count):
            out[i] = _from_pattern(reader.read(4), 4, signed)
        return out
    for start in range(0, count, BITPACK_BLOCK):
        width = reader.read(BITPACK_WIDTH_HEADER_BITS) + 1
        for i in range(start, min(start + BITPACK_BLOCK, count)):
            pattern = reader.read(width)
            out[i] = _from_pattern(pattern, width, signed or width < bits)
    return out


def _decode_zero_rle(reader: _BitReader, count: int, bits: int, signed: bool) -> np.ndarray:
    out = np.zeros(count, dtype=np.int64)
    run_bits = reader.read(RLE_RUN_HEADER_BITS) + 1
    position = 0
    # byte padding can look like (0, 0) tokens: they only write zeros where zeros already are
    while position < count and reader.remaining() >= run_bits + bits:
        position += reader.read(run_bits)
        value = _from_pattern(reader.read(bits), bits, signed)
        if position < count:
            out[position] = value
        position += 1
    return out


def _decode_bitmap(reader: _BitReader, count: int, bits: int, signed: bool) -> np.ndarray:
    mask = [reader.read(1) for _ in range(count)]
    return np.array([_from_pattern(reader.read(bits), bits, signed) if m else 0 for m in mask], dtype=np.int64)


def _decode_huffman(reader: _BitReader, count: int, bits: int, signed: bool) -> np.ndarray:
    field = reader.read(HUFFMAN_LENGTH_FIELD_HEADER_BITS)
    lengths = np.zeros(1 << bits, dtype=np.int64)
    if reader.read(HUFFMAN_TABLE_KIND_BITS):
        for _ in range(reader.read(bits + 1)):
            symbol = reader.read(bits)
            lengths[symbol] = reader.read(field)
    else:
        lengths[:] = [reader.read(field) for _ in range(lengths.size)]
    symbol_of = {code: symbol for symbol, code in _canonical_codes(lengths).items()}
    out = np.zeros(count, dtype=np.int64)
    for i in range(count):
        code, length = 0, 0
        while (code, length) not in symbol_of:
            code, length = (code << 1) | reader.read(1), length + 1
        out[i] = _from_pattern(symbol_of[(code, length)], bits, signed)
    return out


_DECODERS = {"bitpack": _decode_bitpack, "zero_rle": _decode_zero_rle, "bitmap": _decode_bitmap,
             "huffman": _decode_huffman}


# ------------------------------------------------------------------------------------------------- mlw
# Arm's Ethos-U weight stream ("mlw" format) as written by Vela's weight encoder [ref:VelaMLW]. The model below
# follows the format's structure, written from its description, not from the encoder's code:
#   * weights (at most 9 bits: |w| <= 255) are mapped to the alphabet s = 2|w| + (w < 0);
#   * a section either codes zeros as a separate zero-run stream (when 0 is more than 4x as frequent as any other
#     weight) or inline; its weights become indices: a palette (<= 32 entries, the most frequent symbols, used
#     when it covers more than half of the weights) gives ranks 0..P-1, every other symbol codes directly as
#     P + s - direct_offset (direct_offset = unused symbols 0, 1, 2 ... below the smallest coded one, <= 31);
#   * both streams are Golomb-Rice coded; the (divisor, truncation) parameters change along the stream where a
#     change saves more than its 40-bit command (an optimal piecewise-constant search), and every change or
#     every 32,767 weights starts a slice with a 23-bit header (a section's first slice also carries the
#     13-bit palette header and the palette);
#   * unary parts are written in fixed chunks (12 bits for weights, 12 or 8 for zero runs), so each slice pads
#     its last chunk; the stream ends with a 3-bit end marker and is padded to a multiple of 16 bytes.
# Vela encodes a layer's weights in its brick order (:func:`mlw_weight_order`), one stream per layer here.

#: Largest weight magnitude the format codes (9-bit sign-magnitude alphabet).
MLW_MAX_MAGNITUDE = 255
#: OFM and IFM micro-block depth of Ethos-U55-128/-256 and U65-256 (Vela architecture_features.py).
MLW_UBLOCK_DEPTH = 8
#: OFM block depth of Vela's brick order. Vela's scheduler picks 16..128 per layer; the stream size barely
#: depends on it (it reorders whole micro-blocks: Arm's reorder_encode at 16, 32, 64 and 128 gives MobileNet-v2
#: and SqueezeNet-1.1 totals equal within 0.005 %), so one value stands for all. ASSUMPTION.
MLW_OFM_BLOCK_DEPTH = 32
#: IFM block depth of the depth-first and part-kernel-first traversals for 8-bit IFMs (Vela weight encoder).
MLW_IFM_BLOCK_DEPTH = 32
MLW_PART_KERNEL_IFM_BLOCK_DEPTH = 16
#: Sub-kernel size limit (Vela architecture_features.py SubKernelMax) and the kernel-element granule of the
#: part-kernel-first and depthwise traversals (8-bit IFM).
MLW_SUBKERNEL_MAX = 8
MLW_ELEMENT_GRANULE = 4
#: Stream format constants (mlw format: slice header ZDIV 3 + SLICELEN 15 + WDIV 3 + WTRUNC 1 + NEWPAL 1 bits;
#: palette header DIROFS 5 + PALSIZE 5 + PALBITS 3 bits; end-of-stream ZDIV 3 bits; 128-bit alignment).
MLW_SLICE_HEADER_BITS = 23
MLW_PALETTE_HEADER_BITS = 13
MLW_EOS_BITS = 3
MLW_STREAM_ALIGN_BITS = 128
MLW_MAX_SLICE = 32767
MLW_MAX_PALETTE = 32
MLW_MAX_DIRECT_OFFSET = 31
#: Cost the parameter search charges for a parameter change (bits), and the zero-run threshold (zero must be more
#: than this many times as frequent as the next most frequent weight).
MLW_SWITCH_COST_BITS = 40
MLW_ZERO_RUN_RATIO = 4
#: Weight-stream Golomb-Rice parameters: (divisor bits, truncated) for divisors 0..5, then uncompressed (-1);
#: the unary chunk length; zero-run divisors 0..3; palette-section search windows (nonzero weights).
MLW_WEIGHT_DIVISORS = np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, -1], dtype=np.int64)
MLW_WEIGHT_TRUNCATED = np.array([0] * 6 + [1] * 6 + [0], dtype=np.int64)
MLW_UNCOMPRESSED_CONFIG = 12
MLW_WEIGHT_CHUNK_BITS = 12
MLW_ZERO_RUN_DIVISORS = np.array([0, 1, 2, 3], dtype=np.int64)
MLW_ZERO_RUN_TRUNCATED = np.zeros(4, dtype=np.int64)
MLW_PALETTE_WINDOWS = np.array([32, 64, 128, 256, 512], dtype=np.int64)
MLW_LONG_SECTION = 512
#: The parameter search runs over blocks of this many values (bounds its memory; one extra parameter change
#: at most per block).
MLW_SEARCH_BLOCK = 1 << 20
#: An impossible code (a truncated quotient above 2, or a quotient above 31) costs this much in the search.
_MLW_IMPOSSIBLE_BITS = 10000
_MLW_DISABLED_UNCOMPRESSED_BITS = 100


def mlw_traversal(shape: tuple[int, ...]) -> str:
    """Vela's weight traversal for an OHWI (or (O, I) fully connected) weight tensor: ``"depthwise"`` for
    (C, KH, KW, 1) with a kernel larger than 1x1, ``"part_kernel"`` when Vela's DPU-utilisation rule picks
    part-kernel-first (IFM depth <= 8, or kernel-element utilisation at least the depth utilisation), else
    ``"depth_first"`` (Vela 5.2.0 weight_compressor.py, 8-bit IFM)."""
    if len(shape) == 2:
        return "depth_first"
    _, kh, kw, ifm = shape
    kernel = kh * kw
    if ifm == 1 and kernel > 1:
        return "depthwise"
    depth_use = ifm / _round_up(ifm, MLW_IFM_BLOCK_DEPTH)
    part_use = ifm / _round_up(ifm, MLW_UBLOCK_DEPTH) * kernel / _round_up(kernel, MLW_ELEMENT_GRANULE)
    return "part_kernel" if part_use >= depth_use or ifm <= MLW_UBLOCK_DEPTH else "depth_first"


def _round_up(value: int, granule: int) -> int:
    return -(-value // granule) * granule


def mlw_weight_order(weights: np.ndarray) -> np.ndarray:
    """The weights as one stream (int16 or wider) in Vela's brick order, padding zeros included: OFM blocks of
    :data:`MLW_OFM_BLOCK_DEPTH`, then IFM blocks, sub-kernels of at most 8x8, OFM micro-blocks, kernel elements,
    IFM micro-blocks, the 8 OFM channels and the 8 IFM channels of a micro-block (Vela 5.2.0 weight encoder).
    ``weights``: OHWI, depthwise (C, KH, KW, 1), or fully connected (O, I); any other rank is already a stream
    and is returned flat, in order."""
    w = np.asarray(weights)
    if w.ndim == 2:
        w = w.reshape(w.shape[0], 1, 1, w.shape[1])
    elif w.ndim != 4:
        return w.reshape(-1).astype(np.result_type(w.dtype, np.int16))
    traversal = mlw_traversal(w.shape)
    ofm, kh, kw, ifm = w.shape
    u = MLW_UBLOCK_DEPTH
    ifm_granule = {"depth_first": MLW_IFM_BLOCK_DEPTH, "part_kernel": u, "depthwise": 1}[traversal]
    padded = np.zeros((_round_up(ofm, u), kh, kw, _round_up(ifm, ifm_granule)),
                      dtype=np.result_type(w.dtype, np.int16))
    padded[:ofm, :, :, :ifm] = w
    pieces = []
    for o0 in range(0, ofm, MLW_OFM_BLOCK_DEPTH):
        block = padded[o0:min(o0 + MLW_OFM_BLOCK_DEPTH, padded.shape[0])]
        ou = block.shape[0] // u
        subkernels = []                      # per sub-kernel: (C, KY·KX, I) with elements padded as Vela does
        for y0 in range(0, kh, MLW_SUBKERNEL_MAX):
            for x0 in range(0, kw, MLW_SUBKERNEL_MAX):
                sub = block[:, y0:y0 + MLW_SUBKERNEL_MAX, x0:x0 + MLW_SUBKERNEL_MAX, :]
                sub = sub.reshape(sub.shape[0], -1, sub.shape[3])
                if traversal != "depth_first":
                    extra = _round_up(sub.shape[1], MLW_ELEMENT_GRANULE) - sub.shape[1]
                    sub = np.pad(sub, ((0, 0), (0, extra), (0, 0)))
                subkernels.append(sub)
        if traversal == "depthwise":         # OFM micro-block, element, OFM channel
            pieces += [s[:, :, 0].reshape(ou, u, -1).transpose(0, 2, 1).ravel() for s in subkernels]
        elif traversal == "depth_first":     # IFM block, sub-kernel, OFM ublock, element, IFM ublock, OFM, IFM
            per_ifm_block = [s.reshape(ou, u, s.shape[1], -1, MLW_IFM_BLOCK_DEPTH // u, u)
                             .transpose(3, 0, 2, 4, 1, 5).reshape(s.shape[2] // MLW_IFM_BLOCK_DEPTH, -1)
                             for s in subkernels]
            pieces.append(np.concatenate(per_ifm_block, axis=1).ravel())
        else:                                # IFM block (16), sub-kernel, IFM ublock, OFM ublock, element, OFM, IFM
            per_ublock = [s.reshape(ou, u, s.shape[1], -1, u).transpose(3, 0, 2, 1, 4).reshape(s.shape[2] // u, -1)
                          for s in subkernels]
            step = MLW_PART_KERNEL_IFM_BLOCK_DEPTH // u
            for i0 in range(0, per_ublock[0].shape[0], step):
                pieces += [p[i0:i0 + step].ravel() for p in per_ublock]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=padded.dtype)


def mlw_weight_bytes(weights: np.ndarray, bits: int = 8) -> int:
    """Bytes of ``weights`` (OHWI / (O, I), |w| <= 255) as Vela's encoder stores them: the stream of
    :func:`mlw_stream_bits` over :func:`mlw_weight_order`."""
    values = np.asarray(weights)
    _check_mlw_range(values, bits)
    return mlw_stream_bits(mlw_weight_order(values)) // 8


#: Sizes of recently sized tensors by content (a pure function of the values and shape; a sweep that rebuilds
#: its graphs sizes each tensor once). At most :data:`MLW_MEMO_ENTRIES` entries, oldest dropped first.
MLW_MEMO_ENTRIES = 4096
_MLW_MEMO: OrderedDict[tuple, int] = OrderedDict()


def _mlw_weight_bytes_memo(values: np.ndarray, bits: int) -> int:
    key = (values.shape, values.dtype.str,
           hashlib.blake2b(np.ascontiguousarray(values).view(np.uint8).data, digest_size=16).digest())
    size = _MLW_MEMO.get(key)
    if size is None:
        size = _MLW_MEMO[key] = mlw_weight_bytes(values, bits)
        if len(_MLW_MEMO) > MLW_MEMO_ENTRIES:
            _MLW_MEMO.popitem(last=False)
    else:
        _MLW_MEMO.move_to_end(key)
    return size


class MlwRangeError(UnsupportedError):
    """Weights outside the ``mlw`` alphabet (|w| > 255)."""


def _check_mlw_range(values: np.ndarray, bits: int) -> None:
    if values.size and max(-int(values.min()), int(values.max())) > MLW_MAX_MAGNITUDE:
        raise MlwRangeError(f"the mlw weight codec codes weights in [-{MLW_MAX_MAGNITUDE}, "
                               f"{MLW_MAX_MAGNITUDE}]; {bits}-bit weights outside it cannot be stored")


def _mlw_unorder(stream: np.ndarray, count: int, shape: tuple[int, ...] | None) -> np.ndarray:
    """The row-major weights of a decoded brick-order ``stream`` (padding dropped): the order of a tensor of
    element numbers 1..count tells where each weight went."""
    if shape is None or len(shape) not in (2, 4):
        if stream.size != count:
            raise UnsupportedError(f"mlw stream holds {stream.size} weights, expected {count}")
        return stream
    if math.prod(shape) != count:
        raise UnsupportedError(f"shape {shape} does not hold {count} weights")
    where = mlw_weight_order(np.arange(1, count + 1, dtype=np.int64).reshape(shape))
    if where.size != stream.size:
        raise UnsupportedError(f"mlw stream holds {stream.size} weights, the brick order of {shape} {where.size}")
    out = np.zeros(count, dtype=np.int64)
    out[where[where > 0] - 1] = stream[where > 0]
    return out


def mlw_stream_bits(stream: np.ndarray) -> int:
    """Bits of one mlw stream coding ``stream`` (int weights in order): its palette sections
    (:func:`_mlw_section_starts`), each with its slices, then the end marker, byte alignment and padding to
    :data:`MLW_STREAM_ALIGN_BITS`."""
    stream = np.asarray(stream)
    _check_mlw_range(stream, 16)
    stream = np.ascontiguousarray(stream, dtype=np.int16)
    bits = MLW_EOS_BITS
    if stream.size:
        bounds = np.append(_mlw_section_starts(stream, MLW_PALETTE_WINDOWS, MLW_MAX_PALETTE, MLW_LONG_SECTION),
                           stream.size)
        bits += sum(_mlw_section_bits(stream[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
    return _round_up(_round_up(bits, 8), MLW_STREAM_ALIGN_BITS)


@dataclass(frozen=True)
class MlwSection:
    """How one section codes its weights: zero runs on or off, the palette (alphabet symbols by rank), the direct
    offset, the palette entry width and the uncompressed width (:data:`_MLW_DISABLED_UNCOMPRESSED_BITS` when
    uncompressed slices are not allowed)."""

    zero_runs: bool
    palette: tuple[int, ...]
    direct_offset: int
    palette_bits: int
    uncompressed_bits: int


def mlw_section_params(values: np.ndarray) -> MlwSection:
    """The section parameters of the mlw format for ``values`` (see the section comment)."""
    counts = _mlw_symbol_counts(values)
    others = counts[1:].max(initial=0)
    zero_runs = bool(counts[0] > MLW_ZERO_RUN_RATIO * others)
    coded = counts.copy()
    if zero_runs:
        coded[0] = 0
    present = np.flatnonzero(coded)
    used = present.size
    direct_offset = int(min(present[0], MLW_MAX_DIRECT_OFFSET)) if used else 0
    max_symbol = int(present[-1]) if used else 0
    only_palette = 0 < used <= MLW_MAX_PALETTE
    limit = MLW_MAX_PALETTE if only_palette else min(MLW_MAX_PALETTE, 2 * MLW_MAX_MAGNITUDE + 1 - max_symbol)
    if limit == 1:
        limit = 0
    ranked = present[np.lexsort((-present, -coded[present]))][:limit]   # most frequent first, larger on ties
    palette = ranked.tolist()
    if len(palette) == 1:
        palette.append(0)
    total = int(coded.sum())
    if palette and int(coded[ranked].sum()) > total // 2:
        width_of = max(palette)
    else:
        palette, width_of = [], max_symbol
    palette_bits = max(2, int(width_of).bit_length())
    if only_palette:
        uncompressed = max(len(palette) - 1, 0).bit_length()
    elif not palette:
        uncompressed = palette_bits
    else:
        uncompressed = _MLW_DISABLED_UNCOMPRESSED_BITS
    return MlwSection(zero_runs, tuple(palette), direct_offset, palette_bits, uncompressed)


def _mlw_streams(values: np.ndarray, section: MlwSection) -> tuple[np.ndarray, np.ndarray]:
    """(weight indices, zero runs) of a section: the zero run before each coded weight and the trailing one
    (empty without zero runs). An all-zero section with zero runs codes its first zero as a weight."""
    index_of = np.arange(2 * MLW_MAX_MAGNITUDE + 2) + len(section.palette) - section.direct_offset
    index_of[0] = index_of[1]           # a directly coded zero uses the "-0" symbol 1, as Arm's encoder does
    for rank, symbol in enumerate(section.palette):
        index_of[symbol] = rank
    return _mlw_index_streams(values, index_of, section.zero_runs)


@njit(cache=True, nogil=True)
def _mlw_symbol_counts(values):  # pragma: no cover - compiled
    """Occurrences of each symbol ``2|w| + (w < 0)``."""
    counts = np.zeros(2 * MLW_MAX_MAGNITUDE + 2, dtype=np.int64)
    for v in values:
        counts[2 * abs(v) + (1 if v < 0 else 0)] += 1
    return counts


@njit(cache=True, nogil=True)
def _mlw_index_streams(values, index_of, zero_runs):  # pragma: no cover - compiled
    n = values.size
    indices = np.empty(n, dtype=np.int32)
    if not zero_runs:
        for i in range(n):
            v = values[i]
            indices[i] = index_of[2 * abs(v) + (1 if v < 0 else 0)]
        return indices, np.zeros(0, dtype=np.int32)
    runs = np.empty(n + 1, dtype=np.int32)
    count, run = 0, 0
    for i in range(n):
        v = values[i]
        if v == 0 and not (i == 0 and count == 0 and _all_zero(values)):
            run += 1
            continue
        runs[count] = run
        indices[count] = index_of[2 * abs(v) + (1 if v < 0 else 0)]
        count += 1
        run = 0
    runs[count] = run
    return indices[:count], runs[:count + 1]


@njit(cache=True, nogil=True)
def _all_zero(values):  # pragma: no cover - compiled
    for v in values:
        if v != 0:
            return False
    return True


@njit(cache=True, nogil=True)
def _piecewise_parameters(values, divisors, truncated, uncompressed_bits, runs, switch_cost,
                          free_after):  # pragma: no cover - compiled
    """Cheapest assignment of one Golomb-Rice parameter set (``divisors[j]``, ``truncated[j]``) to each value,
    paying ``switch_cost`` bits whenever the set changes (nothing at positions ``i`` with ``free_after[i]``): a
    shortest path over (position, set), as a Viterbi search. Returns the set of each position.

    Back-pointers are kept compactly: per position the cheapest set before it and a bit mask of the sets that
    changed to it there."""
    n, k = values.size, divisors.size
    top = 0
    for i in range(n):
        top = max(top, values[i])
    table = np.empty((top + 1, k), dtype=np.int64)   # bits of each value under each set
    for value in range(top + 1):
        for j in range(k):
            d = divisors[j]
            if d < 0:
                table[value, j] = uncompressed_bits
                continue
            q = value >> d
            if truncated[j]:
                table[value, j] = _MLW_IMPOSSIBLE_BITS if q > 2 and not runs else min(q + 1, 2) + d
            else:
                table[value, j] = _MLW_IMPOSSIBLE_BITS if q > 31 and not runs else q + 1 + d
    # Costs are kept relative to the cheapest set (0 <= rel < switch_cost + the largest code), in int32, and the
    # update is branch-free so that it vectorises.
    lanes = 16
    cost = np.full((top + 1, lanes), _MLW_IMPOSSIBLE_BITS, dtype=np.int32)
    cost[:, :k] = table
    rel = np.zeros(lanes, dtype=np.int32)
    rel[k:] = 2 * _MLW_IMPOSSIBLE_BITS                # padding lanes are never the cheapest
    cheapest = np.zeros(n, dtype=np.int8)
    changed = np.zeros(n, dtype=np.uint16)
    best = 0                                          # the cheapest set so far (first one on ties)
    for i in range(n):
        limit = np.int32(0 if free_after[i] else switch_cost)
        row = cost[values[i]]
        mask = 0
        low = np.int32(4 * _MLW_IMPOSSIBLE_BITS)
        for j in range(lanes):
            change = rel[j] > limit
            rel[j] = (limit if change else rel[j]) + row[j]
            mask |= np.int32(change) << j
            low = min(low, rel[j])
        next_best = lanes - 1
        for j in range(lanes - 1, -1, -1):
            if rel[j] == low:
                next_best = j
        for j in range(lanes):
            rel[j] -= low
        cheapest[i] = best
        changed[i] = mask
        best = next_best
    choice = np.zeros(n, dtype=np.int8)
    last = best
    for i in range(n - 1, -1, -1):
        choice[i] = last
        if (changed[i] >> last) & 1:
            last = cheapest[i]
    return choice


@njit(cache=True, nogil=True)
def _divide_toward_zero(a, b):  # pragma: no cover - compiled
    return a // b if a >= 0 else -((-a) // b)


@njit(cache=True, nogil=True)
def _palette_index_bits(size):  # pragma: no cover - compiled
    bits = 0
    while bits < 8 and size > (1 << bits):
        bits += 1
    return bits


@njit(cache=True, nogil=True)
def _mlw_section_starts(values, windows, max_palette, long_section):  # pragma: no cover - compiled
    """Where the encoder starts a new palette section. Scanning the stream, every ``N`` nonzero weights of a
    section (``N`` in ``windows``, doubled while a palette is in force) it estimates the saving of a palette
    for the last ``N`` nonzeros (index bits vs ~5.6 bits per direct weight, 8 bits per entry, a 20-bit
    restart) and starts a section where it saves; a section whose palette is about to need one more index bit
    after more than ``long_section`` nonzeros, or beyond ``max_palette`` entries, ends there. Zeros do not
    count as palette entries when more than a quarter of the section is zero."""
    n = values.size
    last_seen = np.full(512, -1, dtype=np.int64)
    starts = [0]
    start, zeros, size, active = 0, 0, 0, False
    for i in range(n):
        v = values[i] + 256
        no_zero = 1 if zeros > (i - start) // 4 else 0
        if active and last_seen[v] < start:
            size += 1
            grown = size - 1 - no_zero
            if (grown & (grown - 1)) == 0 and (i - start - zeros > long_section or size - no_zero > max_palette):
                starts.append(i)
                start, zeros, active = i, 0, False
        last_seen[v] = i
        if v == 256:
            zeros += 1
        if i - start - zeros <= 0 or (i - start - zeros) % windows[0] != 0:
            continue                              # every window is a multiple of the first
        for w in range(windows.size):
            span = windows[w] * (2 if active else 1)
            nonzeros = i - start - zeros
            if nonzeros <= 0 or nonzeros % span != 0:
                continue
            back, counted, distinct = i, 0, 0     # back to the nonzero after which span+1 nonzeros follow
            while back > start:
                if values[back] != 0:
                    if counted == span + 1:
                        break
                    counted += 1
                if last_seen[values[back] + 256] == back:
                    distinct += 1                 # the last occurrence of its value: count each value once
                back -= 1
            if last_seen[values[back] + 256] == back:
                distinct += 1
            new_bits = _palette_index_bits(distinct - no_zero)
            if active:
                old_bits = _palette_index_bits(size - no_zero)
                saving = _divide_toward_zero(span * (old_bits - new_bits) * 15, 16) - distinct * 8 - 20
            elif distinct - no_zero <= max_palette:
                saving = _divide_toward_zero(span * (90 - new_bits * 15), 16) - distinct * 8 - 20
            else:
                saving = 0
            if saving > 0:
                size, active, start = distinct, True, back
                if starts[-1] != start:
                    starts.append(start)
                zeros = 0
                for s in range(start, i + 1):
                    if values[s] == 0:
                        zeros += 1
    return np.array(starts, dtype=np.int64)


def _segment_starts(choice: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.diff(choice)) + 1


@njit(cache=True, nogil=True)
def _mlw_weight_stream_bits(indices, choice, starts, divisors, truncated, uncompressed_bits,
                            chunk):  # pragma: no cover - compiled
    """Bits of the weight stream over all slices (first weights ``starts``): per weight the remainder and the
    second unary part; per slice the first unary part (one position per 2 quotient steps, or one per weight
    when truncated) in whole ``chunk``-bit words; uncompressed slices write ``uncompressed_bits`` per weight."""
    total = 0
    for s in range(starts.size):
        begin = starts[s]
        end = starts[s + 1] if s + 1 < starts.size else indices.size
        cfg = choice[begin]
        d = divisors[cfg]
        if d < 0:
            total += (end - begin) * uncompressed_bits
            continue
        positions = 0
        for i in range(begin, end):
            q = indices[i] >> d
            if truncated[cfg]:
                positions += 1
                total += d + (1 if q > 0 else 0)
            else:
                positions += q // 2 + 1
                total += d + q - q // 2
        total += (positions + chunk - 1) // chunk * chunk
    return total


@njit(cache=True, nogil=True)
def _mlw_run_stream_bits(runs, choice, starts, divisors):  # pragma: no cover - compiled
    """Bits of the zero-run stream: a slice codes the run after each of its weights (the first slice also the
    leading run) with the run parameters in force at its first weight: unary quotient in whole chunks of 12
    bits (8 for divisors >= 3) plus the remainders."""
    total = 0
    n = runs.size - 1
    for s in range(starts.size):
        begin = starts[s]
        end = starts[s + 1] if s + 1 < starts.size else n
        d = divisors[choice[begin]]
        chunk = 12 if d < 3 else 8
        first = 0 if s == 0 else begin + 1
        positions = 0
        for r in range(first, end + 1):
            positions += (runs[r] >> d) + 1
            total += d
        total += (positions + chunk - 1) // chunk * chunk
    return total


def _mlw_slice_starts(n: int, *parameter_starts: np.ndarray) -> np.ndarray:
    """First weight of every slice: parameter changes of either stream, and every :data:`MLW_MAX_SLICE` weights
    within a run of unchanged parameters."""
    changes = np.union1d(*parameter_starts) if len(parameter_starts) > 1 else parameter_starts[0]
    changes = changes[(changes > 0) & (changes < n)]
    bounds = np.concatenate([[0], changes, [n]]).astype(np.int64)
    long = np.flatnonzero(np.diff(bounds) > MLW_MAX_SLICE)
    splits = [np.arange(bounds[i] + MLW_MAX_SLICE, bounds[i + 1], MLW_MAX_SLICE) for i in long]
    return np.union1d(bounds[:-1], np.concatenate(splits)) if splits else bounds[:-1]


def _mlw_parameters(values: np.ndarray, runs: bool, uncompressed_bits: int, free_after: np.ndarray) -> np.ndarray:
    """Parameter set of each value (:func:`_piecewise_parameters` per :data:`MLW_SEARCH_BLOCK` values)."""
    divisors, truncated = ((MLW_ZERO_RUN_DIVISORS, MLW_ZERO_RUN_TRUNCATED) if runs
                           else (MLW_WEIGHT_DIVISORS, MLW_WEIGHT_TRUNCATED))
    blocks = [_piecewise_parameters(values[b:b + MLW_SEARCH_BLOCK], divisors, truncated, uncompressed_bits, runs,
                                    MLW_SWITCH_COST_BITS, free_after[b:b + MLW_SEARCH_BLOCK])
              for b in range(0, values.size, MLW_SEARCH_BLOCK)]
    return blocks[0] if len(blocks) == 1 else np.concatenate([np.zeros(0, dtype=np.int8)] + blocks)


@dataclass(frozen=True)
class _MlwPlan:
    """How a section is coded: parameters, weight indices, zero runs (empty without), the parameter set of each
    index and run, and the first weight of every slice."""

    section: MlwSection
    indices: np.ndarray
    runs: np.ndarray
    w_choice: np.ndarray
    z_choice: np.ndarray
    starts: np.ndarray


def _mlw_plan(values: np.ndarray) -> _MlwPlan:
    section = mlw_section_params(values)
    indices, runs = _mlw_streams(values, section)
    n = indices.size
    w_choice = _mlw_parameters(indices, False, section.uncompressed_bits, np.zeros(n, dtype=np.bool_))
    w_starts = _segment_starts(w_choice)
    z_choice = np.zeros(0, dtype=np.int8)
    if section.zero_runs:
        free = np.zeros(runs.size, dtype=np.bool_)
        free[np.append(w_starts, n) - 1] = True   # a run change is free where a weight segment ends (the last too)
        z_choice = _mlw_parameters(runs, True, 0, free)
        starts = _mlw_slice_starts(n, w_starts, _segment_starts(z_choice))
    else:
        starts = _mlw_slice_starts(n, w_starts)
    return _MlwPlan(section, indices, runs, w_choice, z_choice, starts)


def _mlw_section_bits(values: np.ndarray) -> int:
    """Bits of one palette section (all its slices) coding ``values``."""
    plan = _mlw_plan(values)
    section = plan.section
    total = (plan.starts.size * MLW_SLICE_HEADER_BITS + MLW_PALETTE_HEADER_BITS
             + len(section.palette) * section.palette_bits)
    total += _mlw_weight_stream_bits(plan.indices, plan.w_choice, plan.starts, MLW_WEIGHT_DIVISORS,
                                     MLW_WEIGHT_TRUNCATED, section.uncompressed_bits, MLW_WEIGHT_CHUNK_BITS)
    if section.zero_runs:
        total += _mlw_run_stream_bits(plan.runs, plan.z_choice, plan.starts, MLW_ZERO_RUN_DIVISORS)
    return total


# ------------------------------------------------------------------------------------------------- mlw stream
#: Header codes of the mlw format: ZDIV for "no zero runs" and for the end of the stream, WDIV for uncompressed.
MLW_ZDIV_DISABLED = 6
MLW_ZDIV_END = 7
MLW_WDIV_UNCOMPRESSED = 7


class _LsbWriter:
    """Collects fields written least significant bit first into a byte stream filled from each byte's LSB."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.widths: list[int] = []
        self.bits = 0

    def put(self, width: int, value: int) -> None:
        if width > 0:
            self.values.append(int(value))
            self.widths.append(int(width))
            self.bits += int(width)

    def tobytes(self) -> bytes:
        values = np.asarray(self.values, dtype=np.int64)
        widths = np.asarray(self.widths, dtype=np.int64)
        field = np.repeat(np.arange(widths.size), widths)
        offset = np.arange(field.size) - (np.cumsum(widths) - widths)[field]
        bit = (values[field] >> offset) & 1
        return np.packbits(bit.astype(np.uint8), bitorder="little").tobytes()


def _mlw_unary_chunks(quotients: np.ndarray, step: int, chunk: int, has_second: bool):
    """Split a stream's unary codes into chunks of ``chunk`` positions (the last one padded with 0 positions).
    A value of quotient ``q`` takes positions while ``q >= 0``, ``q`` dropping by ``step`` (2, or 3 when
    truncated, 1 for runs); a position's first bit says ``q > 0``, its second (weights only, when ``q > 0``)
    ``q > 1``. Yields per chunk (first bits, second bits, number of values that end in the chunk)."""
    bits0, bits1, ends = [], [], 0
    for q in quotients.tolist():
        while q >= 0:
            bits0.append(1 if q > 0 else 0)
            if has_second and q > 0:
                bits1.append(1 if q > 1 else 0)
            q -= step
            if q < 0:
                ends += 1
            if len(bits0) == chunk:
                yield bits0, bits1, ends
                bits0, bits1, ends = [], [], 0
    if bits0:
        yield bits0 + [0] * (chunk - len(bits0)), bits1, ends


def _mlw_put_slice(out: _LsbWriter, plan: _MlwPlan, begin: int, end: int, first: bool) -> None:
    """One slice: header (and palette), then the interleaved chunks of weight and zero-run unary codes with the
    remainders of the previous chunk's completed values (mlw format)."""
    section, cfg = plan.section, plan.w_choice[begin]
    uncompressed = cfg == MLW_UNCOMPRESSED_CONFIG
    truncated = bool(MLW_WEIGHT_TRUNCATED[cfg])
    divisor = section.uncompressed_bits if uncompressed else int(MLW_WEIGHT_DIVISORS[cfg])
    z_div = int(MLW_ZERO_RUN_DIVISORS[plan.z_choice[begin]]) if section.zero_runs else 0
    out.put(3, z_div if section.zero_runs else MLW_ZDIV_DISABLED)
    out.put(15, end - begin - 1)
    out.put(3, MLW_WDIV_UNCOMPRESSED if uncompressed else divisor)
    out.put(1, int(truncated))
    out.put(1, int(first))
    if first:
        out.put(5, section.direct_offset)
        out.put(5, max(0, len(section.palette) - 1))
        out.put(3, section.palette_bits - 2)
        for symbol in section.palette:
            out.put(section.palette_bits, symbol)
    weights = plan.indices[begin:end]
    runs = plan.runs[(0 if first else begin + 1):end + 1] if section.zero_runs else np.zeros(0, dtype=np.int64)
    w_chunk = 8 if uncompressed and divisor > 5 else MLW_WEIGHT_CHUNK_BITS
    w_quotients = np.zeros(weights.size, dtype=np.int64) if uncompressed else weights >> divisor
    w_chunks = _mlw_unary_chunks(w_quotients, 3 if truncated else 2, w_chunk, True)
    z_chunk = 12 if z_div < 3 else 8
    z_chunks = _mlw_unary_chunks(runs >> z_div, 1, z_chunk, False)
    w_rem, z_rem = weights & ((1 << divisor) - 1), runs & ((1 << z_div) - 1)
    w_pos = z_pos = 0
    w_pending = z_pending = None                  # remainders of the previous chunk, written after this chunk
    while True:
        balance = w_pos - z_pos if section.zero_runs else 0
        w_on = balance < 8 and w_pos < weights.size
        z_on = balance >= 0 and section.zero_runs and z_pos < runs.size
        w_now = next(w_chunks) if w_on else None
        z_now = next(z_chunks) if z_on else None
        if w_now is not None and not uncompressed:
            out.put(w_chunk, sum(b << j for j, b in enumerate(w_now[0])))
        if z_now is not None:
            out.put(z_chunk, sum(b << j for j, b in enumerate(z_now[0])))
        if w_now is not None and not uncompressed:
            out.put(len(w_now[1]), sum(b << j for j, b in enumerate(w_now[1])))
        for value in w_pending or ():
            out.put(divisor, value)
        for value in z_pending or ():
            out.put(z_div, value)
        w_pending = z_pending = None
        if w_now is not None:
            count = min(w_now[2], weights.size - w_pos)
            w_pending, w_pos = w_rem[w_pos:w_pos + count].tolist(), w_pos + count
        if z_now is not None:
            count = min(z_now[2], runs.size - z_pos)
            z_pending, z_pos = z_rem[z_pos:z_pos + count].tolist(), z_pos + count
        if w_now is None and z_now is None:
            break


def mlw_encode_stream(stream: np.ndarray) -> bytes:
    """The mlw stream of ``stream`` (weights in coding order, |w| <= 255): palette sections, slices, end marker,
    padding with 1 bits to a multiple of 16 bytes. ``len`` equals ``mlw_stream_bits(stream) // 8``."""
    stream = np.asarray(stream)
    _check_mlw_range(stream, 16)
    stream = np.ascontiguousarray(stream, dtype=np.int16)
    out = _LsbWriter()
    if stream.size:
        bounds = np.append(_mlw_section_starts(stream, MLW_PALETTE_WINDOWS, MLW_MAX_PALETTE, MLW_LONG_SECTION),
                           stream.size)
        for a, b in zip(bounds[:-1], bounds[1:]):
            plan = _mlw_plan(stream[a:b])
            ends = np.append(plan.starts, plan.indices.size)
            for k in range(plan.starts.size):
                _mlw_put_slice(out, plan, int(ends[k]), int(ends[k + 1]), k == 0)
    out.put(3, MLW_ZDIV_END)
    out.put(-out.bits % 8, 0xFF)
    while out.bits % MLW_STREAM_ALIGN_BITS:
        out.put(8, 0xFF)
    return out.tobytes()


class _LsbReader:
    """Reads fields least significant bit first from a byte stream filled from each byte's LSB."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little").astype(np.int64)
        self.position = 0

    def get(self, width: int) -> int:
        if self.position + width > self.bits.size:
            raise UnsupportedError("mlw weight stream ends early")
        chunk = self.bits[self.position:self.position + width]
        self.position += width
        return int((chunk << np.arange(width)).sum())


def _mlw_read_unary(bits: list[int], seconds: list[int] | None, state: list[int], step: int,
                    quotients: list[int]) -> None:
    """Decode one chunk's unary positions into ``quotients`` (completed values), ``state[0]`` the quotient of
    a value still open across chunks (-1 when none). Weights carry a second bit per position with a first bit 1:
    it adds 2 and continues (non-truncated) or adds 2 and ends (truncated, ``step`` 3); runs add 1 per 1 bit."""
    second = iter(seconds or ())
    for bit in bits:
        q = max(state[0], 0)
        if not bit:
            quotients.append(q)
            state[0] = -1
        elif seconds is None:
            state[0] = q + 1
        elif not next(second):
            quotients.append(q + 1)
            state[0] = -1
        elif step == 3:
            quotients.append(q + 2)
            state[0] = -1
        else:
            state[0] = q + 2


def mlw_decode_stream(data: bytes) -> np.ndarray:
    """Decode an mlw stream (:func:`mlw_encode_stream`, or Arm's encoder) into its weights, in coding order."""
    reader = _LsbReader(data)
    out: list[int] = []
    palette: tuple[int, ...] = ()
    direct_offset = width = 0
    while True:
        z_div = reader.get(3)
        if z_div == MLW_ZDIV_END:
            break
        count = reader.get(15) + 1
        w_div = reader.get(3)
        truncated = reader.get(1)
        if reader.get(1):                                        # a new palette starts a section
            direct_offset = reader.get(5)
            size = reader.get(5)
            width = reader.get(3) + 2
            palette = tuple(reader.get(width) for _ in range(size + 1 if size else 0))
            first = True
        else:
            first = False
        zero_runs = z_div != MLW_ZDIV_DISABLED
        uncompressed = w_div == MLW_WDIV_UNCOMPRESSED
        if uncompressed:          # only an all-palette section (index bits) or one without a palette (entry bits)
            w_div = max(len(palette) - 1, 0).bit_length() if palette else width
        weights, runs = _mlw_decode_slice(reader, count, zero_runs, z_div, w_div, truncated, uncompressed, first)
        symbols = [palette[i] if i < len(palette) else i - len(palette) + direct_offset for i in weights]
        values = [-(s >> 1) if s & 1 else s >> 1 for s in symbols]
        if zero_runs:
            run_iter = iter(runs)
            if first:
                out.extend([0] * next(run_iter))
            for value in values:
                out.append(value)
                out.extend([0] * next(run_iter))
        else:
            out.extend(values)
    return np.asarray(out, dtype=np.int64)


def _mlw_decode_slice(reader: _LsbReader, count: int, zero_runs: bool, z_div: int, w_div: int, truncated: int,
                      uncompressed: bool, first: bool) -> tuple[list[int], list[int]]:
    """The weight indices and zero runs of one slice: chunks as :func:`_mlw_put_slice` writes them."""
    z_count = count + 1 if first else count
    w_chunk = 8 if uncompressed and w_div > 5 else MLW_WEIGHT_CHUNK_BITS
    z_chunk = 12 if z_div < 3 else 8
    w_q: list[int] = []
    z_q: list[int] = []
    w_state, z_state = [-1], [-1]
    weights: list[int] = []
    runs: list[int] = []
    w_pending = z_pending = 0
    while True:
        balance = len(w_q) - len(z_q) if zero_runs else 0
        w_on = balance < 8 and len(w_q) < count
        z_on = balance >= 0 and zero_runs and len(z_q) < z_count
        w_done, z_done = len(w_q), len(z_q)
        first_bits = reader.get(w_chunk) if w_on and not uncompressed else 0
        z_bits = reader.get(z_chunk) if z_on else 0
        if w_on:
            if uncompressed:
                w_q.extend([0] * min(w_chunk, count - len(w_q)))
            else:
                bits = [(first_bits >> j) & 1 for j in range(w_chunk)]
                second = reader.get(sum(bits))
                _mlw_read_unary(bits, [(second >> j) & 1 for j in range(sum(bits))], w_state, 3 if truncated else 2,
                                w_q)
                del w_q[count:]
        if z_on:
            _mlw_read_unary([(z_bits >> j) & 1 for j in range(z_chunk)], None, z_state, 1, z_q)
            del z_q[z_count:]
        for q in w_q[len(weights):len(weights) + w_pending]:
            weights.append((q << w_div) | reader.get(w_div))
        for q in z_q[len(runs):len(runs) + z_pending]:
            runs.append((q << z_div) | reader.get(z_div))
        if not w_on and not z_on:
            return weights, runs
        w_pending, z_pending = len(w_q) - w_done, len(z_q) - z_done
