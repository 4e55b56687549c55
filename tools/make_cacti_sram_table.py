"""Generate ``accelsim/energy/models/cacti7_sram.yaml``: a CACTI 7 sweep of scratchpad SRAMs.

Usage: ``python tools/make_cacti_sram_table.py --cacti PATH/TO/cacti [--out FILE] [--jobs N]``.

``--cacti`` is a CACTI 7 binary (CACTI 7.0, [ref:CACTI7]; e.g. the sources the ``hwcomponents-cacti`` PyPI
package ships, compiled with the package's own makefile). For every node x capacity x access width of the sweep
the script writes a CACTI input file (a scratch RAM: ``cache type "ram"``, one read-write port or one read plus
one write port, one bank, ITRS-LOP cells and periphery, 350 K, CACTI's ED^2-optimal organisation), runs CACTI,
and keeps the read and write energy per access, the leakage power and the area. The result is small (a few
hundred numbers) and is shipped; accelsim never runs CACTI itself (``docs/energy-tables.md`` §Memories by
organisation says why).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import re
import subprocess
import tempfile
from pathlib import Path

#: CACTI 7's technology nodes used (nm); CACTI interpolates nothing between them.
NODES_NM = (22, 32, 45, 65, 90)
#: Capacities in bytes: 256 B .. 32 MiB in steps of 2x.
SIZES_BYTES = tuple(2**k for k in range(8, 26))
#: Access (block) widths in bits.
WIDTHS_BITS = (16, 32, 64, 128, 256, 512)
#: Port organisations: 1 = one read-write port; 2 = one read port + one write port (a dual-port array that reads
#: and writes in the same cycle). Two ports are swept at 45 nm only (the node the model reads).
PORTS = (1, 2)
_PORT_KEYS = {1: {"rw_ports": 1, "read_ports": 0, "write_ports": 0}, 2: {"rw_ports": 0, "read_ports": 1,
                                                                          "write_ports": 1}}

_CONFIG = """\
-size (bytes) {size}
-block size (bytes) {block}
-associativity 1
-read-write port {rw_ports}
-exclusive read port {read_ports}
-exclusive write port {write_ports}
-single ended read ports 0
-UCA bank count 1
-technology (u) {tech}
-page size (bits) 8192
-burst length 8
-internal prefetch width 8
-Data array cell type - "itrs-lop"
-Data array peripheral type - "itrs-lop"
-Tag array cell type - "itrs-lop"
-Tag array peripheral type - "itrs-lop"
-output/input bus width {bits}
-operating temperature (K) 350
-cache type "ram"
-tag size (b) "default"
-access mode (normal, sequential, fast) - "normal"
-design objective (weight delay, dynamic power, leakage power, cycle time, area) 0:0:0:100:0
-deviate (delay, dynamic power, leakage power, cycle time, area) 20:100000:100000:100000:100000
-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area) 100:100:0:0:100
-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area) 10:10000:10000:10000:10000
-Optimize ED or ED^2 (ED, ED^2, NONE): "ED^2"
-Cache model (NUCA, UCA)  - "UCA"
-NUCA bank count 0
-Wire signaling (fullswing, lowswing, default) - "Global_30"
-Wire inside mat - "semi-global"
-Wire outside mat - "semi-global"
-Interconnect projection - "conservative"
-Core count 8
-Cache level (L2/L3) - "L3"
-Add ECC - "false"
-Print level (DETAILED, CONCISE) - "DETAILED"
-Print input parameters - "false"
-Force cache config - "false"
-Ndwl 1
-Ndbl 1
-Nspd 0
-Ndcm 1
-Ndsam1 0
-Ndsam2 0
-Array Power Gating - "false"
-WL Power Gating - "false"
-CL Power Gating - "false"
-Bitline floating - "false"
-Interconnect Power Gating - "false"
-Power Gating Performance Loss 0.01
-dram_type "DDR3"
-io state "WRITE"
-addr_timing 1.0
-mem_density 4 Gb
-bus_freq 800 MHz
-duty_cycle 1.0
-activity_dq 1.0
-activity_ca 0.5
-num_dq 72
-num_dqs 18
-num_ca 25
-num_clk 2
-num_mem_dq 2
-mem_data_width 8
-rtt_value 10000
-ron_value 34
-tflight_value
-num_bobs 1
-capacity 80
-num_channels_per_bob 1
-first metric "Cost"
-second metric "Bandwidth"
-third metric "Energy"
-DIMM model "ALL"
-mirror_in_bob "F"
"""

_FIELDS = {
    "read_nj": r"Total dynamic read energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "write_nj": r"Total dynamic write energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "leak_mw": r"Total leakage power of a bank \(mW\):\s*([0-9.eE+-]+)",
    "height_width_mm": r"Cache height x width \(mm\):\s*([0-9.eE+-]+)\s*x\s*([0-9.eE+-]+)",
}


def run_point(cacti: Path, node_nm: int, size_bytes: int, width_bits: int, ports: int = 1) -> dict[str, float] | None:
    """One CACTI run: read/write energy per access (pJ), leakage (mW) and area (mm^2); None when CACTI finds no
    valid organisation."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = Path(folder) / "sram.cfg"
        cfg.write_text(_CONFIG.format(size=size_bytes, block=width_bits // 8, tech=node_nm / 1000,
                                      bits=width_bits, **_PORT_KEYS[ports]))
        out = subprocess.run([str(cacti.resolve()), "-infile", str(cfg)], cwd=cacti.resolve().parent,
                             capture_output=True, text=True, timeout=3600).stdout
    if "no valid data array organizations" in out:
        return None                      # CACTI finds no organisation (a port wider than a tiny array allows)
    values = {}
    for key, pattern in _FIELDS.items():
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"CACTI gave no {key} for {node_nm} nm, {size_bytes} B, {width_bits} b:\n{out[-2000:]}")
        values[key] = [float(g) for g in match.groups()]
    height, width = values["height_width_mm"]
    return {"read_energy_pj": values["read_nj"][0] * 1e3, "write_energy_pj": values["write_nj"][0] * 1e3,
            "leakage_mw": values["leak_mw"][0], "area_mm2": height * width}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cacti", type=Path, required=True, help="CACTI 7 binary")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "accelsim" / "energy"
                        / "tables" / "cacti7_sram.yaml")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--nodes", type=int, nargs="*", default=list(NODES_NM))
    args = parser.parse_args()
    points = [(n, s, w, p) for n in args.nodes for s in SIZES_BYTES for w in WIDTHS_BITS for p in PORTS
              if p == 1 or n == 45]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda p: run_point(args.cacti, *p), points))
    lines = [_HEADER.rstrip(), "points:"]
    for (node, size, width, ports), r in zip(points, results):
        if r is None:
            continue
        lines.append(f"  - {{node_nm: {node}, size_kib: {size / 1024:g}, access_bits: {width}, ports: {ports}, "
                     f"read_energy_pj: {r['read_energy_pj']:.5g}, write_energy_pj: {r['write_energy_pj']:.5g}, "
                     f"leakage_mw: {r['leakage_mw']:.5g}, area_mm2: {r['area_mm2']:.5g}}}")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {sum(r is not None for r in results)} of {len(points)} points to {args.out}")


_HEADER = """\
# GENERATED by tools/make_cacti_sram_table.py from CACTI 7 runs ([ref:CACTI7]); do not edit by hand.
# One bank, one read-write port (ports: 1) or one read + one write port (ports: 2, 45 nm only), ITRS-LOP (low
# operating power) cells and periphery, 350 K, scratch RAM (no tags), CACTI's ED^2-optimal internal organisation
# (mats, subarrays, H-tree). Energies per access of access_bits, leakage per array.
name: cacti7_sram
citation: >-
  R. Balasubramonian, A. B. Kahng, N. Muralimanohar, A. Shafiee, V. Srinivas, "CACTI 7: New Tools for
  Interconnect Exploration in Innovative Off-Chip Memories", ACM TACO 14(2), 2017; CACTI 7.0 sources as shipped
  by the hwcomponents-cacti 1.0.40 package (PyPI), run by tools/make_cacti_sram_table.py.
"""

if __name__ == "__main__":
    main()
