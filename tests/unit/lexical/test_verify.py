"""`vecnest check` over the lexical index and the snapshot image: a sound store passes, damage is
found, searches stay exact meanwhile, and --repair rebuilds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import vecnest
from tests.conftest import hashing_embed
from vecnest.search.image import IMAGE_MIN_ROWS

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def _store(tmp_path: Path) -> tuple[Path, vecnest.CallableEncoder]:
    enc = vecnest.CallableEncoder(hashing_embed, dim=64, name="hash")
    rng = np.random.default_rng(0)
    n = IMAGE_MIN_ROWS + 100
    with vecnest.open(tmp_path / "s", background=False) as db:
        col = db.create_collection("c", enc)
        texts = [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]
        col.add([f"d{i}" for i in range(n)], texts, [{"g": i % 3} for i in range(n)])
    return tmp_path / "s", enc


def _finding(report: vecnest.CheckReport, part: str) -> list[str]:
    return [f"{f.severity.value}: {f.message}" for c in report.collections for f in c.findings if f.part == part]


def test_lexical_index_and_image_are_checked_and_repaired(tmp_path: Path) -> None:
    root, enc = _store(tmp_path)
    report = vecnest.check(root)
    assert report.ok and report.exit_code == 0
    assert _finding(report, "lexical")[0].startswith("ok: lexical index of")
    assert _finding(report, "image")[0].startswith("ok: image of")
    with vecnest.open(root, read_only=True) as db:
        want = [h.id for h in db.get_collection("c", model=enc).search("alpha beta", k=10, mode="lexical", include=())]
    lex = next((root / "segments").glob("c1.lex.*"))
    part = next(p for p in lex.iterdir() if p.is_dir())
    for f in part.iterdir():
        f.write_bytes(b"garbage")  # the postings are destroyed
    image = next((root / "segments").glob("c1.image.*"))
    image.write_bytes(image.read_bytes()[:100])
    report = vecnest.check(root)
    assert report.exit_code == 1
    assert _finding(report, "lexical")[0].startswith("damaged:") and _finding(report, "image")[0].startswith("damaged:")
    with vecnest.open(root, read_only=True) as db:  # meanwhile: exact results (every row scored as pending)
        col = db.get_collection("c", model=enc)
        assert [h.id for h in col.search("alpha beta", k=10, mode="lexical", include=())] == want
    repaired = vecnest.check(root, repair=True)
    assert repaired.ok, repaired
    assert not lex.exists() and not image.exists()  # rebuilt under fresh names, the damaged ones swept
    with vecnest.open(root, read_only=True) as db:
        assert [h.id for h in db.get_collection("c", model=enc).search("alpha beta", k=10, mode="lexical", include=())] == want


def test_an_index_of_another_analyser_is_rebuilt(tmp_path: Path) -> None:
    root, enc = _store(tmp_path)
    with vecnest.open(root, background=False) as db:  # a collection re-created with a new analyser
        old = next((root / "segments").glob("c1.lex.*")).name
        col = db.create_collection("d", enc, lexical=vecnest.lexical.AnalyzerConfig(stemming=False))
        col.add(["x", "y"], ["running runs", "a run"])
        assert [h.id for h in col.search("runs", k=5, mode="lexical", include=())] == ["x"]  # no stemming
        assert next((root / "segments").glob("c1.lex.*")).name == old
    assert vecnest.check(root).ok
