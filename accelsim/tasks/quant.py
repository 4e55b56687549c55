"""Quantization settings of a task evaluation: the workload ``quant:`` keys plus the observers, mapped onto
:class:`accelsim.graph.ptq.PTQSettings` (the PTQ of Krishnamoorthi 2018 §3, [ref:Krishnamoorthi18]).

The keys are those of a workload's ``quant:`` block (:class:`accelsim.workloads.yaml_format.QuantSpec`:
``weight_bits``, ``activation_bits``, ``per_channel``, ``symmetric_weights``, ``requant``, ``overrides``) and
``activation_observer`` / ``weight_observer``. Per-layer ``overrides`` are keyed by graph node name and set
``weight_bits``, ``activation_bits`` and/or ``per_channel``; ``layer_bits`` takes the per-layer selectors of
:mod:`accelsim.graph.selectors` (op kind, ``first`` / ``last``, name glob), checked against the task graph before
anything runs. Precedence as in PTQ: task-wide < ``layer_bits`` < ``overrides``.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import Field, field_validator

from accelsim.config.loading import validate_model
from accelsim.errors import ConfigError
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import LayerOverride, PTQSettings
from accelsim.graph.selectors import parse_layer_bits, resolve_layer_bits
from accelsim.workloads.yaml_format import LayerOverride as LayerOverrideSpec
from accelsim.workloads.yaml_format import QuantSpec

#: Fields of one per-layer override of a task (those of a workload's per-layer override).
OVERRIDE_FIELDS = tuple(LayerOverrideSpec.model_fields)
#: A task's per-node override is a workload's per-layer override (keyed by graph node name).
TaskLayerOverride = LayerOverrideSpec


class TaskQuant(QuantSpec):
    """A workload's ``quant:`` block (:class:`~accelsim.workloads.yaml_format.QuantSpec`: the whitepaper's W8A8,
    symmetric per-channel weights by default, ``overrides`` by node name, ``layer_bits`` selectors) plus the
    observers that calibrate it."""

    activation_observer: str = Field("minmax", description="minmax | ema_minmax | percentile | mse.")
    weight_observer: str = Field("minmax", description="minmax | mse.")

    @field_validator("activation_observer")
    @classmethod
    def _known_act_observer(cls, v: str) -> str:
        from accelsim.graph.ptq import ACTIVATION_OBSERVERS
        return _one_of(v, ACTIVATION_OBSERVERS)

    @field_validator("weight_observer")
    @classmethod
    def _known_w_observer(cls, v: str) -> str:
        from accelsim.graph.ptq import WEIGHT_OBSERVERS
        return _one_of(v, WEIGHT_OBSERVERS)

    def ptq_settings(self) -> PTQSettings:
        """The :class:`PTQSettings` these keys select."""
        return PTQSettings(
            weight_bits=self.weight_bits, weight_symmetric=self.symmetric_weights,
            weight_per_channel=self.per_channel, activation_bits=self.activation_bits,
            activation_observer=self.activation_observer, weight_observer=self.weight_observer,
            requant_mode=self.requant,
            overrides=tuple(LayerOverride(node, o.weight_bits, o.activation_bits, o.per_channel)
                            for node, o in sorted(self.overrides.items())),
            layer_bits=parse_layer_bits(self.layer_bits),
        )


def _one_of(value: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise ValueError(f"one of {', '.join(choices)}")
    return value


def task_quant(settings: Mapping[str, Any], file: str, node_names: Collection[str] = (),
               key_prefix: str = "quant", graph: Graph | None = None) -> TaskQuant:
    """Validate ``settings`` into a :class:`TaskQuant`; an override naming no node of ``node_names`` (when given)
    is a ConfigError at ``<key_prefix>.overrides.<node>``; a malformed ``layer_bits`` entry, or (with ``graph``)
    one that matches no layer of the task graph, a ConfigError at ``<key_prefix>.layer_bits[i]``."""
    try:
        quant = validate_model(TaskQuant, dict(settings), file)
    except ConfigError as exc:
        raise exc.moved(prefix=key_prefix) from None
    selectors = parse_layer_bits(quant.layer_bits, file, f"{key_prefix}.layer_bits")
    if graph is not None and selectors:
        resolve_layer_bits(graph, selectors, source=file, key_path=f"{key_prefix}.layer_bits")
    if node_names:
        for node in quant.overrides:
            if node not in node_names:
                raise ConfigError(file, f"{key_prefix}.overrides.{node}", "the name of a node of the task graph "
                                  f"(e.g. {', '.join(sorted(node_names)[:3])}, ...)", node)
    return quant


def merge_point_values(fixed: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed ``quant:`` settings with a point's ``quant.*`` values (keys without ``quant.``) merged in.

    ``overrides.<node>.<field>`` keys split off the last segment as the field, so node names may hold dots
    (ONNX names such as ``/features/features.0/Conv`` do); ``overrides.<node>`` sets a whole override mapping.
    """
    out: dict[str, Any] = {k: (dict(v) if k == "overrides" else v) for k, v in fixed.items()}
    if "overrides" in out:
        out["overrides"] = {n: dict(o) for n, o in out["overrides"].items()}
    for key, value in values.items():
        if key.startswith("overrides."):
            rest = key[len("overrides."):]
            node, _, leaf = rest.rpartition(".")
            overrides = out.setdefault("overrides", {})
            if node and leaf in OVERRIDE_FIELDS:
                overrides.setdefault(node, {})[leaf] = value
            else:
                overrides[rest] = dict(value) if isinstance(value, Mapping) else value
        else:
            out[key] = value
    return out


def quant_key_problem(path: str, node_names: Collection[str]) -> str | None:
    """None if ``path`` (without ``quant.``) is a task quant setting or ``overrides.<node>[.<field>]``."""
    if not path.startswith("overrides."):
        if path in TaskQuant.model_fields and path != "overrides":
            return None
        return f"a task quant setting (one of {', '.join(TaskQuant.model_fields)})"
    rest = path[len("overrides."):]
    node, _, leaf = rest.rpartition(".")
    if node and leaf in OVERRIDE_FIELDS and node in node_names:
        return None
    if rest in node_names:
        return None
    return (f"quant.overrides.<node>.<{'|'.join(OVERRIDE_FIELDS)}> with a node of the task graph "
            f"(e.g. {', '.join(sorted(node_names)[:2])})")
