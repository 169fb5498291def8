from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console

from vecnest.cli import tune as tune_cli


def _args(tmp_path: Path, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    tune_cli.add_arguments(p)
    return p.parse_args([*argv, "--plot", str(tmp_path / "p.png"), "--candidates", "binary > float32; int8 > float32", "--multipliers", "12", "-k", "5", "--queries", "50"])


def _rows(rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((20_000, 16)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_tune_command_prints_picks_and_applies(tmp_path: Path, rng: np.random.Generator) -> None:
    console = Console(record=True, width=200)
    applied: list[str] = []
    status = tune_cli.run(_args(tmp_path, "--budget", "3B", "--apply"), _rows(rng), console, apply=applied.append)
    text = console.export_text()
    assert status == 0 and applied == ["binary@12 > float32"]
    assert "chosen: binary@12 > float32" in text and "int8@12 > float32" in text and (tmp_path / "p.png").is_file()


def test_tune_command_reports_an_impossible_budget(tmp_path: Path, rng: np.random.Generator) -> None:
    console = Console(record=True, width=200)
    status = tune_cli.run(_args(tmp_path, "--budget", "1B"), _rows(rng), console)
    text = console.export_text()
    assert status == 2 and "no candidate pipeline fits in 1 bytes" in text and "binary@12 > float32" in text
