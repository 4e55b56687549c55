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
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Sequence, get_args

import numpy as np

from accelsim.config.hw import Codec
from accelsim.errors import UnsupportedError

CODECS: tuple[str, ...] = get_args(Codec)
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
    compressed = math.ceil(_SIZE_BITS[codec](values, bits) / 8)
    return CompressionResult(codec, raw, compressed, compressed / raw)


def best_codec(weights: np.ndarray, bits: int, codecs: Sequence[str]) -> CompressionResult:
    """The smallest of :func:`compress_weights` over ``codecs`` (the first listed wins a tie)."""
    if not codecs:
        raise UnsupportedError(f"best_codec needs at least one codec; known codecs: {', '.join(CODECS)}")
    results = [compress_weights(weights, bits, codec) for codec in codecs]
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
    """The encoded stream of ``weights`` (row-major order); ``len`` equals ``compressed_bytes``."""
    values = _flat_values(weights, bits)
    _check_codec(codec)
    if values.size == 0:
        return b""
    field_values, field_widths = _ENCODERS[codec](values.astype(np.int64), bits)
    return _pack_fields(field_values, field_widths)


def decode_weights(data: bytes, codec: str, count: int, bits: int, signed: bool) -> np.ndarray:
    """Decode a stream of :func:`encode_weights`: ``count`` weights of ``bits`` bits (two's complement if
    ``signed``), as a flat int64 array."""
    _check_bits(bits)
    _check_codec(codec)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
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
