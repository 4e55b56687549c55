"""Reading SCALE-Sim ``.cfg`` files (INI) and mapping them onto accelsim's hardware config.

Keys and defaults follow SCALE-Sim 3.0.0's ``scale_config.read_conf_file`` ([ref:ScaleSim]). SCALE-Sim words are
one byte and it has no clock; ``to_hardware_config`` therefore takes a clock and maps the config onto three
single-operand SRAMs (ifmap → inputs, filter → weights, ofmap → outputs) and one DRAM channel of ``Bandwidth``
words per cycle. Differences from SCALE-Sim's own memory model: SCALE-Sim gives each SRAM a private DRAM port (in
USER mode ifmap and filter take ``IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth``, the ofmap ``Bandwidth``);
accelsim shares one channel. In CALC mode SCALE-Sim never stalls and reports the bandwidth it would need.
"""
from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from accelsim.config.hw import Dataflow, HardwareConfig, validate_hw
from accelsim.config.loading import read_text_file
from accelsim.errors import ConfigError

ARCH = "architecture_presets"
LAYOUT = "layout"
SPARSITY = "sparsity"
RUN = "run_presets"


@dataclass(frozen=True)
class ScaleSimConfig:
    """Every field of a SCALE-Sim 3.0.0 ``.cfg`` file (sizes in KiB of one-byte words, bandwidths in words/cycle)."""

    run_name: str
    array_height: int                       # [architecture_presets] ArrayHeight: PE rows
    array_width: int                        # ArrayWidth: PE columns
    ifmap_sram_kib: int                     # IfmapSramSzkB
    filter_sram_kib: int                    # FilterSramSzkB
    ofmap_sram_kib: int                     # OfmapSramSzkB
    dataflow: str                           # Dataflow: os | ws | is
    bandwidth_words_per_cycle: tuple[int, ...]  # Bandwidth (a comma list; SCALE-Sim uses the first)
    interface_bandwidth: str                # [run_presets] InterfaceBandwidth: USER | CALC
    ifmap_offset: int = 0                   # IfmapOffset, FilterOffset, OfmapOffset: trace address offsets
    filter_offset: int = 10_000_000
    ofmap_offset: int = 20_000_000
    read_request_buffer: int = 60           # ReadRequestBuffer, WriteRequestBuffer
    write_request_buffer: int = 60
    memory_banks: int = 1                   # MemoryBanks (present in some configs, unused by 3.0.0)
    ifmap_custom_layout: bool = False       # [layout]
    ifmap_sram_bank_bandwidth: int = 10     # words/cycle; the ifmap DRAM port in USER mode (3.0.0)
    ifmap_sram_bank_num: int = 10
    ifmap_sram_bank_port: int = 2
    filter_custom_layout: bool = False
    filter_sram_bank_bandwidth: int = 10    # words/cycle; the filter DRAM port in USER mode (3.0.0)
    filter_sram_bank_num: int = 10
    filter_sram_bank_port: int = 2
    sparsity_support: bool = False          # [sparsity]
    sparse_rep: str = ""
    optimized_mapping: bool = False
    block_size: int = 4
    random_number_generator_seed: int = 40
    use_ramulator_trace: bool = False       # [run_presets] UseRamulatorTrace

    def dram_port_words_per_cycle(self) -> tuple[int, int, int]:
        """SCALE-Sim's (ifmap, filter, ofmap) DRAM port bandwidths in USER mode (3.0.0 ``single_layer_sim``)."""
        return self.ifmap_sram_bank_bandwidth, self.filter_sram_bank_bandwidth, self.bandwidth_words_per_cycle[0]

    def to_hardware_config(self, clock_mhz: float = 1000.0, dram_type: str = "lpddr4",
                           energy_table: str = "horowitz45") -> HardwareConfig:
        """The equivalent accelsim hardware config (see the module docstring for what differs).

        Each SRAM delivers one word per cycle per array edge port it feeds (the edge a dataflow streams it through:
        rows for the operand entering from the left, columns for the one entering from the top and for outputs);
        the DRAM channel carries ``Bandwidth`` one-byte words per cycle at ``clock_mhz``; the scale unit (absent in
        SCALE-Sim) requantizes one output row (``ArrayWidth`` values) per cycle with no latency.
        """
        rows, cols = self.array_height, self.array_width
        ifmap_port, filter_port = (cols, rows) if self.dataflow == "is" else (rows, cols)
        data = {
            "name": re.sub(r"[^A-Za-z0-9_.\-]", "_", self.run_name) or "scalesim",
            "description": f"SCALE-Sim config {self.run_name!r}: {rows}x{cols} {self.dataflow}",
            "clock_mhz": clock_mhz,
            "technology": {"energy_table": energy_table},
            "compute": {"systolic": {"rows": rows, "cols": cols, "dataflow": self.dataflow}},
            "precision": {"accumulator_bits": 32,
                          "modes": [{"weight_bits": 8, "activation_bits": 8, "throughput": 1.0}]},
            "scale_unit": {"lanes": cols, "per_channel": True, "rounding": "fixed_point",
                           "pipeline_latency_cycles": 0, "fallback": "none"},
            "memories": {
                "ifmap_sram": {"kind": "sram", "size_kib": self.ifmap_sram_kib, "bytes_per_cycle": ifmap_port,
                               "operands": ["inputs"]},
                "filter_sram": {"kind": "sram", "size_kib": self.filter_sram_kib, "bytes_per_cycle": filter_port,
                                "operands": ["weights"]},
                # the ofmap buffer also holds the 32-bit partial sums of WS/IS row folds: one per column per cycle
                "ofmap_sram": {"kind": "sram", "size_kib": self.ofmap_sram_kib, "bytes_per_cycle": cols * 4,
                               "operands": ["outputs"]},
                "dram": {"kind": "dram", "dram_type": dram_type,
                         "bandwidth_gb_s": self.bandwidth_words_per_cycle[0] * clock_mhz / 1e3},
            },
        }
        return validate_hw(data, f"<from SCALE-Sim config {self.run_name!r}>")


def load_scalesim_config(path: str | Path) -> ScaleSimConfig:
    """Read a SCALE-Sim ``.cfg`` file; a missing or malformed key is a ConfigError naming the file and the key."""
    path = Path(path)
    parser = configparser.ConfigParser()
    text = read_text_file(path, "SCALE-Sim .cfg file")
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(str(path), "", "a SCALE-Sim .cfg (INI) file", str(exc).splitlines()[0]) from None
    reader = _Reader(parser, str(path))
    dataflow = reader.text(ARCH, "Dataflow").lower()
    if dataflow not in get_args(Dataflow):
        raise ConfigError(str(path), f"{ARCH}.Dataflow", "os, ws or is", dataflow)
    interface = reader.text(RUN, "InterfaceBandwidth")
    if interface not in ("USER", "CALC"):
        raise ConfigError(str(path), f"{RUN}.InterfaceBandwidth", "USER or CALC", interface)
    bandwidth_text = reader.text(ARCH, "Bandwidth", "10" if interface == "CALC" else None)
    try:
        bandwidth = tuple(int(x) for x in bandwidth_text.split(","))
    except ValueError:
        raise ConfigError(str(path), f"{ARCH}.Bandwidth", "comma-separated integers (words/cycle)",
                          bandwidth_text) from None
    d = ScaleSimConfig  # defaults
    return ScaleSimConfig(
        run_name=reader.text("general", "run_name", "scale_run"),
        array_height=reader.integer(ARCH, "ArrayHeight"),
        array_width=reader.integer(ARCH, "ArrayWidth"),
        ifmap_sram_kib=reader.integer(ARCH, "IfmapSramSzkB"),
        filter_sram_kib=reader.integer(ARCH, "FilterSramSzkB"),
        ofmap_sram_kib=reader.integer(ARCH, "OfmapSramSzkB"),
        dataflow=dataflow,
        bandwidth_words_per_cycle=bandwidth,
        interface_bandwidth=interface,
        ifmap_offset=reader.integer(ARCH, "IfmapOffset", d.ifmap_offset, minimum=0),
        filter_offset=reader.integer(ARCH, "FilterOffset", d.filter_offset, minimum=0),
        ofmap_offset=reader.integer(ARCH, "OfmapOffset", d.ofmap_offset, minimum=0),
        read_request_buffer=reader.integer(ARCH, "ReadRequestBuffer", d.read_request_buffer),
        write_request_buffer=reader.integer(ARCH, "WriteRequestBuffer", d.write_request_buffer),
        memory_banks=reader.integer(ARCH, "MemoryBanks", d.memory_banks),
        ifmap_custom_layout=reader.boolean(LAYOUT, "IfmapCustomLayout", d.ifmap_custom_layout),
        ifmap_sram_bank_bandwidth=reader.integer(LAYOUT, "IfmapSRAMBankBandwidth", d.ifmap_sram_bank_bandwidth),
        ifmap_sram_bank_num=reader.integer(LAYOUT, "IfmapSRAMBankNum", d.ifmap_sram_bank_num),
        ifmap_sram_bank_port=reader.integer(LAYOUT, "IfmapSRAMBankPort", d.ifmap_sram_bank_port),
        filter_custom_layout=reader.boolean(LAYOUT, "FilterCustomLayout", d.filter_custom_layout),
        filter_sram_bank_bandwidth=reader.integer(LAYOUT, "FilterSRAMBankBandwidth", d.filter_sram_bank_bandwidth),
        filter_sram_bank_num=reader.integer(LAYOUT, "FilterSRAMBankNum", d.filter_sram_bank_num),
        filter_sram_bank_port=reader.integer(LAYOUT, "FilterSRAMBankPort", d.filter_sram_bank_port),
        sparsity_support=reader.boolean(SPARSITY, "SparsitySupport", d.sparsity_support),
        sparse_rep=reader.text(SPARSITY, "SparseRep", d.sparse_rep),
        optimized_mapping=reader.boolean(SPARSITY, "OptimizedMapping", d.optimized_mapping),
        block_size=reader.integer(SPARSITY, "BlockSize", d.block_size),
        random_number_generator_seed=reader.integer(SPARSITY, "RandomNumberGeneratorSeed",
                                                    d.random_number_generator_seed, minimum=0),
        use_ramulator_trace=reader.boolean(RUN, "UseRamulatorTrace", d.use_ramulator_trace),
    )


class _Reader:
    """Typed access to one parsed ``.cfg`` with ConfigErrors naming ``section.Key``."""

    def __init__(self, parser: configparser.ConfigParser, file: str) -> None:
        self.parser = parser
        self.file = file

    def text(self, section: str, key: str, default: str | None = None) -> str:
        if self.parser.has_option(section, key):
            return self.parser.get(section, key).strip()
        if default is None:
            raise ConfigError(self.file, f"{section}.{key}", "a value (required by SCALE-Sim)", "<missing>")
        return default

    def integer(self, section: str, key: str, default: int | None = None, minimum: int = 1) -> int:
        raw = self.text(section, key, None if default is None else str(default))
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise ConfigError(self.file, f"{section}.{key}", f"an integer >= {minimum}", raw)
        return value

    def boolean(self, section: str, key: str, default: bool) -> bool:
        raw = self.text(section, key, str(default)).lower()
        states = configparser.ConfigParser.BOOLEAN_STATES
        if raw not in states:
            raise ConfigError(self.file, f"{section}.{key}", "True or False", raw)
        return states[raw]
