"""Hypothesis fuzzing of the two parsers that read untrusted input: the filter language (from
every search/get/delete, now also over HTTP) and the JSONL ingest reader. Whatever arrives, the
outcome is a parsed value or the typed vecnest error, never another exception."""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecnest import filter as vfilter
from vecnest.cli.ingest import JsonlSource
from vecnest.errors import InvalidFilterError, InvalidInputError
from vecnest.jsonl import iter_jsonl

OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains", "$contains_any",
       "$contains_all", "$and", "$or", "$not", "$not_contains", "$regex", "$", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
keys = st.one_of(st.sampled_from(OPS), st.text(max_size=6))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(keys, inner, max_size=4)), max_leaves=25)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=json_values, where_document=json_values)
def test_filter_parser_accepts_or_raises_invalid_filter(where: object, where_document: object) -> None:
    for w, d in ((where, None), (None, where_document), (where, where_document)):
        try:
            node = vfilter.parse(w, d)  # type: ignore[arg-type]
        except InvalidFilterError:
            continue
        sql, params = vfilter.to_sql(node)  # a parsed filter always compiles
        assert isinstance(sql, str) and isinstance(params, list)


lines = st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("utf-8", "replace")),
                  st.sampled_from(['{"_id": 1, "title": "t", "text": "x"}', '{"_id": "a"}', "[1, 2]", "{", "null",
                                   '{"_id": "b", "text": ""}', '{"_id": "c", "text": "ok", "extra": {"n": [1]}}']))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.lists(lines, max_size=8), raw=st.binary(max_size=40), gz=st.booleans())
def test_jsonl_reader_reads_or_raises_invalid_input(tmp_path: Path, body: list[str], raw: bytes, gz: bool) -> None:
    data = ("\n".join(body)).encode("utf-8", "surrogatepass") + raw
    path = tmp_path / ("c.jsonl.gz" if gz else "c.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        for lineno, obj in iter_jsonl(path):
            assert isinstance(obj, dict) and lineno >= 1
    except InvalidInputError:
        pass
    try:
        for ids, texts, metas in JsonlSource(path).batches(3):
            assert len(ids) == len(texts) == len(metas) and all(t.strip() for t in texts)
    except InvalidInputError:
        pass
