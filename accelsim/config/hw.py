"""Hardware configuration schema (pydantic v2) and ``load_hw(path)``.

A hardware config describes one accelerator: clock, technology (energy table), compute units (a systolic array
and/or an HVX-like SIMD unit), the supported (weight, activation) precision modes, the requantization (scale)
unit, the memory hierarchy (innermost level first, exactly one DRAM level, last) and an optional weight
decompression unit. Every model is frozen and forbids unknown keys, so a typo is an error. The key reference
with units is ``docs/hw-config.md``; ``hardware_json_schema()`` gives the JSON Schema (``accelsim schema``).

Cross-field rules are checked on the whole config and raise :class:`ConfigError` with the exact key path
(``precision.modes[2].throughput``); ``load_hw`` adds the file name.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, RootModel, field_validator, model_serializer, model_validator

from accelsim.config.loading import read_yaml, split_key_path, validate_model
from accelsim.errors import ConfigError, UnsupportedError

#: Built-in technology energy tables (files ``accelsim/energy/tables/<name>.yaml``). Listed here, not imported,
#: because the config layer sits above the energy layer; ``tests/test_energy_tables.py`` checks they agree.
BUILTIN_ENERGY_TABLES: tuple[str, ...] = ("horowitz45", "aladdin40", "bitfusion45", "bitfusion45_fusion_unit")

#: Requantization rounding modes (``accelsim.quant.requant``; formulas in ``docs/arithmetic.md``).
RoundingMode = Literal["fixed_point", "fixed_point_single_round", "fixed_point_int64", "float32", "float32_recip"]
#: Systolic dataflows: output-, weight- or input-stationary.
Dataflow = Literal["os", "ws", "is"]
#: Dataflows of a SystolicArray config: SCALE-Sim's three plus ``rs`` = Eyeriss's row stationary ([ref:Chen16]
#: §IV; accelsim.hw.row_stationary).
ArrayDataflow = Literal["os", "ws", "is", "rs"]
#: How a systolic array runs a depthwise / grouped conv (accelsim.hw.systolic.DEPTHWISE_LOWERINGS).
DepthwiseLowering = Literal["per_group", "block_diagonal", "channel_parallel"]
#: DRAM types with an energy figure in the ``dram_types`` energy table.
DramType = Literal["lpddr", "lpddr2", "lpddr3", "lpddr4", "lpddr4x", "ddr3", "ddr4", "gddr5", "hbm2", "hmc"]
#: Weight compression codecs the decompression unit can decode.
Codec = Literal["bitpack", "zero_rle", "bitmap", "huffman", "mlw"]
#: Operand classes a memory level can hold.
Operand = Literal["weights", "inputs", "outputs"]
#: Bytes of one requantization scale set: a 32-bit multiplier and its shift (6 bits, [ref:TFLiteRef]
#: QuantizeMultiplier; docs/arithmetic.md) in one byte, as Ethos-U packs them next to its 40-bit bias (10 bytes per
#: channel with the bias: [ref:Vela] ``ethosu/vela/weight_compressor.py`` ``encode_bias``). TFLite's reference
#: kernels and CMSIS-NN keep int32 multiplier and int32 shift arrays (8 bytes). The default of
#: ``scale_unit.scale_bytes_per_channel``.
SCALE_BYTES_PER_CHANNEL = 5
#: Where requantization goes when a per-tensor scale unit meets per-channel scales.
ScaleFallback = Literal["none", "simd"]
#: Kinds of memory level.
MemoryKind = Literal["register_file", "sram", "dram"]
#: Where a graph's inputs and outputs live: in DRAM, or in the on-chip activation level when they fit there.
GraphIoPlacement = Literal["dram", "onchip"]
#: When a block-streaming unit copies a layer's weights into the outer on-chip level (``weight_buffering``).
WeightBuffering = Literal["when_reread", "always"]

_MODE_KEY = re.compile(r"^W(\d+)A(\d+)$")


def mode_key(weight_bits: int, activation_bits: int) -> str:
    """The ``W{w}A{a}`` name of a precision mode, e.g. ``mode_key(8, 16) == "W8A16"``."""
    return f"W{weight_bits}A{activation_bits}"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Upper bounds of the schema's numbers: far beyond any real design, they only refuse typos and absurd values
# (an SRAM of 1e300 KiB). Integers and booleans are strict (``rows: true`` is an error); floats accept integers.
#: PE rows/columns, banks, lanes, MAC rates: at most 65536 (2^16).
MAX_COUNT = 65_536
#: Issue slots and resources of a VLIW packet, SIMD contexts: at most 1024.
MAX_SLOTS = 1024
#: MACs per cycle per PE of a precision mode: at most 1024 (binary operands on a 32x32-bit datapath).
MAX_THROUGHPUT = 1024.0
#: Clock: at most 100 GHz.
MAX_CLOCK_MHZ = 100_000.0
#: On-chip memory: at most 1 TiB.
MAX_SIZE_KIB = float(2**30)
#: On-chip or decompressor bandwidth: at most 1 MiB per cycle.
MAX_BYTES_PER_CYCLE = float(2**20)
#: DRAM bandwidth: at most 100 TB/s.
MAX_BANDWIDTH_GB_S = 100_000.0
#: Energies per operation, byte or bit: at most 1 µJ.
MAX_ENERGY_PJ = 1e6
#: Areas: at most 100,000 mm² (a whole 300 mm wafer is 70,686 mm²).
MAX_AREA_MM2 = 1e5
#: Cycle counts (pipeline latency, unpacking 1 KiB): at most 1e6.
MAX_CYCLES = 1e6
AREA_DESCRIPTION = "Area in mm^2 (at most 1e5, more than a 300 mm wafer); null = derived from the energy table."


# --------------------------------------------------------------------------------------------------- technology
class Technology(_Strict):
    """Process technology and the energy/area table used for every derived energy and area."""

    energy_table: str = Field(
        "horowitz45",
        description="Energy/area table: a built-in name (" + ", ".join(BUILTIN_ENERGY_TABLES) + ") or a path "
        "to a user table (.yaml; relative paths are resolved against the config file's folder). "
        "See docs/energy-tables.md.",
    )
    node_nm: float | None = Field(
        None, gt=0, le=10_000, strict=True, allow_inf_nan=False,
        description="Process node of the design in nm (7-180 nm when it differs from the energy table's node). "
        "Energy, leakage power and area of logic and on-chip memories are scaled from the table's node to this one "
        "with Stillmaker & Baas's equations (docs/energy-tables.md §Technology scaling); null = the table's node "
        "(no scaling).",
    )
    vdd_v: float | None = Field(
        None, gt=0, le=5, strict=True, allow_inf_nan=False,
        description="Core supply of the design in V (at most 5 V), used by the node scaling's voltage-dependent "
        "energy and power fits; null = the table's supply at the table's node, else the node's nominal supply "
        "(accelsim/energy/models/stillmaker17_scaling.yaml).",
    )

    @field_validator("energy_table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        if value in BUILTIN_ENERGY_TABLES or value.endswith((".yaml", ".yml")):
            return value
        raise ValueError(
            f"a built-in energy table ({', '.join(BUILTIN_ENERGY_TABLES)}) or a path to a .yaml table file"
        )

    @property
    def is_builtin_table(self) -> bool:
        """True if ``energy_table`` names a built-in table rather than a file."""
        return self.energy_table in BUILTIN_ENERGY_TABLES


# ------------------------------------------------------------------------------------------------------ compute
def _kind(kind: str) -> Any:
    """The discriminator of a compute unit (defaults to its key under ``compute``)."""
    return Field(kind, description=f"Unit kind: {kind} (default: the unit's key under compute).")


class SystolicArray(_Strict):
    """A rows x cols array of processing elements, each doing 1 MAC/cycle at throughput 1.0."""

    kind: Literal["systolic"] = _kind("systolic")

    rows: int = Field(gt=0, le=MAX_COUNT, strict=True, description="PE rows (SCALE-Sim ArrayHeight), at most 65536.")
    cols: int = Field(gt=0, le=MAX_COUNT, strict=True,
                      description="PE columns (SCALE-Sim ArrayWidth), at most 65536.")
    dataflow: ArrayDataflow = Field(
        "ws", description="os = output stationary, ws = weight stationary, is = input stationary, rs = row "
        "stationary (Eyeriss: filter rows x output rows on the PEs, per-PE scratchpads)."
    )
    depthwise: tuple[DepthwiseLowering, ...] = Field(
        ("per_group",), min_length=1,
        description="Lowerings of a grouped / depthwise conv the array supports; the model picks the fastest. "
        "per_group = one GEMM per group (SCALE-Sim); block_diagonal = several groups' taps stacked on the "
        "reduction dimension, their filters side by side, one GEMM with a block-diagonal weight matrix (a "
        "software lowering); channel_parallel = each column takes its own channel's inputs (needs per-column "
        "operand feeds). Ignored by the rs dataflow, which maps every group natively.",
    )
    ifmap_spad_words: int = Field(12, gt=0, le=MAX_COUNT, strict=True,
                                  description="rs only: ifmap scratchpad per PE in words (Eyeriss: 12 x 16 b).")
    filter_spad_words: int = Field(224, gt=0, le=MAX_COUNT, strict=True,
                                   description="rs only: filter scratchpad per PE in words (Eyeriss: 224 x 16 b).")
    psum_spad_words: int = Field(24, gt=0, le=MAX_COUNT, strict=True,
                                 description="rs only: partial-sum scratchpad per PE in words (Eyeriss: 24 x 16 b).")
    stationary_buffers: int = Field(
        1, ge=1, le=2, strict=True,
        description="ws / is only: registers per PE for the stationary operand (ws: weights, is: inputs). 1 = "
        "SCALE-Sim's array, every fold preloads before it streams; 2 = double-buffered, the next fold's operand "
        "shifts in while the current one computes (TPU v1: 'one 64 KiB tile of weights plus one for "
        "double-buffering', [ref:Jouppi17] §2).")

    @property
    def pe_count(self) -> int:
        """Number of processing elements (rows x cols)."""
        return self.rows * self.cols


def _per_packet(default: int, what: str) -> Any:
    """A strict per-packet resource count field (1..MAX_SLOTS)."""
    return Field(default, gt=0, le=MAX_SLOTS, strict=True,
                 description=f"{what} per packet per context (at most {MAX_SLOTS}).")


def _mac_rate(what: str) -> Any:
    """A strict MACs/cycle/context field (1..MAX_COUNT)."""
    return Field(gt=0, le=MAX_COUNT, strict=True, description=f"{what}: MACs/cycle/context (at most {MAX_COUNT}).")


class SimdResources(_Strict):
    """Non-multiply issue resources per VLIW packet per context (HVX PRM: load, store, shift, permute)."""

    load: int = _per_packet(1, "Vector loads")
    store: int = _per_packet(1, "Vector stores")
    shift: int = _per_packet(1, "Vector shift instructions")
    permute: int = _per_packet(1, "Vector permute instructions")
    alu: int = _per_packet(2, "Vector ALU instructions")


class SimdMacRates(_Strict):
    """MACs per cycle per context of each multiply instruction class, for one precision mode."""

    scalar_broadcast: int = _mac_rate("Vector x scalar-broadcast dot products (HVX vrmpy(Vu.ub,Rt.b))")
    vector_vector: int = _mac_rate("Vector x vector accumulate (HVX Vx+=vrmpy(Vu,Vv), both multiply resources; "
                                   "what depthwise and elementwise kernels get)")
    widening: int = _mac_rate("Widening element-wise multiplies (HVX vmpy(Vu.b,Vv.b) -> i16)")

    @property
    def peak(self) -> int:
        """The best MACs/cycle/context over the instruction classes."""
        return max(self.scalar_broadcast, self.vector_vector, self.widening)


class SimdKernelCosts(_Strict):
    """Costs a real HVX kernel library pays beyond its inner loops (accelsim.hw.hvx_kernels).

    Modelled on Hexagon NN's int8 kernels ([ref:HexagonNN] ``docs/d32.txt``, ``hexagon/ops/src/op_supernode*.c``,
    ``op_dwise_snode_8bit.c``): activations in the depth-32 "d32" layout, each layer's work split into kernel calls
    of one output row by one 32-deep output-depth slice shared out among the vector contexts, a barrier at the
    end of the layer. Every default leaves the ideal software pipeline unchanged (0 cycles, no padding).
    """

    depth_multiple: int = Field(
        1, gt=0, le=MAX_COUNT, strict=True,
        description="Activation depth (channels) padded to a multiple of this in the kernels' layout (Hexagon NN "
        "d32: 32; at most 65536; 1 = no padding).")
    width_multiple: int = Field(
        1, gt=0, le=MAX_COUNT, strict=True,
        description="Activation width padded to a multiple of this (Hexagon NN d32: 4, so a row of width x 32 "
        "bytes fills whole 128-byte vectors; at most 65536; 1 = no padding).")
    shallow_input_depth: int = Field(
        0, ge=0, le=MAX_COUNT, strict=True,
        description="Inputs of at most this depth are read by a shallow-input kernel in their flat layout, depth "
        "padded to this figure instead of depth_multiple (Hexagon NN's input supernode for 3-4 channel images: 4); "
        "0 = none.")
    layer_setup_cycles: float = Field(
        0.0, ge=0, le=MAX_CYCLES, strict=True, allow_inf_nan=False,
        description="Cycles per layer of scalar set-up before any vector work: node dispatch, shape checks, "
        "descriptor and work-list set-up (at most 1e6).")
    call_cycles: float = Field(
        0.0, ge=0, le=MAX_CYCLES, strict=True, allow_inf_nan=False,
        description="Cycles per kernel call (one output row x one depth slice) outside the software-pipelined "
        "loop: scalar prologue, pointer set-up, loop fill and drain (at most 1e6).")
    slice_transfer_latency_cycles: float = Field(
        0.0, ge=0, le=MAX_CYCLES, strict=True, allow_inf_nan=False,
        description="Cycles a context waits for the first L2 -> VTCM (or L2 prefetch) transfer of each output-depth "
        "slice's weights before its first call; later transfers overlap compute (at most 1e6).")
    sync_cycles_per_context: float = Field(
        0.0, ge=0, le=MAX_CYCLES, strict=True, allow_inf_nan=False,
        description="Cycles per layer per participating vector context to hand out the work and join it at the "
        "layer's barrier (at most 1e6).")
    layout_conversion_bytes_per_cycle: float | None = Field(
        None, gt=0, le=MAX_BYTES_PER_CYCLE, strict=True, allow_inf_nan=False,
        description="Bytes per cycle (per context) converting an op's input between the d32 layout and the flat "
        "layout a flat-layout kernel (FullyConnected) needs; null = no conversion is charged.")

    @property
    def is_ideal(self) -> bool:
        """True when every cost is off (the ideal software pipeline)."""
        return self == SimdKernelCosts()


class SimdUnit(_Strict):
    """An HVX-like VLIW SIMD unit with several hardware contexts (threads), each issuing one packet per cycle."""

    kind: Literal["simd"] = _kind("simd")

    vector_bits: Literal[512, 1024] = Field(1024, description="Vector register width in bits (HVX 64 B or 128 B).")
    contexts: int = Field(gt=0, le=MAX_SLOTS, strict=True, description="Hardware vector contexts running "
                          "concurrently (HVX 685: 2, 690: 4), at most 1024.")
    multiply_resources: int = Field(
        2, gt=0, le=MAX_SLOTS, strict=True,
        description="Multiply resources per packet per context; double-vector multiplies take two (at most 1024)."
    )
    vliw_slots: int = Field(4, gt=0, le=MAX_SLOTS, strict=True,
                            description="Instructions per VLIW packet (at most 1024).")
    resources: SimdResources = Field(default_factory=SimdResources, description="Other per-packet resources.")
    macs_per_context_cycle: dict[str, SimdMacRates] = Field(
        description='MACs per cycle per context of each instruction class, per precision "W{w}A{a}" '
        "(weight bits, activation bits). Every key must be a compute mode in precision.modes."
    )
    kernel_costs: SimdKernelCosts = Field(
        default_factory=SimdKernelCosts,
        description="Costs the kernel library pays beyond the inner loops (layout padding, per-layer and per-call "
        "set-up, transfer latency, thread synchronisation); default: none (an ideal software pipeline).")

    @field_validator("macs_per_context_cycle")
    @classmethod
    def _mode_keys(cls, value: dict[str, SimdMacRates]) -> dict[str, SimdMacRates]:
        if not value:
            raise ValueError('at least one precision "W{w}A{a}"')
        for key in value:
            if not _MODE_KEY.match(key):
                raise ValueError(f'precision keys of the form "W8A8" (weight bits, activation bits), not {key!r}')
        return value

    @property
    def requant_outputs_per_context_cycle(self) -> int:
        """int32 outputs requantized per cycle per context by SIMD instructions.

        DERIVED from [ref:QEMUHexagon]: vmpye/vmpyo requantize one vector of ``vector_bits / 32`` int32 values in
        about two packets, so ``vector_bits / 64`` outputs per cycle (16 at 1024 bits).
        """
        return self.vector_bits // 64


class EngineBlock(_Strict):
    """A block of outputs of the MAC engine: pixels high x pixels wide x output channels deep."""

    height: int = Field(gt=0, le=MAX_COUNT, strict=True, description="Output rows (at most 65536).")
    width: int = Field(gt=0, le=MAX_COUNT, strict=True, description="Output columns (at most 65536).")
    depth: int = Field(gt=0, le=MAX_COUNT, strict=True, description="Output channels (at most 65536).")


def _rate(what: str) -> Any:
    """A strict output-unit cycles-per-element field (0..1024)."""
    return Field(gt=0, le=MAX_THROUGHPUT, strict=True, allow_inf_nan=False,
                 description=f"{what}: output-unit cycles per output element (at most 1024).")


class OutputRates(_Strict):
    """Cycles per output element of the MAC engine's output unit (scaling, activation, write-back), per op class."""

    mac: float = _rate("Conv / FC / depthwise with 32-bit accumulators, average pools")
    mac_wide_accumulator: float = _rate("MAC ops with 40-bit accumulators (16-bit activations)")
    add: float = _rate("Elementwise Add / Sub with rescaling")
    max_pool: float = _rate("Max pooling")
    other: float = _rate("Other ops: average pools, rescaling copies (Concat), global average pools")


class MacEngine(_Strict):
    """An Ethos-U-like NPU MAC engine: micro-blocks of dot products, output blocks sized to a banked shared buffer,
    a separate output unit (model: ``accelsim/hw/ethos.py``, docs/compute-units.md)."""

    kind: Literal["mac_engine"] = _kind("mac_engine")

    micro_block: EngineBlock = Field(description="Outputs computed per step (pixels x pixels x channels); "
                                     "with dot_product_channels it gives the MACs per cycle.")
    dot_product_channels: int = Field(8, gt=0, le=MAX_COUNT, strict=True,
                                      description="Input channels each output's dot product takes per cycle.")
    cores: int = Field(1, gt=0, le=MAX_SLOTS, strict=True,
                       description="MAC engines sharing each output block's work (Ethos-U65-512: 2), at most 1024.")
    output_block_max: EngineBlock = Field(description="Largest output block the engine runs.")
    subkernel_max: int = Field(8, gt=0, le=MAX_COUNT, strict=True,
                               description="Kernels larger than subkernel_max x subkernel_max taps are split into "
                               "sub-kernels of at most that size.")
    shram_banks: int = Field(gt=0, le=MAX_COUNT, strict=True, description="Banks of the shared buffer (SHRAM).")
    shram_bank_bytes: int = Field(1024, gt=0, le=2**30, strict=True, description="Bytes per SHRAM bank.")
    shram_reserved_banks: int = Field(0, ge=0, le=MAX_COUNT, strict=True,
                                      description="SHRAM banks not available to input / accumulator blocks "
                                      "(output staging, lookup table, unused); less than shram_banks.")
    ifm_bank_granule: int = Field(gt=0, le=MAX_COUNT, strict=True,
                                  description="Banks an input buffer is rounded up to (8-bit inputs).")
    accumulator_bank_granule: int = Field(gt=0, le=MAX_COUNT, strict=True,
                                          description="Banks a 32-bit accumulator buffer is rounded up to.")
    wide_accumulator_bank_granule: int = Field(gt=0, le=MAX_COUNT, strict=True,
                                               description="Banks a 40-bit accumulator buffer is rounded up to.")
    weight_load_cycles: int = Field(gt=0, le=int(MAX_CYCLES), strict=True,
                                    description="Minimum cycles of one kernel step of a block (the step's weights "
                                    "are loaded once for all micro-blocks), at most 1e6.")
    pool_tap_cycles: int = Field(gt=0, le=int(MAX_CYCLES), strict=True,
                                 description="Pooling: cycles per micro-block per kernel tap (at least 4 taps "
                                 "counted), at most 1e6.")
    block_delay_cycles: int = Field(0, ge=0, le=int(MAX_CYCLES), strict=True,
                                    description="Extra cycles per kernel step of a block one micro-block wide and "
                                    "high (accumulator pipeline latency), at most 1e6.")
    output_cycles_per_element: OutputRates = Field(description="Output-unit cycles per output element.")
    lut_activation_cycles_per_element: float = Field(
        1.0, gt=0, le=MAX_THROUGHPUT, strict=True, allow_inf_nan=False,
        description="An op whose output passes through a fused lookup-table activation (HardSwish, Sigmoid, Tanh, "
        "LeakyReLU; the op's output rate is raised to it): output-unit cycles per output element (at most 1024); "
        "default 1.0, Vela 5.2.0's LUT rate of Ethos-U55 and U65-256 (0.5 on U65-512).")

    @model_validator(mode="after")
    def _banks(self) -> "MacEngine":
        if self.shram_reserved_banks >= self.shram_banks:
            raise ValueError(f"shram_reserved_banks ({self.shram_reserved_banks}) must be less than shram_banks "
                             f"({self.shram_banks})")
        return self

    @property
    def macs_per_cycle(self) -> int:
        """Peak 8-bit MACs per cycle: micro-block outputs x dot-product channels x cores."""
        b = self.micro_block
        return b.height * b.width * b.depth * self.dot_product_channels * self.cores


#: A compute unit's settings, discriminated by ``kind``. A new unit kind with settings adds its model here.
ComputeUnit = Annotated[Union[SystolicArray, SimdUnit, MacEngine], Field(discriminator="kind")]
#: The unit kinds a config can hold (``kind`` of each :data:`ComputeUnit` member).
COMPUTE_KINDS: tuple[str, ...] = tuple(get_args(m.model_fields["kind"].annotation)[0]
                                       for m in get_args(get_args(ComputeUnit)[0]))


class Compute(RootModel[dict[str, ComputeUnit]]):
    """Compute units by name; a unit's ``kind`` defaults to its name (``compute: {systolic: {rows: 32, ...}}``),
    so every unit is addressed as ``compute.<name>.<key>``. At least one unit, at most one of each kind."""

    model_config = ConfigDict(frozen=True)
    _by_kind: dict[str, ComputeUnit] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _kind_from_name(cls, data: Any) -> Any:
        """Fill each unit's ``kind`` from its name; drop null units (``simd: null`` = no SIMD unit)."""
        if not isinstance(data, Mapping):
            return data
        return {name: ({"kind": name, **unit} if isinstance(unit, Mapping) and "kind" not in unit else unit)
                for name, unit in data.items() if unit is not None}

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        """Dumped as written: a kind equal to the name is left out, and an absent kind is a null entry (so
        ``config_hash`` and ``with_values`` paths are what they were when ``compute`` had one key per kind)."""
        data = handler(self)
        out: dict[str, Any] = {kind: None for kind in COMPUTE_KINDS}
        for name, unit in data.items():
            if unit.get("kind") == name:
                unit = {k: v for k, v in unit.items() if k != "kind"}
            out[name] = unit
        return out

    def units(self) -> dict[str, ComputeUnit]:
        """The units by name."""
        return dict(self.root)

    def model_post_init(self, context: Any) -> None:
        self._by_kind = {unit.kind: unit for unit in reversed(self.root.values())}

    def of_kind(self, kind: str) -> ComputeUnit | None:
        """The config's unit of ``kind`` (None if it has none)."""
        return self.__pydantic_private__["_by_kind"].get(kind)     # the slot: no __getattr__ on the hot path

    @property
    def systolic(self) -> SystolicArray | None:
        """The systolic array, if any."""
        return self.of_kind("systolic")

    @property
    def simd(self) -> SimdUnit | None:
        """The SIMD unit, if any."""
        return self.of_kind("simd")


# ---------------------------------------------------------------------------------------------------- precision
class PrecisionMode(_Strict):
    """One (weight bits, activation bits) pair the datapath supports."""

    weight_bits: int = Field(ge=1, le=32, strict=True, description="Weight operand width in bits.")
    activation_bits: int = Field(ge=1, le=32, strict=True, description="Activation operand width in bits.")
    throughput: float | None = Field(
        None, gt=0, le=MAX_THROUGHPUT, strict=True, allow_inf_nan=False,
        description="MACs per cycle per processing element in this mode (at most 1024), relative to one MAC per "
        "PE per cycle "
        "(the 8x8 rate where the datapath has one): 0.25 = four cycles per MAC, 16 = sixteen MACs per cycle. "
        "Required for compute modes; for a storage_only mode null means that of the mode it computes in.",
    )
    storage_only: bool = Field(
        False, strict=True,
        description="Weights are stored (and moved) at weight_bits but unpacked to the next wider compute mode "
        "with the same activation bits before the multiply (int4 on HVX).",
    )
    unpack_cycles_per_kib: float | None = Field(
        None, ge=0, le=MAX_CYCLES, strict=True, allow_inf_nan=False,
        description="storage_only modes: cycles to unpack 1 KiB of stored weights to the compute width (at most "
        "1e6).",
    )

    @property
    def key(self) -> str:
        """``W{w}A{a}``."""
        return mode_key(self.weight_bits, self.activation_bits)


class Precision(_Strict):
    """Accumulator width and the supported precision modes."""

    accumulator_bits: int = Field(32, ge=8, le=64, strict=True,
                                  description="Accumulator width in bits (>= w + a of every mode).")
    modes: tuple[PrecisionMode, ...] = Field(min_length=1, description="Supported (weight, activation) pairs.")

    def compute_modes(self) -> tuple[PrecisionMode, ...]:
        """The modes the multipliers execute natively (not storage-only)."""
        return tuple(m for m in self.modes if not m.storage_only)

    def compute_mode_for(self, mode: PrecisionMode) -> PrecisionMode | None:
        """The mode whose multipliers execute ``mode``: itself, or for a storage-only mode the narrowest compute
        mode with the same activation bits and at least its weight bits (None if there is none)."""
        if not mode.storage_only:
            return mode
        wider = [m for m in self.compute_modes()
                 if m.activation_bits == mode.activation_bits and m.weight_bits >= mode.weight_bits]
        return min(wider, key=lambda m: m.weight_bits, default=None)


# --------------------------------------------------------------------------------------------------- scale unit
class ScaleUnit(_Strict):
    """The requantization unit: int32 accumulators -> scaled, rounded, clamped narrow outputs."""

    lanes: int = Field(gt=0, le=MAX_COUNT, strict=True, description="Outputs requantized per cycle (at most 65536).")
    per_channel: bool = Field(True, strict=True, description="Supports one multiplier/shift per output channel.")
    rounding: RoundingMode = Field(
        "fixed_point", description="Rounding arithmetic (accelsim.quant.requant mode name)."
    )
    pipeline_latency_cycles: int = Field(4, ge=0, le=int(MAX_CYCLES), strict=True,
                                         description="Pipeline latency in cycles (fill/drain cost), at most 1e6.")
    fallback: ScaleFallback = Field(
        "none",
        description="none: a per-channel workload on a per-tensor unit is a mapping error; simd: run per-channel "
        "requantization on the SIMD unit instead (needs compute.simd).",
    )
    shared_with_simd: bool = Field(
        False, strict=True,
        description="true when requantization runs as SIMD instructions (HVX has no separate unit): its cycles "
        "add to the SIMD unit's instead of overlapping with them (needs compute.simd).",
    )
    energy_pj_per_op: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="Energy per requantized output in pJ (at most 1e6); null = derived from the energy table."
    )
    area_mm2: float | None = Field(None, ge=0, le=MAX_AREA_MM2, strict=True, allow_inf_nan=False,
                                   description=AREA_DESCRIPTION)
    scale_bytes_per_channel: int = Field(
        SCALE_BYTES_PER_CHANNEL, ge=1, le=64, strict=True,
        description="Bytes of one requantization scale set (multiplier + shift), stored once per output channel "
        "with per-channel weight scales and once per layer with a per-tensor scale (at most 64). Default 5: a "
        "32-bit multiplier and its shift in one byte (Ethos-U packs a 32-bit scale and a 6-bit shift with the "
        "40-bit bias into 10 bytes, Vela weight_compressor.encode_bias); TFLite's reference kernels and CMSIS-NN "
        "keep an int32 multiplier and an int32 shift per channel: 8.",
    )
    params_level: str | None = Field(
        None, min_length=1, max_length=64,
        description="On-chip memory level the scale unit loads the bias and scale sets from (a level holding "
        "weights); null = the innermost level holding weights.",
    )
    param_sets: int | None = Field(
        None, gt=0, le=MAX_COUNT, strict=True,
        description="Scale-set registers of a per-channel unit (at most 65536); null = lanes (one per lane). A "
        "tile with more output channels than sets reloads a set for every output value. A per-tensor unit holds "
        "one set.",
    )


# ----------------------------------------------------------------------------------------------------- memories
class MemoryLevel(_Strict):
    """One level of the memory hierarchy. On-chip kinds use size/banks/bytes_per_cycle, ``dram`` uses bandwidth."""

    kind: MemoryKind = Field(description="register_file | sram | dram.")
    size_kib: float | None = Field(None, gt=0, le=MAX_SIZE_KIB, strict=True, allow_inf_nan=False,
                                   description="On-chip: capacity in KiB (1 KiB = 1024 bytes), at most 1 TiB.")
    banks: int = Field(1, gt=0, le=MAX_COUNT, strict=True, description="On-chip: independent banks (at most 65536).")
    bytes_per_cycle: float | None = Field(
        None, gt=0, le=MAX_BYTES_PER_CYCLE, strict=True, allow_inf_nan=False,
        description="On-chip: bytes per cycle the level delivers (all banks together), at most 1 MiB."
    )
    access_bits: int | None = Field(
        None, ge=8, le=65536, strict=True,
        description="On-chip: bits one access of one bank moves (its port width), for the energy, leakage and area "
        "of the level by organisation (docs/energy-tables.md §Memories by organisation); null = bytes_per_cycle x 8 "
        "/ banks (64 without bytes_per_cycle).",
    )
    ports: int = Field(
        1, ge=1, le=2, strict=True,
        description="On-chip: ports of each bank for the energy, leakage and area by organisation: 1 = one "
        "read-write port, 2 = one read port plus one write port (a dual-port array).",
    )
    operands: tuple[Operand, ...] = Field(
        ("weights", "inputs", "outputs"),
        description="Operands this level holds (weights, inputs, outputs); e.g. SCALE-Sim's separate ifmap, "
        "filter and ofmap SRAMs, or Gemmini's accumulator (outputs only).",
    )
    read_energy_pj_per_byte: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="On-chip: read energy in pJ/byte (at most 1e6); null = from the energy table by kind and size."
    )
    write_energy_pj_per_byte: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="On-chip: write energy in pJ/byte (at most 1e6); null = from the energy table by kind and size."
    )
    area_mm2: float | None = Field(None, ge=0, le=MAX_AREA_MM2, strict=True, allow_inf_nan=False,
                                   description="On-chip: " + AREA_DESCRIPTION)
    bandwidth_gb_s: float | None = Field(None, gt=0, le=MAX_BANDWIDTH_GB_S, strict=True, allow_inf_nan=False,
                                         description="dram: bandwidth in GB/s (1e9 bytes/s), at most 100 TB/s.")
    dram_type: DramType | None = Field(None, description="dram: memory type (selects the energy per bit).")
    background_mw: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="dram: background plus refresh power of the whole DRAM in mW (at most 1e6), charged over the "
        "latency; null = the dram_types table's mW per GB/s x bandwidth_gb_s (0 for types without one).")
    energy_pj_per_bit: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="dram: access energy in pJ/bit (at most 1e6); null = the dram_types table figure for dram_type."
    )
    double_buffered: bool = Field(
        True, strict=True,
        description="On-chip: true (default) when the level holds two tile sets at a staging boundary (the next "
        "one fills while the datapath works on this one), so one tile set may use half of it; false when the level "
        "is filled and drained between tile sets (no overlap), so one tile set may use all of it (Eyeriss's "
        "ifmap/psum global buffer: Chen et al., JSSC 2017 §VI-A).",
    )
    psum_bits: int | None = Field(
        None, ge=8, le=64, strict=True,
        description="On-chip: bits per partial sum this level holds between reduction passes (a datapath that "
        "truncates its products, e.g. Eyeriss's 16-bit psums: Chen et al., JSSC 2017 §V-C); null = "
        "precision.accumulator_bits.",
    )
    activation_stored_ratio: float = Field(
        1.0, gt=0, le=1, strict=True, allow_inf_nan=False,
        description="dram: bytes stored and moved per raw byte of the activations the accelerator writes to and "
        "reads back from this level (an activation codec at the DRAM interface, e.g. Eyeriss's run-length "
        "coding); 1 = stored raw (default). Weights, partial sums and the network's input are never encoded.",
    )
    burst_bytes: int | None = Field(
        None, ge=1, le=65536, strict=True,
        description="dram: bytes one access burst moves; a contiguous read run shorter than a burst still moves a "
        "whole burst, counted in the level's bytes and time (Vela 5.2.0 vela.ini <port>_burst_length; e.g. 128 for "
        "Ethos_U65_Client_Server's DRAM); null = bytes counted as read (default).",
    )
    read_only: bool = Field(
        False, strict=True,
        description="dram: true for a read-only off-chip memory (flash, as on Ethos-U systems): it holds weights "
        "and constants only (operands: [weights]); no activation or partial sum is ever written there, so every "
        "activation must stay on chip (graph_io: onchip).",
    )

    @property
    def is_onchip(self) -> bool:
        """True for register files and SRAMs."""
        return self.kind != "dram"

    @property
    def size_bytes(self) -> int:
        """On-chip capacity in bytes."""
        if self.size_kib is None:
            raise UnsupportedError(f"a {self.kind} level has no size")
        return int(round(self.size_kib * 1024))


_ONCHIP_ONLY = ("size_kib", "banks", "bytes_per_cycle", "access_bits", "ports", "read_energy_pj_per_byte",
                "write_energy_pj_per_byte", "area_mm2", "double_buffered", "psum_bits")
_DRAM_ONLY = ("bandwidth_gb_s", "dram_type", "background_mw", "energy_pj_per_bit", "read_only",
              "activation_stored_ratio", "burst_bytes")


# ------------------------------------------------------------------------------------------------ decompression
class Decompression(_Strict):
    """On-the-fly weight decompression between a memory level and the compute units."""

    codecs: tuple[Codec, ...] = Field(min_length=1, description="Codecs the unit decodes.")
    raw_when_larger: bool = Field(
        True, strict=True,
        description="true: a weight tensor no codec shrinks is stored and moved uncompressed (a bypass path); "
        "false: weights are always stored encoded, even when the stream is larger (Arm Ethos-U: Vela encodes "
        "every weight tensor for the NPU's weight decoder).",
    )
    output_bytes_per_cycle: float = Field(gt=0, le=MAX_BYTES_PER_CYCLE, strict=True, allow_inf_nan=False,
                                          description="Decompressed bytes produced per cycle (at most 1 MiB).")
    energy_pj_per_byte: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, strict=True, allow_inf_nan=False,
        description="Energy per decompressed byte in pJ (at most 1e6); null = derived from the energy table."
    )
    area_mm2: float | None = Field(None, ge=0, le=MAX_AREA_MM2, strict=True, allow_inf_nan=False,
                                   description=AREA_DESCRIPTION)

    @field_validator("codecs")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each codec listed once")
        return value


# ------------------------------------------------------------------------------------------------- runtime
class FrameworkOverhead(_Strict):
    """Host-side cost of running a network through an inference framework (e.g. Android NN-API or a TFLite
    delegate: the call from the application, the driver hand-off, the remote call to the accelerator and back),
    reported apart from the accelerator's own latency (``framework_overhead_ms`` and ``end_to_end_latency_ms`` in
    the report totals; ``latency_ms`` stays accelerator-only). Any accelerator behind a framework pays it."""

    per_inference_us: float = Field(
        0.0, ge=0, le=1e7, strict=True, allow_inf_nan=False,
        description="Microseconds per inference call (one simulate run), at most 10 s; default 0.")
    per_op_us: float = Field(
        0.0, ge=0, le=1e6, strict=True, allow_inf_nan=False,
        description="Microseconds per op the accelerator runs (each layer with work), at most 1 s; default 0.")
    source: str = Field("", description="Where the figures come from (free text; not part of config_hash).")

    def overhead_us(self, ops: int) -> float:
        """Framework time of one inference of ``ops`` ops: ``per_inference_us + ops x per_op_us``."""
        return self.per_inference_us + ops * self.per_op_us


# ------------------------------------------------------------------------------------------------- the config
class HardwareConfig(_Strict):
    """One accelerator. See ``docs/hw-config.md`` for every key with its unit."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="Identifier used in reports.")
    description: str = Field("", description="Free text (not part of config_hash).")
    clock_mhz: float = Field(gt=0, le=MAX_CLOCK_MHZ, strict=True, allow_inf_nan=False,
                             description="Clock frequency in MHz of the compute units and on-chip memories (at "
                             "most 100 GHz).")
    technology: Technology = Field(default_factory=Technology, description="Energy table and node.")
    compute: Compute = Field(description="Compute units by name, each with a kind (systolic, simd; default: its "
                             "name); at least one, at most one of each kind.")
    precision: Precision = Field(description="Accumulator width and supported precision modes.")
    scale_unit: ScaleUnit = Field(description="Requantization unit.")
    memories: dict[str, MemoryLevel] = Field(
        description="Memory levels by name, innermost first; exactly one dram level, the last. A sweep addresses "
        "a field as memories.<name>.<field>, e.g. memories.vtcm.size_kib."
    )
    decompression: Decompression | None = Field(None, description="Weight decompression unit (optional).")
    graph_io: GraphIoPlacement = Field(
        "dram",
        description="Where the graph's inputs and outputs live: dram (read from and written to DRAM), or onchip "
        "(in the on-chip activation level when they fit there with the live activations, as Arm Vela places "
        "them; DRAM otherwise). Must be onchip when the off-chip level is read_only.",
    )
    framework: FrameworkOverhead = Field(
        default_factory=FrameworkOverhead,
        description="Inference-framework overhead (NN-API / delegate dispatch), reported apart from the "
        "accelerator latency; default none.")
    weight_buffering: WeightBuffering = Field(
        "when_reread",
        description="For units that stream operands block by block (mac_engine): when a layer's weights are "
        "copied once into the outer on-chip level instead of read from their off-chip home per output block. "
        "when_reread: only when several output blocks re-read them and those re-reads would not hide under the "
        "layer's compute (Arm Vela's Shared_Sram scheduling: the SRAM also holds the feature maps); always: "
        "every weight tensor but a vector product's (Vela's Dedicated_Sram: the SRAM is the NPU's cache). "
        "Other units ignore it.",
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> HardwareConfig:
        _check_compute(self)
        _check_precision(self)
        _check_scale_unit(self)
        _check_memories(self)
        return self

    # ---- convenience for architects and the timing model
    def mode(self, weight_bits: int, activation_bits: int) -> PrecisionMode:
        """The supported mode (weight_bits, activation_bits); UnsupportedError naming the supported ones."""
        for m in self.precision.modes:
            if m.weight_bits == weight_bits and m.activation_bits == activation_bits:
                return m
        known = ", ".join(m.key for m in self.precision.modes)
        raise UnsupportedError(
            f"hardware {self.name!r} has no precision mode {mode_key(weight_bits, activation_bits)}; "
            f"it supports {known}"
        )

    def levels_for(self, operand: Operand) -> dict[str, MemoryLevel]:
        """The hierarchy of one operand: the levels that hold it, innermost first, ending with DRAM."""
        return {name: level for name, level in self.memories.items() if operand in level.operands}

    def onchip_levels(self) -> dict[str, MemoryLevel]:
        """On-chip levels (register files, SRAMs) by name, innermost first."""
        return {name: level for name, level in self.memories.items() if level.is_onchip}

    @property
    def dram_name(self) -> str:
        """Name of the DRAM level."""
        return next(reversed(self.memories))

    @property
    def dram(self) -> MemoryLevel:
        """The DRAM level (always the last one)."""
        return self.memories[self.dram_name]

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM bandwidth in bytes per compute cycle: bandwidth_gb_s * 1e9 / (clock_mhz * 1e6)."""
        return self.dram.bandwidth_gb_s * 1e3 / self.clock_mhz

    def config_hash(self) -> str:
        """A stable 16-hex-digit hash of the validated content (defaults filled in; ``description`` excluded;
        the order of the memory levels counts; ``framework.source`` excluded; the framework overhead, a SIMD unit's
        kernel costs and a systolic array's second stationary buffer count only when set, so configs without them keep
        the hash they had before those keys)."""
        content = self.model_dump(mode="json", exclude={"description": True, "framework": {"source"}})
        content["memories"] = list(content["memories"].items())
        if self.framework.overhead_us(1) == 0:
            del content["framework"]
        for unit in content["compute"].values():
            if isinstance(unit, dict) and unit.get("kernel_costs") == SimdKernelCosts().model_dump(mode="json"):
                del unit["kernel_costs"]
            if isinstance(unit, dict) and unit.get("stationary_buffers") == 1:
                del unit["stationary_buffers"]
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_values(self, values: Mapping[str, Any]) -> HardwareConfig:
        """A copy with dotted key paths set (``{"memories.vtcm.size_kib": 512, "precision.modes[0].throughput": 2}``),
        validated again; a bad path or value is a ConfigError naming the key path."""
        data = self.model_dump(mode="python")
        for path, value in values.items():
            _set_path(data, path, value)
        return validate_hw(data, file="")


# ------------------------------------------------------------------------------------------ cross-field checks
def _fail(key_path: str, expected: str, found: object) -> NoReturn:
    raise ConfigError("", key_path, expected, found)


def _check_compute(hw: HardwareConfig) -> None:
    units = hw.compute.units()
    if not units:
        _fail("compute", f"at least one of {', '.join(COMPUTE_KINDS)}", "neither")
    for kind in COMPUTE_KINDS:
        names = [name for name, unit in units.items() if unit.kind == kind]
        if len(names) > 1:
            _fail(f"compute.{names[1]}", f"at most one unit of kind {kind} (the cost model assigns by kind)",
                  f"a second one after compute.{names[0]}")
    for name, unit in units.items():
        if unit.kind == "systolic" and unit.stationary_buffers > 1 and unit.dataflow not in ("ws", "is"):
            _fail(f"compute.{name}.stationary_buffers", f"1 for dataflow {unit.dataflow} (a second stationary "
                  "register needs a preloaded operand: dataflow ws or is)", unit.stationary_buffers)
        if unit.kind == "simd" and unit.multiply_resources > unit.vliw_slots:
            _fail(f"compute.{name}.multiply_resources", f"at most vliw_slots ({unit.vliw_slots})",
                  unit.multiply_resources)


def _check_precision(hw: HardwareConfig) -> None:
    precision = hw.precision
    seen: set[str] = set()
    for i, m in enumerate(precision.modes):
        where = f"precision.modes[{i}]"
        if m.key in seen:
            _fail(where, "each (weight_bits, activation_bits) pair listed once", m.key)
        seen.add(m.key)
        if m.storage_only:
            executed = precision.compute_mode_for(m)
            if executed is None:
                _fail(where, f"a compute mode with activation_bits {m.activation_bits} and weight_bits >= "
                      f"{m.weight_bits} to unpack storage-only weights into", m.key)
            if m.throughput is not None and m.throughput != executed.throughput:
                _fail(f"{where}.throughput", f"null or {executed.throughput} (that of {executed.key}, which "
                      "executes it)", m.throughput)
        else:
            if m.throughput is None:
                _fail(f"{where}.throughput", "a number > 0 for a compute mode", None)
            if m.unpack_cycles_per_kib is not None:
                _fail(f"{where}.unpack_cycles_per_kib", "null unless storage_only is true", m.unpack_cycles_per_kib)
            if m.weight_bits + m.activation_bits > precision.accumulator_bits:
                _fail("precision.accumulator_bits", f"at least {m.weight_bits + m.activation_bits} bits (the "
                      f"product width of {m.key})", precision.accumulator_bits)
    compute = precision.compute_modes()
    if not compute:
        _fail("precision.modes", "at least one mode that is not storage_only", [m.key for m in precision.modes])
    # A mode with wider (or equal) operands never runs faster than a narrower one.
    for i, wide in enumerate(precision.modes):
        for narrow in compute:
            if (wide is not narrow and not wide.storage_only and wide.weight_bits >= narrow.weight_bits
                    and wide.activation_bits >= narrow.activation_bits and wide.throughput > narrow.throughput):
                _fail(f"precision.modes[{i}].throughput", f"at most {narrow.throughput} (the throughput of the "
                      f"narrower mode {narrow.key})", wide.throughput)
    simd = hw.compute.simd
    if simd is None:
        return
    compute_keys = [m.key for m in compute]
    for key in simd.macs_per_context_cycle:
        if key not in compute_keys:
            _fail(f"compute.simd.macs_per_context_cycle.{key}", f"a compute mode of precision.modes "
                  f"({', '.join(compute_keys)})", key)
    if hw.compute.systolic is None:
        # The SIMD unit is the only datapath: every compute mode needs MAC rates, in the ratio of the throughputs.
        reference = compute[0]
        for i, m in enumerate(precision.modes):
            if m.storage_only:
                continue
            if m.key not in simd.macs_per_context_cycle:
                _fail(f"compute.simd.macs_per_context_cycle.{m.key}", f"MAC rates for every compute mode "
                      f"(missing {m.key})", None)
            ratio = simd.macs_per_context_cycle[m.key].peak / simd.macs_per_context_cycle[reference.key].peak
            if abs(m.throughput - reference.throughput * ratio) > 1e-9 * reference.throughput:
                _fail(f"precision.modes[{i}].throughput", f"{reference.throughput * ratio:g} (peak MACs of "
                      f"{m.key} / {reference.key} in compute.simd.macs_per_context_cycle x {reference.throughput:g})",
                      m.throughput)


def _check_scale_unit(hw: HardwareConfig) -> None:
    unit = hw.scale_unit
    if unit.fallback == "simd" and hw.compute.simd is None:
        _fail("scale_unit.fallback", "none (fallback simd needs a compute.simd unit)", "simd")
    if unit.fallback == "simd" and unit.per_channel:
        _fail("scale_unit.fallback", "none (a per-channel unit needs no fallback)", "simd")
    if unit.shared_with_simd and hw.compute.simd is None:
        _fail("scale_unit.shared_with_simd", "false (no compute.simd unit to share)", True)
    if unit.param_sets is not None and not unit.per_channel and not unit.shared_with_simd:
        _fail("scale_unit.param_sets", "null (a per-tensor unit holds one scale set)", unit.param_sets)
    if unit.params_level is not None:
        level = hw.memories.get(unit.params_level)
        if level is None or not level.is_onchip or "weights" not in level.operands:
            holding = [n for n, lv in hw.onchip_levels().items() if "weights" in lv.operands]
            _fail("scale_unit.params_level", f"an on-chip level holding weights ({', '.join(holding)})",
                  unit.params_level)


def _is_set(level: MemoryLevel, key: str) -> bool:
    """True if ``key`` holds a value other than its default."""
    return getattr(level, key) != MemoryLevel.model_fields[key].default


def _check_memories(hw: HardwareConfig) -> None:
    if not hw.memories:
        _fail("memories", "at least one on-chip level and a dram level", {})
    names = list(hw.memories)
    drams = [n for n in names if hw.memories[n].kind == "dram"]
    if not drams:
        _fail("memories", "exactly one level of kind dram, listed last", f"no dram level among {names}")
    if len(drams) > 1:
        _fail(f"memories.{drams[1]}.kind", f"one dram level only (already {drams[0]})", "dram")
    if names[-1] != drams[0]:
        _fail(f"memories.{drams[0]}", "the dram level listed last (levels go innermost first)",
              f"followed by {names[names.index(drams[0]) + 1:]}")
    if len(names) < 2:
        _fail("memories", "at least one on-chip level before dram", names)
    for name, level in hw.memories.items():
        where = f"memories.{name}"
        if level.is_onchip:
            for key in ("size_kib", "bytes_per_cycle"):
                if getattr(level, key) is None:
                    _fail(f"{where}.{key}", f"a number > 0 for a {level.kind} level", None)
            wrong = [k for k in _DRAM_ONLY if _is_set(level, k)]
            if wrong:
                _fail(f"{where}.{wrong[0]}", f"no {wrong[0]} on a {level.kind} level (dram only)",
                      getattr(level, wrong[0]))
        else:
            if level.bandwidth_gb_s is None:
                _fail(f"{where}.bandwidth_gb_s", "a number > 0 for the dram level", None)
            if level.dram_type is None and level.energy_pj_per_bit is None:
                _fail(f"{where}.dram_type", "a DRAM type (or an explicit energy_pj_per_bit)", None)
            wrong = [k for k in _ONCHIP_ONLY if _is_set(level, k)]
            if wrong:
                _fail(f"{where}.{wrong[0]}", f"no {wrong[0]} on the dram level (on-chip only)",
                      getattr(level, wrong[0]))
        if len(set(level.operands)) != len(level.operands) or not level.operands:
            _fail(f"{where}.operands", "a non-empty list of distinct operands (weights, inputs, outputs)",
                  list(level.operands))
        if not level.is_onchip and level.read_only and tuple(level.operands) != ("weights",):
            _fail(f"{where}.operands", "[weights] for a read_only level (it holds weights and constants only)",
                  list(level.operands))
        if not level.is_onchip and not level.read_only and len(level.operands) != 3:
            _fail(f"{where}.operands", "all of weights, inputs, outputs (DRAM backs every operand)",
                  list(level.operands))
    if hw.dram.read_only and hw.graph_io != "onchip":
        _fail("graph_io", f"onchip (the off-chip level {hw.dram_name!r} is read_only: activations cannot go "
              "there)", hw.graph_io)
    for operand in get_args(Operand):
        if not any(operand in hw.memories[n].operands for n in names[:-1]):
            _fail("memories", f"an on-chip level holding {operand}", "none")


# ---------------------------------------------------------------------------------------------------- loading
def _set_path(data: Any, path: str, value: Any) -> None:
    """Set ``value`` at a dotted key path with ``[i]`` list indices in nested dicts/lists (in place)."""
    parts = split_key_path(path)
    node = data
    try:
        for part in parts[:-1]:
            child = node[part]
            if isinstance(child, tuple):
                child = node[part] = list(child)
            node = child
        node[parts[-1]] = value  # a new, unknown key is reported by validation
    except (KeyError, IndexError, TypeError):
        raise ConfigError("", path, "an existing key path", value) from None


def validate_hw(data: Any, file: str) -> HardwareConfig:
    """Validate parsed YAML into a HardwareConfig; errors are ConfigErrors naming ``file`` and the key path."""
    try:
        return validate_model(HardwareConfig, data, file, {"compute": COMPUTE_KINDS})
    except ConfigError as exc:
        if exc.file or not file:
            raise
        raise exc.moved(file=file) from None


def load_hw(path: str | Path) -> HardwareConfig:
    """Load and validate a hardware config YAML file.

    A relative user energy-table path is resolved against the config file's folder and must exist.
    """
    path = Path(path)
    hw = validate_hw(read_yaml(path), str(path))
    table = hw.technology.energy_table
    if hw.technology.is_builtin_table:
        return hw
    table_path = Path(table)
    if not table_path.is_absolute():
        table_path = (path.parent / table_path).resolve()
    if not table_path.is_file():
        raise ConfigError(str(path), "technology.energy_table", "an existing energy table file", table)
    technology = hw.technology.model_copy(update={"energy_table": str(table_path)})
    return hw.model_copy(update={"technology": technology})


def hardware_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of hardware config files, with every key's description."""
    schema = HardwareConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "accelsim hardware config"
    return schema
