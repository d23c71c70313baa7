"""Tag names and the tag record."""

from __future__ import annotations

import datetime as dt

import pytest

from m365_pipeline.snapshots.tags import Retention, Tag, TagName, TagNameError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("prod-release-v1.2.3-20240624", TagName("prod", "release", "v1.2.3", dt.date(2024, 6, 24))),
        ("staging-weekly-v0.10.0-20241231", TagName("staging", "weekly", "v0.10.0", dt.date(2024, 12, 31))),
        (
            "regression-feature-v2.0.0-rc.1-20240229",
            TagName("regression", "feature", "v2.0.0-rc.1", dt.date(2024, 2, 29)),
        ),
        ("dev-manual-v10.20.30-20000101", TagName("dev", "manual", "v10.20.30", dt.date(2000, 1, 1))),
    ],
)
def test_valid_names_parse_and_print_back(name: str, expected: TagName) -> None:
    assert TagName.parse(name) == expected
    assert str(expected) == name


@pytest.mark.parametrize(
    ("name", "wrong_parts", "mentions"),
    [
        ("prd-release-v1.2.3-20240624", {"env"}, "'prd' is not one of prod"),
        ("Prod-release-v1.2.3-20240624", {"env"}, "'Prod'"),
        ("prod-rel-v1.2.3-20240624", {"type"}, "'rel' is not one of release"),
        ("prod-release-1.2.3-20240624", {"version"}, "'1.2.3' is not vMAJOR.MINOR.PATCH"),
        ("prod-release-v1.2-20240624", {"version"}, "'v1.2'"),
        ("prod-release-v01.2.3-20240624", {"version"}, "'v01.2.3'"),
        ("prod-release-v1.2.3-rc_1-20240624", {"version"}, "'v1.2.3-rc_1'"),
        ("prod-release-v1.2.3-2024-06-24", {"version", "date"}, "'24' is not YYYYMMDD"),
        ("prod-release-v1.2.3-240624", {"date"}, "'240624' is not YYYYMMDD"),
        ("prod-release-v1.2.3-20240631", {"date"}, "'20240631' is not a calendar date"),
        ("prod-release-v1.2.3-20230229", {"date"}, "not a calendar date"),
        ("prd-rel-1.2.3-2024", {"env", "type", "version", "date"}, "env: 'prd'"),
        ("prod-release-20240624", {"format"}, "3 part(s)"),
        ("", {"format"}, "1 part(s)"),
    ],
)
def test_invalid_names_name_what_is_wrong(name: str, wrong_parts: set[str], mentions: str) -> None:
    with pytest.raises(TagNameError) as raised:
        TagName.parse(name)
    assert set(raised.value.problems) == wrong_parts
    assert mentions in str(raised.value)
    assert repr(name) in str(raised.value)


def test_of_validates_like_parse() -> None:
    assert str(TagName.of("prod", "weekly", "v1.0.0", dt.date(2024, 6, 30))) == "prod-weekly-v1.0.0-20240630"
    with pytest.raises(TagNameError) as raised:
        TagName.of("prod", "nightly", "v1.0.0", dt.date(2024, 6, 30))
    assert set(raised.value.problems) == {"type"}


def test_names_sort_by_env_type_version_date() -> None:
    names = [TagName.parse(n) for n in ("prod-release-v1.0.0-20240702", "prod-release-v1.0.0-20240701")]
    assert [str(n) for n in sorted(names)] == ["prod-release-v1.0.0-20240701", "prod-release-v1.0.0-20240702"]


def _tag(**changes: object) -> Tag:
    fields: dict[str, object] = {
        "name": TagName.parse("prod-release-v1.2.3-20240624"),
        "commit": "a" * 40,
        "schema_version": "0007_groups",
        "config_hash": "b" * 64,
        "snapshot_id": "c" * 64,
        "artifact_checksums": {"reports/t1/AllUsers_20240624_060000.csv": "d" * 64},
        "retention": Retention(dt.date(2025, 6, 24)),
        "created_at": dt.datetime(2024, 6, 24, 6, 0, tzinfo=dt.UTC),
    }
    fields.update(changes)
    return Tag(**fields)  # type: ignore[arg-type]


def test_tag_round_trips_through_its_dict() -> None:
    tag = _tag()
    assert Tag.from_dict(tag.to_dict()) == tag
    assert Tag.from_dict(_tag(retention=Retention()).to_dict()).retention.keep_until is None


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"commit": "abc"}, "commit 'abc'"),
        ({"config_hash": "B" * 64}, "config_hash"),
        ({"snapshot_id": ""}, "snapshot_id"),
        ({"schema_version": ""}, "schema_version is empty"),
        ({"artifact_checksums": {"../etc/passwd": "d" * 64}}, "artifact path '../etc/passwd'"),
        ({"artifact_checksums": {"a.csv": "xyz"}}, "checksum of artifact 'a.csv'"),
        ({"created_at": dt.datetime(2024, 6, 24)}, "time zone"),
    ],
)
def test_tag_record_rejects_malformed_fields(changes: dict[str, object], mentions: str) -> None:
    with pytest.raises(ValueError, match=r"invalid tag prod-release-v1\.2\.3-20240624") as raised:
        _tag(**changes)
    assert mentions in str(raised.value)


def test_retention() -> None:
    assert not Retention().expired(dt.date(2999, 1, 1))
    assert not Retention(dt.date(2024, 6, 24)).expired(dt.date(2024, 6, 24))
    assert Retention(dt.date(2024, 6, 24)).expired(dt.date(2024, 6, 25))
