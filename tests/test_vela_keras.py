"""Ethos-U cost of the issue-13 ops against Arm's Vela on third-party models: the Keras MobileNetV2 / V3 int8 files
made by TensorFlow's TFLiteConverter (``tests/data/keras``; HARD_SWISH, MUL with broadcasting, MEAN, SOFTMAX, ADD of
constants), compiled by the installed Vela 5.2.0 at its default Ethos-U55 system configuration (the settings of
``accelsim validate --only vela``) and simulated by accelsim on the matching shipped configs.

Total cycles must agree within the Vela reference set's band (±20 %, issue 10). Measured 2026-12-03: 1.02–1.11.
Per op the two differ more (docs/validation.md, "Vela on the Keras models"): Vela fuses HARD_SWISH into the
producing conv's LUT where accelsim costs it as its own pass, and accelsim's MEAN / ADD of these models cost more
and their Conv2D less than Vela's; those per-op gaps are listed, not asserted."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ethosu.vela")
pytest.importorskip("ai_edge_litert")

from accelsim.config.hw import load_hw  # noqa: E402
from accelsim.graph.importers.tflite import load_tflite  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402
from accelsim.validation.common import config_path  # noqa: E402
from accelsim.validation.vela import BANDS, VelaCase, run_vela  # noqa: E402

KERAS = Path(__file__).resolve().parent / "data" / "keras"
MODELS = ("mobilenet_v2_int8", "mobilenet_v3_small_int8", "mobilenet_v3_large_int8")
TARGETS = (("ethos_u55_128", "ethos-u55-128"), ("ethos_u55_256", "ethos-u55-256"))


@pytest.mark.parametrize("config, accelerator", TARGETS)
@pytest.mark.parametrize("model", MODELS)
def test_total_cycles_within_the_vela_band(model, config, accelerator):
    data = (KERAS / f"{model}.tflite").read_bytes()
    vela = run_vela(data, VelaCase(model, config, accelerator, "Ethos_U55_High_End_Embedded", "Shared_Sram"))
    ours = simulate(load_tflite(data), load_hw(config_path(config))).totals["latency_cycles"]
    ratio = float(ours) / vela["cycles_total"]
    assert abs(ratio - 1.0) <= BANDS["total cycles"], f"{model} on {config}: accelsim / Vela = {ratio:.3f}"
