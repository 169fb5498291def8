from __future__ import annotations

import pytest

from vecnest.compress.spec import CodeKind, Scoring, TransformKind, parse_pipeline, parse_tier
from vecnest.errors import CompressionConfigError, InvalidInputError


def test_parse_and_print_round_trip() -> None:
    text = "binary-rot192/hamming@40 > binary-rot192/asym@4 > int8 > float32"
    spec = parse_pipeline(text, 384)
    assert str(spec) == text
    first = spec.first
    assert (first.code, first.transform, first.dims, first.scoring, first.keep) == (CodeKind.BINARY, TransformKind.ROT, 192, Scoring.HAMMING, 40)
    assert first.code_size(384) == 24 and spec.ram_bytes_per_vector(384) == 24
    assert list(spec.stored()) == ["binary-rot192", "int8"]  # float32 is the segment; shared codes once
    assert parse_pipeline(" OPQ48 >float32 ").tiers[0].pq_m == 48
    assert parse_tier("float8-pca192").code_size(384) == 192
    assert parse_tier("int8").code_size(384) == 384 and parse_tier("float16").code_size(384) == 768


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("binary > float64", "unknown code 'float64'"),
        ("int4 > float32", "unknown code 'int4'"),
        ("binary-pca512 > float32", "keeps 512 dimensions, but the vectors have 384"),
        ("binary-foo192 > float32", "unknown transform 'foo'"),
        ("float32 > int8", "can only be the last tier"),
        ("binary-rot192", "cannot end a pipeline"),
        ("binary-rot100 > float32", "multiple of 8"),
        ("pq50 > float32", r"must divide its 384 dimensions \(e\.g\. pq96\)"),
        ("pq > float32", "needs its number of sub-quantizers"),
        ("int8/asym > float32", "only binary tiers take a scoring"),
        ("binary/fast > float32", "unknown scoring 'fast'"),
        ("float32-pca64", "takes no transform"),
        ("binary@0 > float32", "use @1 or more"),
        ("", "a compression pipeline is a string"),
        ("binary >> float32", "cannot read tier"),
    ],
)
def test_bad_pipelines_raise_typed_errors(text: str, match: str) -> None:
    with pytest.raises(CompressionConfigError, match=match) as info:
        parse_pipeline(text, 384)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)
    assert info.value.http_status == 400


def test_with_first_keep_changes_only_the_first_tier() -> None:
    spec = parse_pipeline("binary/asym > int8@3 > float32")
    assert str(spec.with_first_keep(20)) == "binary/asym@20 > int8@3 > float32"
