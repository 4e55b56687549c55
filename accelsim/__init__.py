"""accelsim: a cycle-approximate simulator and design-space explorer for fixed-point DNN accelerators.

Public API::

    graph = accelsim.load_workload("workloads/mobilenet_v2_1.0_224.yaml")   # YAML, .onnx, .tflite or a zoo name
    hw = accelsim.load_hw("hw_configs/hvx_690.yaml")
    report = accelsim.simulate(graph, hw)          # latency, energy, bandwidth, area per layer and in total
    result = accelsim.execute(graph, {"input": x}) # bit-exact integer execution
"""
from __future__ import annotations

from accelsim._version import __version__

# Bound eagerly: two of these functions share their module's name (accelsim.execute, accelsim.simulate), and a
# lazily bound package attribute would be replaced by the module the first time the module is imported.
from accelsim.config.hw import load_hw  # noqa: E402
from accelsim.execute import execute, execute_float  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402
from accelsim.workloads import load_workload  # noqa: E402

__all__ = ["__version__", "execute", "execute_float", "load_hw", "load_workload", "simulate"]
