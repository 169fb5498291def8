from __future__ import annotations

from pathlib import Path

import pytest

import vecnest
from conftest import REPO
from vecnest.eval.sweep import load_sweep, plot_sweep, run_sweep

TINY = REPO / "tests" / "data" / "tiny-beir"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(body)
    return path


def test_sweep_builds_each_config_once_and_plots(tmp_path: Path) -> None:
    spec = load_sweep(_write(tmp_path, f'''
dataset = "{TINY}"
metrics = ["ndcg@10", "recall@5"]
k = 5
[[config]]
name = "exact"
[[config]]
name = "hnsw"
index = "hnsw"
min_rows = 2
ef_search = [4, 32]
'''))
    reports = run_sweep(spec, cache_dir=tmp_path / "cache")
    assert [(r.config["name"], r.config["search"]) for r in reports] == [
        ("exact", {}), ("hnsw", {"ef_search": 4}), ("hnsw", {"ef_search": 32})]
    for r in reports:
        assert r.ann_recall["recall@5"] == 1.0  # six documents: every index is exact here
        assert r.quality["ndcg@10"] > 0.5
    hnsw_bytes, exact_bytes = reports[1].bytes_per_vector, reports[0].bytes_per_vector
    assert hnsw_bytes["index_vectors"] == hnsw_bytes["vectors_float32"] / 2  # the graph keeps a float16 copy
    assert hnsw_bytes["index_ids"] == 8  # one int64 slot label per vector
    assert hnsw_bytes["index_graph_links"] > 0 and hnsw_bytes["index_other"] >= 0
    assert not any(key.startswith("index_") for key in exact_bytes)
    assert list((tmp_path / "cache").glob("*.documents.npy"))  # embedded once, cached
    paths = plot_sweep(reports, tmp_path / "plots")
    assert [p.name for p in paths] == ["recall_vs_qps.png", "quality_vs_bytes.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('metrics = ["ndcg@10"]\n', "needs 'dataset"),
        ('dataset = "x"\n[[config]]\nname = "a"\nefsearch = 3\n', "unknown keys"),
        ('dataset = "x"\n[[config\n', "cannot read sweep file"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(vecnest.InvalidInputError, match=match):
        load_sweep(_write(tmp_path, body))
