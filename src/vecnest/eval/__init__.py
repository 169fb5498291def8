"""Evaluation: BEIR datasets, IR metrics (ranx), engine metrics, reports."""

from vecnest.eval.beir import BeirDataset, DatasetError, load_beir
from vecnest.eval.evaluate import DEFAULT_METRICS, EvalReport, evaluate
from vecnest.eval.metrics import ir_metrics

__all__ = ["DEFAULT_METRICS", "BeirDataset", "DatasetError", "EvalReport", "evaluate", "ir_metrics", "load_beir"]
