"""What every reference set shares: a :class:`Comparison` (model figure, reference figure, source, acceptance
band), the text table ``accelsim validate`` prints, and where the shipped hardware configs are."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Comparison:
    """One model figure against one reference figure.

    ``band`` is the relative tolerance the test suite asserts (0.2 = the ratio lies in [0.8, 1.2]); None for a
    figure shown for information only.
    """

    case: str              # e.g. "mobilenet_v2_1.0_224 @ ethos_u55_256"
    quantity: str          # e.g. "total cycles"
    model: float
    reference: float
    source: str            # the reference: tool and version, or paper, table and page
    band: float | None = None

    @property
    def ratio(self) -> float:
        """model / reference."""
        return self.model / self.reference

    @property
    def within_band(self) -> bool | None:
        """Whether the ratio lies within ``1 ± band`` (None without a band)."""
        if self.band is None:
            return None
        return abs(self.ratio - 1.0) <= self.band + 1e-12


def config_path(name: str) -> Path:
    """A shipped hardware config by name: ``hw_configs/<name>.yaml`` of the working directory (a checkout, where
    the README's commands run) or of the source tree next to the package (an editable install)."""
    for folder in (Path.cwd() / "hw_configs", Path(__file__).resolve().parents[2] / "hw_configs"):
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    from accelsim.errors import AccelsimError

    raise AccelsimError(f"hardware config {name}.yaml not found in ./hw_configs or next to the package; run "
                        "accelsim validate from the accelsim checkout")


def comparison_table(comparisons: list[Comparison]) -> str:
    """A fixed-width text table: case, quantity, model, reference, ratio and band; the sources listed below."""
    lines = [f"{'case':<40} {'quantity':<24} {'accelsim':>14} {'reference':>14} {'ratio':>7}  band"]
    for c in comparisons:
        band = "" if c.band is None else f"±{c.band:.0%} {'ok' if c.within_band else 'OUT'}"
        lines.append(f"{c.case:<40} {c.quantity:<24} {c.model:>14,.6g} {c.reference:>14,.6g} {c.ratio:>7.2f}  "
                     f"{band}")
    lines.append("")
    lines += [f"source: {s}" for s in dict.fromkeys(c.source for c in comparisons)]
    return "\n".join(lines)
