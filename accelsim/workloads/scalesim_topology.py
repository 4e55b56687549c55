"""Reading SCALE-Sim topology CSV files (conv and GEMM forms) into a graph of Conv2D / FullyConnected nodes.

Conv form: header ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
Strides,`` and one layer per row. GEMM form: header ``Layer Name, M, N, K,``; a GEMM row is an FC layer with
``M`` input rows of ``K`` features and ``N`` outputs (SCALE-Sim runs it as the conv H=M, W=K, Fh=1, Fw=K, C=1,
stride 1, which is the same GEMM). The header's column names are checked (case and spacing aside). Rows end
with a comma (mandatory in SCALE-Sim, optional here); an optional extra column holds a sparsity ratio ``N:M``, of
which only the dense ``1:1`` is supported.

Semantics kept from SCALE-Sim 3.0.0 (``scalesim/topology_utils.py``), so that accelsim's systolic model
reproduces its cycles on the loaded graph:

- no padding, batch 1, the same stride in both directions;
- the output size is ``ceil((H − Fh + s)/s)``, one more than VALID padding when ``(H − Fh)`` is not a multiple of
  ``s`` (SCALE-Sim's im2col then reads past the input edge). The loader reproduces that size with explicit
  bottom/right padding of ``(OH − 1)·s + Fh − H`` rows/columns, and VALID padding otherwise;
- a layer whose name contains ``DP`` is SCALE-Sim's depthwise convention (one single-channel layer per channel,
  each with all ``Num Filter`` filters): loaded as a depthwise Conv2D with depth multiplier ``Num Filter``.
  Depthwise layers written as ``Num Filter = 1`` over all channels (its bundled MobileNet CSV) are loaded as
  written: an ordinary conv with one filter.

Layers are independent, as in SCALE-Sim: each reads its own graph input. Tensors are int8 with placeholder
per-tensor quantization (scale 1/128, zero point 0); weights are shape-only (``accelsim.graph.synthetic`` fills
them if values are needed).
"""
from __future__ import annotations

import math
from pathlib import Path

from accelsim.config.loading import read_text_file
from accelsim.errors import ConfigError, UnsupportedError
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ir import Graph
from accelsim.quant.params import QuantParams

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer Name", "M", "N", "K")
PLACEHOLDER_QUANT = QuantParams.per_tensor(1 / 128, 0)


def scalesim_output_size(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size without padding: ``ceil((size − kernel + stride) / stride)``."""
    return math.ceil((size - kernel + stride) / stride)


def scalesim_pad_after(size: int, kernel: int, stride: int) -> int:
    """Bottom (or right) padding that makes a VALID conv produce SCALE-Sim's output size: ``(out − 1)·s + k − size``."""
    return (scalesim_output_size(size, kernel, stride) - 1) * stride + kernel - size


def load_scalesim_topology(path: str | Path) -> Graph:
    """Read a SCALE-Sim topology CSV (conv or GEMM form) into a Graph; errors name the file, line and column."""
    path = Path(path)
    lines = read_text_file(path, "SCALE-Sim topology CSV").splitlines()
    if not lines:
        raise ConfigError(str(path), "", "a header line", "an empty file")
    header = _fields(lines[0])
    gemm = len(header) >= 2 and header[1].upper() == "M"
    columns = GEMM_COLUMNS if gemm else CONV_COLUMNS
    _check_header(f"{path}, line 1", header, columns)
    builder = GraphBuilder(path.stem)
    outputs: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        fields = _fields(line)
        if len(fields) not in (len(columns), len(columns) + 1):
            raise ConfigError(where, "columns", f"{len(columns)} columns ({', '.join(columns)}) and an optional "
                              f"sparsity ratio", f"{len(fields)} columns")
        name = fields[0]
        if not name:
            raise ConfigError(where, columns[0], "a layer name", "")
        if name in seen:
            raise ConfigError(where, columns[0], f"a unique layer name (already on line {seen[name]})", name)
        seen[name] = number
        if len(fields) > len(columns) and fields[-1].replace(" ", "") != "1:1":
            raise UnsupportedError(f"{where}: sparsity ratio {fields[-1]!r}: accelsim models dense layers only (1:1)")
        values = [_positive(where, column, text) for column, text in zip(columns[1:], fields[1:])]
        add = _add_gemm if gemm else _add_conv
        outputs.append(add(builder, where, name, values))
    if not outputs:
        raise ConfigError(str(path), "rows", "at least one layer row", "none")
    return builder.build(outputs, metadata={"source": "scalesim", "topology": path.name,
                                            "form": "gemm" if gemm else "conv"})


def _check_header(where: str, header: list[str], columns: tuple[str, ...]) -> None:
    """The header must start with SCALE-Sim's column names (case and spacing aside); one more column may follow."""
    for i, column in enumerate(columns):
        found = header[i] if i < len(header) else "<missing>"
        if " ".join(found.lower().split()) != column.lower():
            raise ConfigError(where, f"column {i + 1}", f"the SCALE-Sim header {column!r} (header: "
                              f"{', '.join(columns)},)", found)
    if len(header) > len(columns) + 1:
        raise ConfigError(where, f"column {len(columns) + 2}", f"at most {len(columns) + 1} columns (the last an "
                          "optional sparsity ratio)", header[len(columns) + 1])


def _fields(line: str) -> list[str]:
    fields = [f.strip() for f in line.split(",")]
    if fields and fields[-1] == "":
        fields.pop()  # the trailing comma
    return fields


def _positive(where: str, column: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(where, column, "a positive integer", text)
    return value


def _add_conv(builder: GraphBuilder, where: str, name: str, values: list[int]) -> str:
    h, w, fh, fw, channels, filters, stride = values
    if fh > h or fw > w:
        raise ConfigError(where, "Filter Height" if fh > h else "Filter Width",
                          f"a filter no larger than the {h}x{w} input", f"{fh}x{fw}")
    depthwise = "DP" in name
    x = builder.input(f"{name}/input", (1, h, w, channels), "int8", PLACEHOLDER_QUANT)
    out_channels = channels * filters if depthwise else filters
    weight_channels = 1 if depthwise else channels
    weights = builder.constant(f"{name}/weights", None, "int8", PLACEHOLDER_QUANT,
                               shape=(out_channels, fh, fw, weight_channels))
    pad_h, pad_w = scalesim_pad_after(h, fh, stride), scalesim_pad_after(w, fw, stride)
    padding = (0, pad_h, 0, pad_w) if pad_h or pad_w else "VALID"
    return builder.conv2d(x, weights, None, PLACEHOLDER_QUANT, stride=stride, padding=padding,
                          groups=channels if depthwise else 1, name=name)


def _add_gemm(builder: GraphBuilder, where: str, name: str, values: list[int]) -> str:
    m, n, k = values
    x = builder.input(f"{name}/input", (m, k), "int8", PLACEHOLDER_QUANT)
    weights = builder.constant(f"{name}/weights", None, "int8", PLACEHOLDER_QUANT, shape=(n, k))
    return builder.fully_connected(x, weights, None, PLACEHOLDER_QUANT, name=name)
