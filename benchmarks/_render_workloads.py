"""Sections of the single-workload benchmarks (equal effort, ingestion, search during
ingestion, cold start): one renderer per ``"benchmark"`` kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {}
