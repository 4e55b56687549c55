"""Workloads: the workload YAML format, the network zoo and ``load_workload``.

``load_workload(path)`` dispatches on the file suffix:

* ``.yaml`` / ``.yml`` -> the workload YAML format (:mod:`accelsim.workloads.yaml_format`), shape-only weights;
* ``.onnx`` -> :func:`accelsim.graph.importers.onnx.load_onnx`;
* ``.tflite`` -> :func:`accelsim.graph.importers.tflite.load_tflite`;
* a zoo name without suffix (``mobilenet_v2``, ``resnet_v1_50``, see :data:`accelsim.workloads.zoo.ZOO` and
  ``ALIASES``) -> the generated network, as if loaded from ``workloads/<name>.yaml``.

Shape-only graphs get weights from :func:`accelsim.graph.synthetic.synthesize_weights`.
"""
from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.graph.ir import Graph
from accelsim.workloads.yaml_format import WorkloadSpec, build_graph, load_workload_yaml, read_workload_spec, with_quant
from accelsim.workloads.zoo import ALIASES, ZOO, zoo_spec

__all__ = ["load_workload", "load_workload_yaml", "workload_spec", "zoo_names"]

_IMPORTERS = {
    ".onnx": ("accelsim.graph.importers.onnx", "load_onnx"),
    ".tflite": ("accelsim.graph.importers.tflite", "load_tflite"),
}


def zoo_names() -> list[str]:
    """Names accepted by ``load_workload`` besides file paths (zoo networks and their aliases)."""
    return [*ZOO, *ALIASES]


def workload_spec(source: str | Path) -> WorkloadSpec:
    """The workload YAML spec of a YAML file or a zoo name (imported .onnx/.tflite models have none)."""
    text, p = str(source), Path(source)
    if p.suffix.lower() in (".yaml", ".yml"):
        if not p.is_file():
            raise ConfigError(text, "", "an existing workload file", "no such file")
        return read_workload_spec(p)
    if not p.exists() and (text in ZOO or text in ALIASES):
        return zoo_spec(text)
    raise ConfigError(text, "", "a .yaml/.yml workload or a zoo network name (quantization settings apply to the "
                      "workload's quant: block; imported models carry their own)", text)


def load_workload(path: str | Path, quant: Mapping[str, Any] | None = None) -> Graph:
    """Load a workload from a YAML, ONNX or TFLite file, or a zoo network by name (see the module docstring).

    ``quant`` (YAML and zoo workloads only) is merged into the workload's ``quant:`` block, e.g.
    ``{"per_channel": False}``, ``{"weight_bits": 4, "overrides": {"conv1": {"weight_bits": 8}}}`` or
    ``{"weight_bits": 4, "layer_bits": "first=w8,last=w8"}`` (per-layer selectors, docs/quantization.md).
    """
    text, p = str(path), Path(path)
    suffix = p.suffix.lower()
    if suffix in _IMPORTERS and not quant:
        if not p.is_file():
            raise ConfigError(text, "", "an existing model file", "no such file")
        module_name, function = _IMPORTERS[suffix]
        return getattr(import_module(module_name), function)(p)
    if quant or suffix in (".yaml", ".yml") or (not p.exists() and (text in ZOO or text in ALIASES)):
        label = text if suffix in (".yaml", ".yml") else f"zoo:{text}"
        return build_graph(with_quant(workload_spec(p), quant or {}, label, check_layer_bits=False), label)
    raise ConfigError(text, "", "a .yaml/.yml workload, an .onnx or .tflite model, or a zoo network name "
                      f"({', '.join(zoo_names())})", "no such file" if not p.exists() else f"suffix {suffix!r}")
