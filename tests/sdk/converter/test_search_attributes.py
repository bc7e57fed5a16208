"""Search attribute encoding: the same payloads as temporalio's, and decoding back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import temporalio.common as tc
import temporalio.converter as tconv
from temporalio.api.common.v1 import SearchAttributes

from perdure import common as pc
from perdure import converter as pconv

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _typed(mod: object) -> object:
    key = mod.SearchAttributeKey  # type: ignore[attr-defined]
    pair = mod.SearchAttributePair  # type: ignore[attr-defined]
    return mod.TypedSearchAttributes(  # type: ignore[attr-defined]
        [
            pair(key.for_keyword("Kw"), "k"),
            pair(key.for_text("Txt"), "some text"),
            pair(key.for_int("Num"), 7),
            pair(key.for_float("Dbl"), 1.5),
            pair(key.for_bool("Flag"), True),
            pair(key.for_datetime("When"), WHEN),
            pair(key.for_keyword_list("Kws"), ["a", "b"]),
        ]
    )


def test_typed_encoding_matches_temporalio() -> None:
    ours, theirs = SearchAttributes(), SearchAttributes()
    pconv.encode_search_attributes(_typed(pc), ours)  # type: ignore[arg-type]
    tconv.encode_search_attributes(_typed(tc), theirs)  # type: ignore[arg-type]
    assert ours == theirs
    assert ours.indexed_fields["Kws"].metadata["type"] == b"KeywordList"
    decoded = pconv.decode_typed_search_attributes(theirs)
    assert decoded == _typed(pc)
    assert decoded[pc.SearchAttributeKey.for_datetime("When")] == WHEN


def test_legacy_encoding_matches_temporalio() -> None:
    legacy = {"Kw": ["k"], "Nums": [1, 2], "When": [WHEN]}
    ours, theirs = SearchAttributes(), SearchAttributes()
    pconv.encode_search_attributes(legacy, ours)  # type: ignore[arg-type]
    tconv.encode_search_attributes(legacy, theirs)  # type: ignore[arg-type]
    assert ours == theirs
    assert pconv.decode_search_attributes(theirs) == tconv.decode_search_attributes(theirs)
    with pytest.raises(TypeError):
        pconv.encode_search_attribute_values(["a", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="Timezone"):
        pconv.encode_search_attribute_values([datetime(2024, 1, 1)])


def test_typed_value_checks_and_unset() -> None:
    key = pc.SearchAttributeKey.for_int("Num")
    with pytest.raises(TypeError):
        pconv.encode_typed_search_attribute_value(key, "not an int")
    with pytest.raises(TypeError):
        pconv.encode_typed_search_attribute_value(
            pc.SearchAttributeKey.for_keyword_list("K"),
            ["a", 1],  # type: ignore[list-item]
        )
    unset = pconv.encode_typed_search_attribute_value(key, None)
    assert unset == tconv.encode_typed_search_attribute_value(
        tc.SearchAttributeKey.for_int("Num"), None
    )
    assert "type" not in unset.metadata


def test_decoding_server_shapes() -> None:
    # Visibility may return a whole double as an int, or a single value inside a list;
    # values without type metadata are skipped in the typed form.
    api = SearchAttributes()
    api.indexed_fields["Dbl"].CopyFrom(tconv.PayloadConverter.default.to_payload(2))
    api.indexed_fields["Dbl"].metadata["type"] = b"Double"
    api.indexed_fields["Kw"].CopyFrom(tconv.PayloadConverter.default.to_payload(["one"]))
    api.indexed_fields["Kw"].metadata["type"] = b"Keyword"
    api.indexed_fields["Untyped"].CopyFrom(tconv.PayloadConverter.default.to_payload("x"))
    ours = pconv.decode_typed_search_attributes(api)
    theirs = tconv.decode_typed_search_attributes(api)
    assert [(p.key.name, p.value) for p in ours] == [(p.key.name, p.value) for p in theirs]
    assert ours[pc.SearchAttributeKey.for_float("Dbl")] == 2.0
    assert ours[pc.SearchAttributeKey.for_keyword("Kw")] == "one"
    assert len(ours) == 2


def test_both_forms_rejected() -> None:
    with pytest.raises(ValueError):
        pconv._search_attributes._encode_maybe_typed_search_attributes(
            {"Kw": ["a"]},
            _typed(pc),
            SearchAttributes(),  # type: ignore[arg-type]
        )
