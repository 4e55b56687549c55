"""Accuracy-aware design-space exploration: per-layer precision sensitivity (:mod:`accelsim.dse.sensitivity`)
and the mixed-precision Pareto search (:mod:`accelsim.dse.search`); docs/search.md."""
from accelsim.dse.search import (
    PREDICTORS, SearchResult, assignment_quant, dominating, min_proxy_assignment, search, uniform_points,
)
from accelsim.dse.sensitivity import (
    SENSITIVITY_COLUMNS, Evaluator, Measurement, default_base_quant, lower_activation_bits, lower_moves,
    lower_weight_bits, output_sqnr_db, sensitivity_row, sensitivity_table, sqnr_db, with_layer_weight_bits,
)

__all__ = [
    "PREDICTORS", "SENSITIVITY_COLUMNS", "Evaluator", "Measurement", "SearchResult", "assignment_quant",
    "default_base_quant", "dominating", "lower_activation_bits", "lower_moves", "lower_weight_bits",
    "min_proxy_assignment", "output_sqnr_db", "search",
    "sensitivity_row", "sensitivity_table", "sqnr_db", "uniform_points", "with_layer_weight_bits",
]
