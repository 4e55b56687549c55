"""Make the Keras TFLite goldens in tests/data/keras/ with TensorFlow's own TFLiteConverter (run once; not a test).

TensorFlow is not a project dependency: run this in a side virtual environment,

    python3.11 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy
    /tmp/tfvenv/bin/python tools/make_keras_tflite.py            # writes tests/data/keras/*.tflite + provenance.json

Models (``keras.applications`` [ref:KerasApps], ``weights=None``, ``include_top=True`` with Keras's default softmax
head, every other argument at its Keras default unless listed in ``MODELS``): MobileNetV2, MobileNetV3Small,
MobileNetV3Large. Sizes are cut (width multiplier ``alpha``, input resolution, class count) so that each .tflite
stays below 2 MB.

Weights are Keras's initialisers under a fixed seed; the BatchNormalization layers then get random affine
parameters and moving statistics measured on the calibration data (one training-mode pass with momentum 0), so
every layer sees normalised activations as in a trained network and no tensor is degenerate; the classifier's
kernel is scaled so the logits' standard deviation on those images is ``LOGIT_STD`` (a peaked softmax).

Each model is converted three times with ``tf.lite.TFLiteConverter.from_keras_model``:

* ``int8``: full-integer int8 (``TFLITE_BUILTINS_INT8``, ``inference_input_type`` / ``inference_output_type`` int8);
* ``int8_float_io``: full-integer int8 with the converter's default float interface (QUANTIZE at the input,
  DEQUANTIZE at the output);
* ``16x8``: int16 activations, int8 weights (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``),
  default float interface. A variant the converter refuses (TensorFlow 2.21 has no 16x8 HARD_SWISH, so neither
  MobileNetV3 converts) is written to no file; the converter's message is recorded under
  ``refused_by_converter`` (a float fallback would put float ops inside the network, which is no integer golden).

The representative dataset is ``numpy.random.default_rng(CALIBRATION_SEED)`` draws over the model's input range
(``[-1, 1]`` for MobileNetV2; ``[0, 255]`` for MobileNetV3, whose default ``include_preprocessing=True`` rescales
inside the model). ``provenance.json`` records the TensorFlow / Keras / numpy versions, every setting above and
the SHA-256 and size of each file; ``tests/test_keras_tflite.py`` checks the files against it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

#: Seed of the Keras initialisers and of the BatchNormalization parameters.
WEIGHT_SEED = 13
#: Seed of the representative (calibration) dataset.
CALIBRATION_SEED = 2013
#: Calibration images (the converter's representative dataset, one image per step).
CALIBRATION_IMAGES = 64
#: Standard deviation of the logits (over the calibration images and classes) the classifier's kernel is scaled
#: to, so that the softmax output is peaked as a trained network's, not flat (a flat int8 softmax output holds
#: only a handful of distinct values, a weak golden).
LOGIT_STD = 2.5
#: Per-file size limit in bytes (the issue's "< 2 MB each").
MAX_BYTES = 2_000_000

#: name -> (keras.applications constructor, constructor arguments other than the defaults, input range).
MODELS: dict[str, tuple[str, dict, tuple[float, float]]] = {
    "mobilenet_v2": ("MobileNetV2", {"input_shape": (96, 96, 3), "alpha": 0.35, "classes": 100}, (-1.0, 1.0)),
    "mobilenet_v3_small": ("MobileNetV3Small", {"input_shape": (96, 96, 3), "alpha": 0.75, "classes": 100},
                           (0.0, 255.0)),
    "mobilenet_v3_large": ("MobileNetV3Large", {"input_shape": (96, 96, 3), "alpha": 0.5, "classes": 100},
                           (0.0, 255.0)),
}

#: variant -> description recorded in the provenance.
VARIANTS = {
    "int8": "full-integer int8: supported_ops [TFLITE_BUILTINS_INT8], inference_input_type = "
            "inference_output_type = tf.int8, representative_dataset",
    "int8_float_io": "full-integer int8 with the default float32 interface: supported_ops [TFLITE_BUILTINS_INT8], "
                     "representative_dataset",
    "16x8": "int16 activations, int8 weights: supported_ops "
            "[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8], default float32 interface, "
            "representative_dataset",
}


def calibration_images(shape: tuple[int, ...], value_range: tuple[float, float]) -> np.ndarray:
    """CALIBRATION_IMAGES float32 images drawn uniformly over ``value_range`` with CALIBRATION_SEED."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    lo, hi = value_range
    return rng.uniform(lo, hi, (CALIBRATION_IMAGES, *shape)).astype(np.float32)


def build(constructor: str, kwargs: dict, images: np.ndarray):
    """The Keras model with seeded weights and BatchNormalization statistics measured on ``images``."""
    import keras

    keras.utils.set_random_seed(WEIGHT_SEED)
    model = getattr(keras.applications, constructor)(weights=None, include_top=True, **kwargs)
    rng = np.random.default_rng(WEIGHT_SEED)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        channels = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))
        layer.beta.assign(rng.normal(0.0, 0.5, channels).astype(np.float32))
        layer.momentum = 0.0  # the next training-mode pass sets the moving statistics to the batch's
    model(images, training=True)
    for layer in norms:
        layer.momentum = 0.99
    classifier = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None][-1]
    features = keras.Model(model.inputs, classifier.input)(images, training=False)
    kernel = np.asarray(classifier.kernel)
    logits = np.asarray(features).reshape(len(images), -1) @ kernel.reshape(-1, kernel.shape[-1])
    classifier.kernel.assign(kernel * np.float32(LOGIT_STD / logits.std()))
    return model


def convert(model, images: np.ndarray, variant: str) -> bytes:
    import tensorflow as tf

    def representative():
        for image in images:
            yield [image[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    if variant == "16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if variant == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "keras",
                        help="output folder (default: tests/data/keras of this checkout)")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    args.out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    refused: dict[str, str] = {}
    for name, (constructor, kwargs, value_range) in MODELS.items():
        images = calibration_images(kwargs["input_shape"], value_range)
        model = build(constructor, kwargs, images)
        for variant in VARIANTS:
            try:
                data = convert(model, images, variant)
            except Exception as exc:  # the converter refuses the variant: record why, write no file
                reason = str(exc).strip().splitlines()[-1]
                refused[f"{name}_{variant}"] = reason
                print(f"{name} {variant}: not converted: {reason}", flush=True)
                continue
            if len(data) >= MAX_BYTES:
                raise SystemExit(f"{name} {variant}: {len(data)} bytes, over the {MAX_BYTES}-byte limit")
            file = f"{name}_{variant}.tflite"
            (args.out / file).write_bytes(data)
            files[file] = {"model": name, "variant": variant, "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
            print(f"{file}: {len(data)} bytes", flush=True)
    provenance = {
        "generator": "tools/make_keras_tflite.py",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "weight_seed": WEIGHT_SEED,
        "batch_norm": "gamma ~ U(0.5, 1.5), beta ~ N(0, 0.5) (numpy default_rng(weight_seed)); moving statistics "
                      "= batch statistics of one training-mode pass over the calibration images",
        "classifier": f"kernel scaled so that the logits' standard deviation on the calibration images is "
                      f"{LOGIT_STD}",
        "calibration": {"seed": CALIBRATION_SEED, "images": CALIBRATION_IMAGES,
                        "distribution": "numpy default_rng(seed).uniform(lo, hi, (images, H, W, 3)) float32"},
        "models": {name: {"constructor": f"keras.applications.{constructor}",
                          "arguments": {"weights": None, "include_top": True,
                                        **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}},
                          "input_range": list(value_range)}
                   for name, (constructor, kwargs, value_range) in MODELS.items()},
        "variants": VARIANTS,
        "files": files,
        "refused_by_converter": refused,
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
