"""Lazy import of optional dependencies, with one clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from vecnest.errors import MissingDependencyError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Args:
        module: dotted module name, e.g. ``"sentence_transformers"``.
        extra: the vecnest extra that brings it, e.g. ``"torch"``.
        purpose: what the caller wanted to do, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module}', which is not installed "
            f"({exc}). Install it with: pip install 'vecnest[{extra}]'"
        ) from exc
