"""Quantization settings of a task evaluation: the workload ``quant:`` keys plus the observers, mapped onto
:class:`accelsim.graph.ptq.PTQSettings` (the PTQ of Krishnamoorthi 2018 §3, [ref:Krishnamoorthi18]).

The keys are those of a workload's ``quant:`` block (:class:`accelsim.workloads.yaml_format.QuantSpec`:
``weight_bits``, ``activation_bits``, ``per_channel``, ``symmetric_weights``, ``requant``, ``overrides``) and
``activation_observer`` / ``weight_observer``. Per-layer ``overrides`` are keyed by graph node name and set
``weight_bits`` and/or ``activation_bits``; ``layer_bits`` takes the per-layer selectors of
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
from accelsim.quant.requant import MODES
from accelsim.workloads.yaml_format import ActivationBits, WeightBits, _Strict

#: Fields of one per-layer override of a task.
OVERRIDE_FIELDS = ("weight_bits", "activation_bits")


class TaskLayerOverride(_Strict):
    """Per-node precision that differs from the task-wide setting (None keeps it)."""

    weight_bits: WeightBits | None = Field(None, description="Weight bits of this Conv2D / FullyConnected node.")
    activation_bits: ActivationBits | None = Field(None, description="Bits of this node's output activation.")


class TaskQuant(_Strict):
    """Task-wide PTQ settings (defaults: the whitepaper's recommended W8A8, symmetric per-channel weights)."""

    weight_bits: WeightBits = Field(8, description="Weight bits (2, 4, 8, 16).")
    activation_bits: ActivationBits = Field(8, description="Activation bits (2, 4, 8, 16).")
    per_channel: bool = Field(True, description="One weight scale per output channel (else per tensor).")
    symmetric_weights: bool = Field(True, description="Weight zero point 0 (else asymmetric min/max).")
    requant: str = Field("fixed_point", description="Requantization (rounding) mode, accelsim.quant.requant.MODES.")
    activation_observer: str = Field("minmax", description="minmax | ema_minmax | percentile | mse.")
    weight_observer: str = Field("minmax", description="minmax | mse.")
    overrides: dict[str, TaskLayerOverride] = Field(default_factory=dict, description="Node name -> precision.")
    layer_bits: str | list[str | dict[str, str | int | bool | None]] | None = Field(
        None, description="Per-layer selectors (accelsim.graph.selectors): the compact string "
        "(`depthwise=w8a8,first=w8`) or a list of entries; null = none.")

    @field_validator("requant")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        if v not in MODES:
            raise ValueError(f"a requantization mode, one of {', '.join(MODES)}")
        return v

    @field_validator("activation_observer")
    @classmethod
    def _known_act_observer(cls, v: str) -> str:
        from accelsim.graph.ptq import ACTIVATION_OBSERVERS
        if v not in ACTIVATION_OBSERVERS:
            raise ValueError(f"one of {', '.join(ACTIVATION_OBSERVERS)}")
        return v

    @field_validator("weight_observer")
    @classmethod
    def _known_w_observer(cls, v: str) -> str:
        from accelsim.graph.ptq import WEIGHT_OBSERVERS
        if v not in WEIGHT_OBSERVERS:
            raise ValueError(f"one of {', '.join(WEIGHT_OBSERVERS)}")
        return v

    def ptq_settings(self) -> PTQSettings:
        """The :class:`PTQSettings` these keys select."""
        return PTQSettings(
            weight_bits=self.weight_bits, weight_symmetric=self.symmetric_weights,
            weight_per_channel=self.per_channel, activation_bits=self.activation_bits,
            activation_observer=self.activation_observer, weight_observer=self.weight_observer,
            requant_mode=self.requant,
            overrides=tuple(LayerOverride(node, o.weight_bits, o.activation_bits)
                            for node, o in sorted(self.overrides.items())),
            layer_bits=parse_layer_bits(self.layer_bits),
        )


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
