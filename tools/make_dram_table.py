"""Generate ``accelsim/energy/tables/dram_types.yaml``: DRAM energy per bit and background power by type.

Usage: ``python tools/make_dram_table.py [--out FILE] [--check]`` (``--check``: exit 1 if the shipped file differs).

One method for every type: the IDD-current method of Micron TN-41-01 ("Calculating Memory System Power for
DDR3", [ref:MicronTN4101]; the per-command form DRAMPower [ref:DRAMPower] and DRAMsim3 [ref:Li18] implement)
applied to one device's datasheet currents (mA), voltages (V) and timings (clock cycles), summed over its
supply rails, plus one interface (I/O) formula for the data pins:

* activate + precharge, per activation: ``sum_rails V x (IDD0 tRC - IDD3N tRAS - IDD2N (tRC - tRAS))``;
* read / write core, per burst: ``sum_rails V x (IDD4R|IDD4W - IDD3N) x t_burst``;
* access energy per bit = ``(1 - ROW_HIT_RATE) x activate / bits_per_burst + mean(read, write) / bits_per_burst
  + io``, bits_per_burst = device width x burst length (one device's share of a 64-byte transaction);
* I/O per bit: ``ALPHA x C_load x VDDQ^2`` (line charging, random data) plus the termination's static power over
  the pin's bit rate: POD (pseudo-open drain, terminated to VDDQ; DDR4, GDDR5, LPDDR4 LVSTL to VSSQ) draws
  ``VDDQ^2 / (Ron + Rtt)`` on the half of the bits that drive against the termination; SSTL (DDR3, centre-tapped
  at VDDQ / 2) draws ``(VDDQ / 2)^2 / (Ron + Rtt)`` on every bit; unterminated links (LPDDR, HBM2) none;
* background per device: ``sum_rails V x IDD3N`` (active standby) + ``sum_rails V x (IDD5 - IDD3N) x tRFC /
  tREFI`` (refresh), in mW per GB/s of the device's peak bandwidth.

HMC's links are SerDes, not a CV^2 / termination interface: its access energy is the published total
(TETRIS, ASPLOS 2017, via the Accelergy plug-in [ref:AccelergyPlugins]); its core terms are listed for
comparison only. Every other type is derived. The datasheet inputs, written out below with their source files,
are data; accelsim reads only the generated YAML.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

#: Row-buffer hit rate of a DRAM access: ASSUMPTION, the midpoint (half the 64-byte transactions open a row).
#: Closed-page (0) and open-page streaming (1) bound it; the YAML lists the closed-page activation term.
ROW_HIT_RATE = 0.5
#: Transition probability of a data pin per bit for random data (line charging happens on a 0->1 edge).
ALPHA = 0.5

OUT = Path(__file__).resolve().parents[1] / "accelsim" / "energy" / "tables" / "dram_types.yaml"


@dataclass(frozen=True)
class Rail:
    """Datasheet currents (mA) of one supply rail at ``volts``; a current the memspec omits is 0."""

    volts: float
    idd0: float
    idd2n: float
    idd3n: float
    idd4r: float
    idd4w: float
    idd5: float


@dataclass(frozen=True)
class Interface:
    """Data-pin electrical interface: JEDEC signalling and a load capacitance (ASSUMPTION by package class)."""

    scheme: str          # "pod" | "sstl" | "unterminated" | "serdes"
    vddq_v: float
    ron_ohm: float       # driver impedance (0 when unterminated)
    rtt_ohm: float       # termination (0 when unterminated)
    c_load_pf: float     # pin + trace + receiver capacitance (ASSUMPTION)
    source: str


@dataclass(frozen=True)
class Device:
    """One DRAM device (or HBM/HMC channel/vault) as its datasheet currents describe it."""

    dram_type: str
    part: str
    currents_source: str
    currents_status: str   # "derived" (named vendor datasheet) | "unconfirmed" (tool values, no named datasheet)
    rails: tuple[Rail, ...]
    tck_ns: float
    trc: int
    tras: int
    trfc: int
    trefi: int
    width_bits: int
    burst_length: int
    burst_clocks: float    # clock cycles one burst occupies the data bus
    io: Interface
    published_total_pj_per_bit: float | None = None   # used as the access energy when io.scheme == "serdes"
    published_source: str | None = None


_PCB = 3.0       # pF: DIMM / discrete package on a PCB (ASSUMPTION)
_POP = 2.0       # pF: package-on-package / multi-chip package (ASSUMPTION)
_INTERPOSER = 0.5  # pF: silicon interposer micro-bump link (ASSUMPTION)

_DP = "DRAMPower memspecs/{} (Micron datasheet currents) [ref:DRAMPower]"
_DS3 = "DRAMsim3 configs/{} (tool values, no named datasheet) [ref:Li18]"

DEVICES: tuple[Device, ...] = (
    Device("ddr3", "Micron 1Gb DDR3-1600 x8 (die G)", _DP.format("MICRON_1Gb_DDR3-1600_8bit_G.xml"), "derived",
           (Rail(1.5, 70, 45, 45, 140, 145, 170),), 1.25, 38, 28, 88, 6240, 8, 8, 4,
           Interface("sstl", 1.5, 34, 60, _PCB, "JESD79-3 DDR3: VDDQ 1.5 V, SSTL_15, Ron RZQ/7 = 34 ohm, "
                     "Rtt RZQ/4 = 60 ohm")),
    Device("ddr4", "Micron 4Gb DDR4-2400 x8 (die A)", _DP.format("MICRON_4Gb_DDR4-2400_8bit_A.xml"), "derived",
           (Rail(1.2, 60.75, 38.25, 44, 184.5, 168.75, 118), Rail(2.5, 4.05, 0, 0, 0, 0, 0)),
           0.833, 55, 39, 313, 4680, 8, 8, 4,
           Interface("pod", 1.2, 34, 60, _PCB, "JESD79-4 DDR4: VDDQ 1.2 V, POD12, Ron RZQ/7 = 34 ohm, "
                     "Rtt RZQ/4 = 60 ohm")),
    Device("lpddr", "Micron 2Gb LPDDR-333 x16 (die A)", _DP.format("MICRON_2Gb_LPDDR-333_16bit_A.xml"),
           "derived", (Rail(1.8, 100, 15, 18, 115, 115, 170),), 6.0, 10, 7, 12, 2600, 16, 8, 4,
           Interface("unterminated", 1.8, 0, 0, _PCB, "JESD209 LPDDR: VDDQ 1.8 V, LVCMOS, unterminated")),
    Device("lpddr2", "Micron 2Gb LPDDR2-1066 S4 x16 (die A)", _DP.format("MICRON_2Gb_LPDDR2-1066-S4_16bit_A.xml"),
           "derived", (Rail(1.8, 20, 1.7, 1.2, 5, 10, 15), Rail(1.2, 71, 22, 30, 226, 208, 136)),
           1.876, 32, 23, 70, 2080, 16, 8, 4,
           Interface("unterminated", 1.2, 0, 0, _POP, "JESD209-2 LPDDR2: VDDQ 1.2 V, HSUL_12, unterminated")),
    Device("lpddr3", "Micron 4Gb LPDDR3-1600 x32 (die A)", _DP.format("MICRON_4Gb_LPDDR3-1600_32bit_A.xml"),
           "derived", (Rail(1.8, 15, 2.0, 2.0, 5, 10, 40), Rail(1.2, 80, 38, 45, 260, 284, 160)),
           1.25, 48, 36, 104, 3120, 32, 8, 4,
           Interface("unterminated", 1.2, 0, 0, _POP, "JESD209-3 LPDDR3: VDDQ 1.2 V, HSUL_12, ODT off "
                     "(unterminated)")),
    Device("lpddr4", "Micron 6Gb LPDDR4-3200 x16 channel", _DP.format("MICRON_6Gb_LPDDR4-3200_32bit_A.json"),
           "derived", (Rail(1.8, 3.5, 2.0, 2.25, 2.25, 2.25, 10.0), Rail(1.1, 45, 27, 30, 275, 210, 90)),
           0.625, 97, 68, 448, 6246, 16, 16, 8,
           Interface("pod", 1.1, 40, 60, _POP, "JESD209-4 LPDDR4: VDDQ 1.1 V, LVSTL terminated to VSSQ, "
                     "Ron RZQ/6 = 40 ohm, ODT RZQ/4 = 60 ohm")),
    Device("lpddr4x", "Micron 6Gb LPDDR4-3200 x16 channel, VDDQ 0.6 V",
           _DP.format("MICRON_6Gb_LPDDR4-3200_32bit_A.json") + "; LPDDR4X changes only VDDQ (JESD209-4-1)",
           "derived", (Rail(1.8, 3.5, 2.0, 2.25, 2.25, 2.25, 10.0), Rail(1.1, 45, 27, 30, 275, 210, 90)),
           0.625, 97, 68, 448, 6246, 16, 16, 8,
           Interface("pod", 0.6, 40, 60, _POP, "JESD209-4-1 LPDDR4X: VDDQ 0.6 V, otherwise as LPDDR4")),
    Device("gddr5", "DRAMsim3 GDDR5 8Gb x32 (6 Gb/s/pin)", _DS3.format("GDDR5_8Gb_x32.ini"), "unconfirmed",
           (Rail(1.5, 71, 60, 61, 248, 231, 286),), 0.667, 80, 56, 74, 3800, 32, 8, 2,
           Interface("pod", 1.5, 40, 60, _PCB, "JESD212 GDDR5: VDDQ 1.5 V, POD15, Ron 40 ohm, ODT 60 ohm")),
    Device("hbm2", "DRAMsim3 HBM2 8Gb x128 channel (2 Gb/s/pin)", _DS3.format("HBM2_8Gb_x128.ini"),
           "unconfirmed", (Rail(1.2, 65, 40, 55, 390, 500, 250),), 1.0, 48, 34, 260, 3900, 128, 4, 2,
           Interface("unterminated", 1.2, 0, 0, _INTERPOSER, "JESD235 HBM2: VDDQ 1.2 V, unterminated "
                     "interposer link")),
    Device("hmc", "DRAMsim3 HMC 4GB vault (x32 TSV, 2.5 Gb/s)", _DS3.format("HMC_4GB_4Lx16.ini"), "unconfirmed",
           (Rail(1.2, 25, 19, 21, 64, 61, 150),), 0.8, 51, 34, 420, 9364, 32, 16, 8,
           Interface("serdes", 1.2, 0, 0, 0, "HMC 15 Gb/s SerDes links: not a CV^2 / termination interface"),
           published_total_pj_per_bit=4.2,
           published_source="Gao et al., TETRIS, ASPLOS 2017, via the Accelergy CACTI plug-in cacti_wrapper.py "
                            "[ref:AccelergyPlugins]"),
)


def activate_energy_pj(dev: Device) -> float:
    """Activate + precharge energy of one activation (pJ): TN-41-01's IDD0 less the standby it includes."""
    t = dev.tck_ns
    return sum(r.volts * (r.idd0 * dev.trc * t - r.idd3n * dev.tras * t - r.idd2n * (dev.trc - dev.tras) * t)
               for r in dev.rails)


def burst_energy_pj(dev: Device, write: bool) -> float:
    """Read (or write) core energy of one burst (pJ): (IDD4R|W - IDD3N) x V over the burst's bus time."""
    t_burst = dev.burst_clocks * dev.tck_ns
    return sum(r.volts * ((r.idd4w if write else r.idd4r) - r.idd3n) * t_burst for r in dev.rails)


def bits_per_burst(dev: Device) -> int:
    return dev.width_bits * dev.burst_length


def pin_rate_gbps(dev: Device) -> float:
    """Data rate of one pin in Gb/s: burst length bits in burst_clocks clock cycles."""
    return dev.burst_length / (dev.burst_clocks * dev.tck_ns)


def io_pj_per_bit(io: Interface, rate_gbps: float) -> float:
    """Interface energy per bit (pJ): ALPHA C V^2 plus the termination's static power over the bit rate."""
    if io.scheme == "serdes":
        raise ValueError("a SerDes link has no CV^2 / termination formula")
    charge = ALPHA * io.c_load_pf * io.vddq_v ** 2
    if io.scheme == "pod":
        term_mw = 0.5 * io.vddq_v ** 2 / (io.ron_ohm + io.rtt_ohm) * 1e3
    elif io.scheme == "sstl":
        term_mw = (io.vddq_v / 2) ** 2 / (io.ron_ohm + io.rtt_ohm) * 1e3
    else:
        term_mw = 0.0
    return charge + term_mw / rate_gbps  # mW / (Gb/s) = pJ/bit


def background_mw(dev: Device) -> tuple[float, float]:
    """(active standby, refresh) power of one device in mW."""
    standby = sum(r.volts * r.idd3n for r in dev.rails)
    refresh = sum(r.volts * (r.idd5 - r.idd3n) for r in dev.rails) * dev.trfc / dev.trefi
    return standby, refresh


def device_gb_s(dev: Device) -> float:
    """Peak bandwidth of one device in GB/s."""
    return dev.width_bits * pin_rate_gbps(dev) / 8


def figure(dev: Device) -> dict[str, object]:
    """The YAML entry of one device."""
    bits = bits_per_burst(dev)
    act_closed = activate_energy_pj(dev) / bits
    act = (1 - ROW_HIT_RATE) * act_closed
    rw = (burst_energy_pj(dev, False) + burst_energy_pj(dev, True)) / 2 / bits
    standby, refresh = background_mw(dev)
    gb_s = device_gb_s(dev)
    bg_src = (f"{dev.part}: active standby sum V x IDD3N = {standby:.1f} mW + refresh sum V x (IDD5 - IDD3N) x "
              f"tRFC {dev.trfc} / tREFI {dev.trefi} = {refresh:.2f} mW, over {gb_s:.3g} GB/s; "
              f"{dev.currents_source}")
    entry: dict[str, object] = {
        "activate_pj_per_bit": round(act, 3), "read_write_pj_per_bit": round(rw, 3)}
    if dev.io.scheme == "serdes":
        entry.update(energy_pj_per_bit=dev.published_total_pj_per_bit, status="published",
                     source=f"{dev.published_source}; not derived: {dev.io.source}. Core terms for comparison "
                            f"(IDD method, {dev.currents_source}): activate {act:.2f} + read/write {rw:.2f} pJ/bit")
    else:
        io = io_pj_per_bit(dev.io, pin_rate_gbps(dev))
        entry["io_pj_per_bit"] = round(io, 3)
        entry.update(energy_pj_per_bit=round(entry["activate_pj_per_bit"] + entry["read_write_pj_per_bit"]
                                             + entry["io_pj_per_bit"], 3),
                     status=dev.currents_status,
                     source=(f"IDD method [ref:MicronTN4101] on {dev.part} ({dev.currents_source}): activate "
                             f"{activate_energy_pj(dev):.0f} pJ per activation / {bits} bits x (1 - row hit "
                             f"{ROW_HIT_RATE}) [closed page {act_closed:.2f} pJ/bit]; read/write core mean of "
                             f"(IDD4R|W - IDD3N) x V x {dev.burst_clocks * dev.tck_ns:.3g} ns / {bits} bits; I/O "
                             f"{dev.io.scheme} at {pin_rate_gbps(dev):.3g} Gb/s/pin, {dev.io.source}, C_load "
                             f"{dev.io.c_load_pf} pF (ASSUMPTION)"))
    entry.update(background_mw_per_gb_s=round((standby + refresh) / gb_s, 3),
                 background_status=dev.currents_status, background_source=bg_src)
    return entry


_HEADER = """\
# GENERATED by tools/make_dram_table.py: edit that script, not this file.
# DRAM access energy per bit and background power by type: the IDD-current method [ref:MicronTN4101] on one
# device's currents ([ref:DRAMPower] Micron memspecs; [ref:Li18] DRAMsim3 configs) plus one I/O formula.
name: dram_types
citation: >-
  Micron TN-41-01 "Calculating Memory System Power for DDR3" (IDD-current method) applied to Micron datasheet
  currents as shipped in DRAMPower's memspecs (repo tukl-msd/DRAMPower; DDR3, DDR4, LPDDR, LPDDR2, LPDDR3,
  LPDDR4) and to the DRAMsim3 configs of Li, Reddy, Jacob, MEMSYS 2018 (repo umd-memsys/DRAMsim3; GDDR5, HBM2,
  HMC); I/O from JEDEC signalling (VDDQ, Ron, Rtt) with an assumed load capacitance; HMC's total from TETRIS
  (ASPLOS 2017) via the Accelergy CACTI plug-in.
node_nm: null
description: "DRAM energy per bit = activate/precharge + read/write core + I/O; background power separate"
notes: >-
  energy_pj_per_bit = activate_pj_per_bit + read_write_pj_per_bit + io_pj_per_bit (read = write: the mean of the
  two). ASSUMPTIONS shared by every type: row-buffer hit rate {hit} (the activate term halves the closed-page
  figure), data-pin toggle probability {alpha}, load capacitance {pcb} pF on a PCB, {pop} pF package-on-package,
  {ipo} pF on an interposer. Background (active standby + refresh) is background_mw_per_gb_s, one device's power
  over its peak bandwidth, charged as power x latency. GDDR5, HBM2 and HMC currents are DRAMsim3 values without a
  named datasheet (status unconfirmed). HMC's SerDes links are not derivable this way: its access energy is the
  published total. Published totals for comparison (not used): DDR3 20 pJ/bit (Horowitz ISSCC 2014), LPDDR 40
  (Malladi ISCA 2012, a DDR3 vs LPDDR2 study, via the Accelergy plug-in), LPDDR4 8, GDDR5 14, HBM2 3.9 (Accelergy plug-in).
dram_types:
"""


def render() -> str:
    import yaml

    head = _HEADER.format(hit=ROW_HIT_RATE, alpha=ALPHA, pcb=_PCB, pop=_POP, ipo=_INTERPOSER)
    body = {dev.dram_type: figure(dev) for dev in DEVICES}
    text = yaml.safe_dump(body, sort_keys=False, width=120, allow_unicode=True)
    return head + "".join("  " + line + "\n" for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs from the generator's output")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
