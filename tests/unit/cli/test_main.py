"""The CLI end to end on the bundled arXiv sample with the default model (small slice)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from vecnest.cli.demo import sample_path
from vecnest.cli.main import main


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "store"
    assert main(["ingest", str(sample_path()), "--db", str(db), "-c", "papers", "--limit", "60",
                 "--batch-size", "25", "--index-fields", "primary_category"]) == 0
    return db


def test_ingest_then_search_table(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["search", "image segmentation", "--db", str(ingested), "-c", "papers", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "image segmentation" in out and "score" in out and "3 hits" in out


def test_search_json_with_filter(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    where = json.dumps({"primary_category": "cs.CL"})
    assert main(["search", "language models", "--db", str(ingested), "-c", "papers", "-k", "5",
                 "--where", where, "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with gzip.open(sample_path(), "rt") as fh:
        first60 = [json.loads(line) for _, line in zip(range(60), fh, strict=False)]
    expected = {r["_id"] for r in first60 if r["primary_category"] == "cs.CL"}
    assert hits and {h["id"] for h in hits} <= expected
    assert len(hits) == min(5, len(expected))
    assert hits[0]["score"] >= hits[-1]["score"]
    assert "title" not in hits[0]["metadata"] and hits[0]["metadata"]["primary_category"] == "cs.CL"


def test_info(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["info", "--db", str(ingested), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["collections"][0]["count"] == 60
    assert info["collections"][0]["model"] == "all-MiniLM-L6-v2"
    assert main(["info", "--db", str(ingested)]) == 0
    assert "papers" in capsys.readouterr().out


def test_ingest_again_is_a_clear_duplicate_error(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["ingest", str(sample_path()), "--db", str(ingested), "-c", "papers", "--limit", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "DuplicateIdError" in err and "upsert" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["search", "q", "--db", "{db}", "-c", "nope"], "no collection named 'nope'"),
        (["search", "q", "--db", "{db}", "-c", "papers", "--where", "{bad"], "must be a JSON object"),
        (["search", "q", "--db", "{db}", "-c", "papers", "--where", '{"year": {"$gtt": 1}}'], "InvalidFilterError"),
        (["search", "q", "--db", "{db}", "-c", "papers", "-k", "0"], "between 1 and"),
        (["info", "--db", "/nonexistent/vecnest"], "no vecnest store"),
        (["ingest", "/nonexistent.jsonl", "--db", "{db}", "-c", "x"], "no such file"),
    ],
)
def test_errors_are_one_line(ingested: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    capsys.readouterr()
    code = main([a.replace("{db}", str(ingested)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_ingest_reports_bad_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n')
    assert main(["ingest", str(data), "--db", str(tmp_path / "s"), "-c", "c"]) == 2
    assert "d.jsonl:2: not valid JSON" in capsys.readouterr().err
    data.write_text('{"id": "a", "body": "fine"}\n')
    assert main(["ingest", str(data), "--db", str(tmp_path / "s"), "-c", "c"]) == 2
    assert "--id-field" in capsys.readouterr().err
