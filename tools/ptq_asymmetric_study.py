"""Per-channel vs per-tensor 4-bit weights (W4A8), symmetric and asymmetric, on MobileNet-v2-structured digits
models: the figures of docs/quantization.md §"Asymmetric per-channel 4-bit weights" (prints Markdown).

Usage: ``python tools/ptq_asymmetric_study.py [MODEL.onnx ...]``: the shipped ``digits_mobilenet_v2_seed0.onnx``
plus any further models, e.g. other training seeds written by
``python training/train_mobilenet_digits.py --seed 1 --out-dir DIR``. Each model is quantized as the
``digits_mobilenet_v2`` task does (calibration: the first 200 training images, min/max observers, int8
activations; evaluation: the 450 held-out images upscaled 4x) and run by the integer engine.

Per model and weight scheme it prints the top-1 accuracy with per-channel and per-tensor weights, the output SQNR
of each (dequantized logits against the float model's, dB), the images only one of the two gets right, the exact
two-sided McNemar p-value of that split ([ref:McNemar47]) and a paired bootstrap 95 % interval of the accuracy
difference (10 000 resamples of the evaluation images, seed 0; [ref:Efron79]).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from accelsim.graph.float_exec import run_float
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.ptq import PTQSettings, quantize_graph, with_batch_size
from accelsim.quant.params import dequantize
from accelsim.tasks.evaluate import integer_outputs
from accelsim.tasks.shipped import CALIBRATION_COUNT, SHIPPED_TASKS, upscale_nhwc
from accelsim.workloads.digits import DATA_DIR, load_digits_split

BOOTSTRAP_RESAMPLES = 10_000


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: 2 P(Binomial(only_a + only_b, 1/2) <= min(only_a, only_b)), at most 1."""
    n = only_a + only_b
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n)


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """``10 log10(Σ ref² / Σ (approx − ref)²)``."""
    reference = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((approx.astype(np.float64) - reference) ** 2)))


def main(paths: list[str]) -> None:
    file, factor = SHIPPED_TASKS["digits_mobilenet_v2"]
    split = load_digits_split()
    x, labels = upscale_nhwc(split.test_images, factor), split.test_labels
    calibration = upscale_nhwc(split.train_images[:CALIBRATION_COUNT], factor)
    resamples = np.random.default_rng(0).integers(0, len(labels), (BOOTSTRAP_RESAMPLES, len(labels)))
    print("| model | weights | float % | W4A8 pc % | W4A8 pt % | SQNR pc / pt dB | only pc / only pt | McNemar p "
          "| pc − pt 95 % CI (pp) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in [str(DATA_DIR / file), *paths]:
        graph = load_onnx(path, batch_size=1)
        batch = with_batch_size(graph, len(x))
        reference = run_float(batch, {batch.inputs[0]: x})[batch.outputs[0]]
        float_pct = 100 * float(np.mean(reference.argmax(axis=1) == labels))
        for symmetric in (True, False):
            correct, sqnr = {}, {}
            for per_channel in (True, False):
                settings = PTQSettings(weight_bits=4, weight_symmetric=symmetric, weight_per_channel=per_channel)
                qgraph = quantize_graph(graph, {graph.inputs[0]: calibration}, settings)
                out = integer_outputs(qgraph, x)
                correct[per_channel] = out.argmax(axis=1) == labels
                sqnr[per_channel] = sqnr_db(reference, dequantize(out, qgraph.tensors[qgraph.outputs[0]].quant))
            only_pc = int(np.sum(correct[True] & ~correct[False]))
            only_pt = int(np.sum(correct[False] & ~correct[True]))
            diff = 100 * (correct[True][resamples].mean(axis=1) - correct[False][resamples].mean(axis=1))
            lo, hi = np.percentile(diff, [2.5, 97.5])
            print(f"| {Path(path).stem} | {'sym' if symmetric else 'asym'} | {float_pct:.2f} "
                  f"| {100 * correct[True].mean():.2f} | {100 * correct[False].mean():.2f} "
                  f"| {sqnr[True]:.2f} / {sqnr[False]:.2f} | {only_pc} / {only_pt} "
                  f"| {mcnemar_exact_p(only_pc, only_pt):.3g} | [{lo:.2f}, {hi:.2f}] |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
