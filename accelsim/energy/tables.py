"""Named, cited energy/area tables (``accelsim/energy/tables/*.yaml``) and pure lookup functions.

A table is YAML data: ``name``, ``citation``, ``node_nm`` and optional sections, each figure with a ``source``
and a ``status`` (published | derived | unconfirmed | assumption). A section may be taken from a built-in table
with ``{from_table: NAME}`` (e.g. ``sram: {from_table: cacti45_sram}``); the loaded section then records it in
its own ``from_table``. Results that use a table record ``table.name`` (and ``table.sources`` for the tables it
draws on). Every formula and scaling rule is listed in ``docs/energy-tables.md``.

Units: energies in pJ, areas in um^2 (logic) or mm^2 (SRAM), sizes in KiB, widths in bits.
"""
from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accelsim.config.hw import MAX_ENERGY_PJ, RoundingMode
from accelsim.config.loading import read_yaml, validate_model
from accelsim.errors import ConfigError, UnsupportedError

Status = Literal["published", "derived", "unconfirmed", "assumption"]

#: Requantization modes with an energy formula (``requant_op_energy_pj``).
REQUANT_MODES: tuple[str, ...] = get_args(RoundingMode)


#: Widest operand a table may tabulate (bits; strict integers: ``bits: true`` is an error).
MAX_BITS = 64


class _Strict(BaseModel):
    """Frozen, no unknown keys, finite floats (an .inf or .nan energy is an error naming its key path)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Section(_Strict):
    from_table: str | None = Field(None, description="The built-in table this section was taken from; null = own.")


class WidthPoint(_Strict):
    """One operator width with its published energy (and area)."""

    bits: int = Field(gt=0, le=MAX_BITS, strict=True)
    energy_pj: float = Field(ge=0, le=MAX_ENERGY_PJ)
    area_um2: float | None = Field(None, ge=0)
    status: Status
    source: str


class IntOpSection(_Section):
    """An integer adder or multiplier: tabulated widths plus the scaling rule for the others."""

    reference_bits: int = Field(gt=0, le=MAX_BITS, strict=True, description="The tabulated width other widths are scaled from.")
    scaling_source: str = Field(description="Why the scaling law holds (and whether it is an assumption).")
    points: tuple[WidthPoint, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _reference_tabulated(self) -> IntOpSection:
        widths = [p.bits for p in self.points]
        if len(set(widths)) != len(widths):
            raise ValueError(f"each width tabulated once, found {widths}")
        if self.reference_bits not in widths:
            raise ValueError(f"a point at reference_bits {self.reference_bits}, found widths {widths}")
        return self

    def point(self, bits: int) -> WidthPoint | None:
        """The tabulated point of this width, if any."""
        return next((p for p in self.points if p.bits == bits), None)

    @property
    def reference(self) -> WidthPoint:
        """The point other widths scale from."""
        return self.point(self.reference_bits)


class MacPoint(_Strict):
    """A whole processing element at one precision: energy per MAC (accumulator included) and PE area."""

    weight_bits: int = Field(gt=0, le=MAX_BITS, strict=True)
    activation_bits: int = Field(gt=0, le=MAX_BITS, strict=True)
    energy_pj: float = Field(ge=0, le=MAX_ENERGY_PJ, description="Energy per MAC in pJ.")
    area_um2: float | None = Field(None, ge=0, description="Area of one PE in um^2.")
    status: Status
    source: str


class MacSection(_Section):
    """Per-precision PE figures (they take precedence over adder + multiplier)."""

    points: tuple[MacPoint, ...] = Field(min_length=1)

    def point(self, weight_bits: int, activation_bits: int) -> MacPoint | None:
        """The tabulated PE of this precision, if any."""
        return next((p for p in self.points
                     if p.weight_bits == weight_bits and p.activation_bits == activation_bits), None)


class OpFigure(_Section):
    """One operator (float32 add or multiply)."""

    energy_pj: float = Field(ge=0, le=MAX_ENERGY_PJ)
    area_um2: float | None = Field(None, ge=0)
    status: Status
    source: str


class SramPoint(_Strict):
    """An SRAM of one capacity: energy per access of ``access_bits``."""

    size_kib: float = Field(gt=0)
    access_bits: int = Field(gt=0, le=MAX_BITS, strict=True)
    read_energy_pj: float = Field(ge=0, le=MAX_ENERGY_PJ)
    write_energy_pj: float | None = Field(None, ge=0, le=MAX_ENERGY_PJ, description="null: writes cost a read (an assumption).")
    status: Status
    source: str


class SramAreaPoint(_Strict):
    """The area of an SRAM of one capacity."""

    size_kib: float = Field(gt=0)
    area_mm2: float = Field(gt=0)
    status: Status
    source: str


class _SizeCurve(_Section):
    extrapolation_exponent: float = Field(
        ge=0, description="Beyond the points the value scales as (size / nearest point size)^exponent."
    )
    extrapolation_status: Status
    extrapolation_source: str

    @model_validator(mode="after")
    def _sizes_ascending(self) -> _SizeCurve:
        sizes = [p.size_kib for p in self.points]
        if sizes != sorted(set(sizes)):
            raise ValueError(f"points in strictly ascending size_kib, found {sizes}")
        return self


class SramSection(_SizeCurve):
    """SRAM access energy by capacity."""

    points: tuple[SramPoint, ...] = Field(min_length=1)


class SramAreaSection(_SizeCurve):
    """SRAM area by capacity."""

    points: tuple[SramAreaPoint, ...] = Field(min_length=1)


class RegisterFileFigure(_Section):
    """Register file access energy (and area) per bit."""

    energy_pj_per_bit: float = Field(ge=0, le=MAX_ENERGY_PJ)
    area_um2_per_bit: float | None = Field(None, ge=0)
    status: Status
    source: str


class LeakageFigure(_Section):
    """Share of logic energy that is leakage, at the table's characterisation clock."""

    fraction: float = Field(ge=0, lt=1)
    clock_mhz: float | None = Field(
        None, gt=0, le=100_000, description="Clock the fraction was measured at, in MHz (leakage power = "
        "fraction / (1 - fraction) x peak dynamic energy per cycle x this clock); null = the design's clock.")
    status: Status
    source: str


class DramFigure(_Strict):
    """DRAM access energy of one memory type (pJ/bit; read = write), its components, and its background power.

    The built-in figures are generated by ``tools/make_dram_table.py`` (IDD-current method, [ref:MicronTN4101]);
    ``docs/energy-tables.md`` §DRAM lists the inputs and assumptions."""

    energy_pj_per_bit: float = Field(gt=0, le=MAX_ENERGY_PJ, description="Access energy per bit in pJ "
                                     "(activate/precharge + read/write core + I/O; no background power).")
    status: Status
    source: str
    activate_pj_per_bit: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, description="Activate + precharge share in pJ/bit at the table's row-hit "
        "rate; null = not broken down.")
    read_write_pj_per_bit: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, description="Read/write core (array + datapath) share in pJ/bit; null = not "
        "broken down.")
    io_pj_per_bit: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, description="Interface (data pins: line charging + termination) share in "
        "pJ/bit; null = not derived (the total is a published figure).")
    background_mw_per_gb_s: float | None = Field(
        None, ge=0, le=MAX_ENERGY_PJ, description="Background (active standby) plus refresh power in mW per GB/s "
        "of interface bandwidth: one device's power / its peak bandwidth; null = not known (not modelled).")
    background_status: Status | None = None
    background_source: str | None = None

    @model_validator(mode="after")
    def _components_sum(self) -> DramFigure:
        parts = (self.activate_pj_per_bit, self.read_write_pj_per_bit, self.io_pj_per_bit)
        if all(p is not None for p in parts) and not math.isclose(sum(parts), self.energy_pj_per_bit,
                                                                  rel_tol=1e-3, abs_tol=1e-3):
            raise ValueError(f"energy_pj_per_bit {self.energy_pj_per_bit} is not activate + read_write + io = "
                             f"{sum(parts):g}")
        return self


class EnergyTable(_Strict):
    """A named, cited energy/area table. Every section is optional; a lookup that needs a missing one raises
    UnsupportedError naming the table."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    citation: str = Field(min_length=1, description="Full reference of the figures.")
    node_nm: float | None = Field(gt=0, description="Process node of the figures in nm (null for DRAM-only).")
    vdd_v: float | None = Field(None, gt=0, le=5, description="Supply voltage of the figures in V; null = the "
                                "node's nominal supply (technology scaling, accelsim.energy.scaling).")
    description: str = ""
    notes: str = ""
    int_add: IntOpSection | None = None
    int_mult: IntOpSection | None = None
    mac: MacSection | None = None
    float32_add: OpFigure | None = None
    float32_mult: OpFigure | None = None
    sram: SramSection | None = None
    sram_area: SramAreaSection | None = None
    register_file: RegisterFileFigure | None = None
    leakage: LeakageFigure | None = None
    dram_types: dict[str, DramFigure] | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """This table's name followed by the built-in tables its sections come from."""
        borrowed = {getattr(self, key).from_table for key in _INCLUDABLE
                    if getattr(self, key) is not None and getattr(self, key).from_table}
        return (self.name, *sorted(borrowed - {self.name}))


_INCLUDABLE = ("int_add", "int_mult", "mac", "float32_add", "float32_mult", "sram", "sram_area", "register_file",
               "leakage")


# ------------------------------------------------------------------------------------------------------ loading
@lru_cache(maxsize=1)
def builtin_table_names() -> tuple[str, ...]:
    """Names of the tables shipped in ``accelsim/energy/tables/`` (listed once per process)."""
    folder = resources.files("accelsim.energy") / "tables"
    return tuple(sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")))


def load_energy_table(name_or_path: str | Path) -> EnergyTable:
    """A built-in table by name (``horowitz45``) or a user table from a YAML file, validated.

    Errors are ConfigErrors naming the file and key path; ``{from_table: NAME}`` sections must name built-ins.
    """
    text = str(name_or_path)
    if text in builtin_table_names():
        return _load_builtin(text)
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError("", "energy_table", f"a built-in table ({', '.join(builtin_table_names())}) or a "
                          ".yaml file", text)
    return _load_file(path)


def _builtin_path(name: str) -> Path:
    return Path(str(resources.files("accelsim.energy") / "tables" / f"{name}.yaml"))


@lru_cache(maxsize=None)
def _load_builtin(name: str) -> EnergyTable:
    table = _load_file(_builtin_path(name))
    if table.name != name:
        raise ConfigError(str(_builtin_path(name)), "name", f"the file's stem {name!r}", table.name)
    return table


def _load_file(path: Path) -> EnergyTable:
    """Read, replace each ``{from_table: NAME}`` section by that built-in table's section, validate."""
    data = read_yaml(path)
    if isinstance(data, dict):
        data = dict(data)
        for key in _INCLUDABLE:
            section = data.get(key)
            if isinstance(section, dict) and set(section) == {"from_table"}:
                data[key] = _borrowed_section(path, key, section["from_table"], ())
    return validate_model(EnergyTable, data, str(path))


def _borrowed_section(path: Path, key: str, source: object, seen: tuple[str, ...]) -> dict[str, Any]:
    """Section ``key`` of built-in table ``source`` (following its own ``from_table`` links), marked with the
    table that holds the figures."""
    names = builtin_table_names()
    if source not in names or source in seen:
        raise ConfigError(str(path), f"{key}.from_table", f"a built-in table ({', '.join(names)}) with a {key} "
                          "section (no cycles)", source)
    section = (read_yaml(_builtin_path(source)) or {}).get(key)
    if not isinstance(section, dict):
        raise ConfigError(str(path), f"{key}.from_table", f"a table with a {key} section", source)
    if set(section) == {"from_table"}:
        return _borrowed_section(path, key, section["from_table"], (*seen, source))
    return {**section, "from_table": source}


def _require(table: EnergyTable, key: str, what: str) -> Any:
    section = getattr(table, key)
    if section is None:
        raise UnsupportedError(f"energy table {table.name!r} has no {what} figures")
    return section


# --------------------------------------------------------------------------------------------------- arithmetic
def _figure(table: EnergyTable, exact: WidthPoint | None, reference: WidthPoint, scale: float, field: str) -> float:
    """``field`` of the tabulated point, else of the reference point times ``scale``."""
    value = getattr(exact or reference, field)
    if value is None:
        raise UnsupportedError(f"energy table {table.name!r} gives no {field} for its {reference.bits}-bit operators")
    return value if exact else value * scale


def _adder(table: EnergyTable, bits: int, field: str) -> float:
    section: IntOpSection = _require(table, "int_add", "integer adder")
    return _figure(table, section.point(bits), section.reference, bits / section.reference_bits, field)


def _multiplier(table: EnergyTable, weight_bits: int, activation_bits: int, field: str) -> float:
    section: IntOpSection = _require(table, "int_mult", "integer multiplier")
    exact = section.point(weight_bits) if weight_bits == activation_bits else None
    scale = weight_bits * activation_bits / section.reference_bits**2
    return _figure(table, exact, section.reference, scale, field)


def add_energy_pj(table: EnergyTable, bits: int) -> float:
    """Energy of one integer add of ``bits`` width, in pJ: the tabulated figure, else linear in width from the
    table's reference width (Sze et al. 2017 §7.1.1; an assumption for untabulated widths)."""
    return _adder(table, bits, "energy_pj")


def mult_energy_pj(table: EnergyTable, weight_bits: int, activation_bits: int) -> float:
    """Energy of one integer multiply, in pJ: the tabulated figure for a square width, else proportional to
    ``weight_bits * activation_bits`` from the reference width (an assumption; Sze et al. 2017 §7.1.1)."""
    return _multiplier(table, weight_bits, activation_bits, "energy_pj")


def _pe_figure(table: EnergyTable, weight_bits: int, activation_bits: int, field: str) -> float | None:
    """A per-precision PE figure: tabulated, else the geometric mean of the two square PEs; None without a
    ``mac`` section."""
    section: MacSection | None = table.mac
    if section is None:
        return None
    point = section.point(weight_bits, activation_bits)
    if point:
        value = getattr(point, field)
    else:
        squares = section.point(weight_bits, weight_bits), section.point(activation_bits, activation_bits)
        if None in squares:
            known = ", ".join(f"W{p.weight_bits}A{p.activation_bits}" for p in section.points)
            raise UnsupportedError(f"energy table {table.name!r} has no PE for W{weight_bits}A{activation_bits} "
                                   f"nor both square PEs to interpolate from (it has {known})")
        values = [getattr(p, field) for p in squares]
        value = None if None in values else math.sqrt(values[0] * values[1])
    if value is None:
        raise UnsupportedError(f"energy table {table.name!r} gives no {field} for its PEs")
    return value


def mac_energy_pj(table: EnergyTable, weight_bits: int, activation_bits: int, accumulator_bits: int) -> float:
    """Energy of one MAC in pJ.

    With per-precision PE figures (``mac`` section, e.g. Bit Fusion) the PE's energy per MAC, which includes its
    own accumulator (``accumulator_bits`` is then ignored); otherwise multiply(weight_bits x activation_bits) +
    add(accumulator_bits).
    """
    pe = _pe_figure(table, weight_bits, activation_bits, "energy_pj")
    if pe is not None:
        return pe
    return mult_energy_pj(table, weight_bits, activation_bits) + add_energy_pj(table, accumulator_bits)


def mac_area_um2(table: EnergyTable, weight_bits: int, activation_bits: int, accumulator_bits: int = 32) -> float:
    """Area of one MAC unit (one PE) in um^2: the PE's area with a ``mac`` section, else multiplier + adder,
    scaled like their energies (product of widths, linear) from the reference widths."""
    pe = _pe_figure(table, weight_bits, activation_bits, "area_um2")
    if pe is not None:
        return pe
    return (_multiplier(table, weight_bits, activation_bits, "area_um2")
            + _adder(table, accumulator_bits, "area_um2"))


def requant_op_energy_pj(table: EnergyTable, mode: str) -> float:
    """Energy to requantize one int32 accumulator to a narrow output, in pJ.

    Op counts (shift and compare are costed as a 32-bit add: an assumption):
    ``fixed_point``: 32x32 multiply + 5 adds (SRDHM rounding add, RoundingDivideByPOT rounding add and shift,
    clamp = 2 compares); ``fixed_point_single_round``: 32x32 multiply + 4 adds (one rounding add, shift,
    clamp); ``fixed_point_int64``: 32x16 multiply (multiplier cut to 16 bits) + 4 adds;
    ``float32`` / ``float32_recip``: float32 multiply + 2 adds (clamp).
    """
    if mode not in REQUANT_MODES:
        raise UnsupportedError(f"unknown requantization mode {mode!r}; known: {', '.join(REQUANT_MODES)}")
    add32 = add_energy_pj(table, 32)
    if mode.startswith("float32"):
        fmult: OpFigure = _require(table, "float32_mult", "float32 multiplier")
        return fmult.energy_pj + 2 * add32
    if mode == "fixed_point":
        return mult_energy_pj(table, 32, 32) + 5 * add32
    if mode == "fixed_point_single_round":
        return mult_energy_pj(table, 32, 32) + 4 * add32
    return mult_energy_pj(table, 32, 16) + 4 * add32


def leakage_fraction(table: EnergyTable) -> float:
    """Share of logic energy that is leakage (0..1) at the table's characterisation clock."""
    return _require(table, "leakage", "leakage").fraction


def leakage_clock_mhz(table: EnergyTable) -> float | None:
    """The clock (MHz) the table's leakage share was measured at; None = not stated."""
    return _require(table, "leakage", "leakage").clock_mhz


# ------------------------------------------------------------------------------------------------------ memories
def _size_curve(sizes: list[float], values: list[float], size_kib: float, exponent: float) -> float:
    """Piecewise power law through (size, value) points; beyond them ``value_end * (size / size_end)^exponent``."""
    if size_kib <= 0:
        raise UnsupportedError(f"an SRAM size must be > 0 KiB, got {size_kib}")
    if size_kib <= sizes[0]:
        return values[0] * (size_kib / sizes[0]) ** exponent
    if size_kib >= sizes[-1]:
        return values[-1] * (size_kib / sizes[-1]) ** exponent
    for (s0, v0), (s1, v1) in zip(zip(sizes, values), zip(sizes[1:], values[1:])):
        if s0 <= size_kib <= s1:
            t = math.log(size_kib / s0) / math.log(s1 / s0)
            return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
    raise AssertionError("unreachable: sizes are ascending")


def sram_section_pj_per_byte(section: SramSection, size_kib: float, write: bool = False) -> float:
    """An SRAM section's read (or write) energy in pJ per byte at ``size_kib``: per-access figures /
    (access_bits / 8), interpolated in log(size)-log(energy) between points and extrapolated with the section's
    exponent; a point without a write figure uses its read figure."""
    values = [((p.write_energy_pj if write and p.write_energy_pj is not None else p.read_energy_pj) * 8
               / p.access_bits) for p in section.points]
    return _size_curve([p.size_kib for p in section.points], values, size_kib, section.extrapolation_exponent)


def sram_read_energy_pj_per_byte(table: EnergyTable, size_kib: float) -> float:
    """SRAM read energy in pJ per byte for a ``size_kib`` SRAM (:func:`sram_section_pj_per_byte`)."""
    return sram_section_pj_per_byte(_require(table, "sram", "SRAM energy"), size_kib)


def sram_write_energy_pj_per_byte(table: EnergyTable, size_kib: float) -> float:
    """SRAM write energy in pJ per byte, like the read; a point without a write figure uses its read figure."""
    return sram_section_pj_per_byte(_require(table, "sram", "SRAM energy"), size_kib, write=True)


def sram_area_mm2(table: EnergyTable, size_kib: float) -> float:
    """SRAM area in mm^2 for ``size_kib``, interpolated in log-log between points, extrapolated with the
    table's exponent (linear in capacity for cacti45_sram)."""
    section: SramAreaSection = _require(table, "sram_area", "SRAM area")
    return _size_curve([p.size_kib for p in section.points], [p.area_mm2 for p in section.points], size_kib,
                       section.extrapolation_exponent)


def register_file_energy_pj_per_byte(table: EnergyTable) -> float:
    """Register file access energy in pJ per byte (8 x the per-bit figure)."""
    return 8 * _require(table, "register_file", "register file").energy_pj_per_bit


def dram_figure(dram_type: str, table: EnergyTable | None = None) -> DramFigure:
    """The ``dram_types`` entry of ``dram_type`` (default table: the built-in ``dram_types``)."""
    table = table if table is not None else load_energy_table("dram_types")
    types: dict[str, DramFigure] = _require(table, "dram_types", "DRAM")
    if dram_type not in types:
        raise UnsupportedError(f"energy table {table.name!r} has no DRAM type {dram_type!r}; it has "
                               f"{', '.join(sorted(types))}")
    return types[dram_type]


def dram_background_mw_per_gb_s(dram_type: str, table: EnergyTable | None = None) -> float | None:
    """Background plus refresh power of ``dram_type`` in mW per GB/s of interface bandwidth; None = not known."""
    return dram_figure(dram_type, table).background_mw_per_gb_s


def dram_energy_pj_per_byte(dram_type: str, table: EnergyTable | None = None) -> float:
    """DRAM access energy in pJ per byte (8 x pJ/bit; read = write) of ``dram_type`` from ``table`` (default: the
    built-in ``dram_types`` table: IDD-current method on datasheet currents plus an I/O term, [ref:MicronTN4101];
    background power excluded)."""
    return 8 * dram_figure(dram_type, table).energy_pj_per_bit
