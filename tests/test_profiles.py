"""Shipped profiles are valid and sourced; broken profiles are refused clearly."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from compatcheck.errors import ProfileError, UserError
from compatcheck.profiles import load_profile, platform_names, resolve_platforms

SHIPPED = ["alipay", "baidu", "douyin", "qq", "wechat"]


def test_every_supported_platform_ships():
    assert platform_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_fact_cites_a_source_url(name):
    profile = load_profile(name)
    facts = list(profile.limits.values())
    for engine in profile.engines:
        facts += [engine.status, engine.formats, *engine.requires]
    for fact in facts:
        assert fact.url.startswith("https://"), fact.path
        assert fact.confidence in (
            "documented",
            "vendor-doc-mirror",
            "community",
            "inferred",
        )


def test_aliases_and_all():
    assert load_profile("bytedance").platform == "douyin"
    assert resolve_platforms(["wechat,alipay", "wechat"]) == ["wechat", "alipay"]
    assert resolve_platforms(["all"]) == SHIPPED


def test_wechat_operator_table_matches_the_research():
    engine = load_profile("wechat").engine("wx-inference")
    assert len(engine.rows) == 67
    npu = [row for row, backends in engine.rows.items() if "ios-npu" in backends]
    assert len(npu) == 32
    assert "ios-npu" not in engine.rows["Permute"]
    assert engine.rows["NMS"] == ("cpu",)
    assert "Ceil" in engine.row_kinds["Unary"]


def test_unknown_platform_lists_the_choices():
    with pytest.raises(UserError) as caught:
        load_profile("kakao")
    assert "unknown platform; choose from alipay, baidu, douyin, qq, wechat" in str(
        caught.value
    )


def _broken(tmp_path, edit) -> str:
    data = yaml.safe_load((ROOT / "platform_profiles" / "wechat.yaml").read_text())
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


BROKEN = [
    (
        "unknown key",
        lambda d: d["limits"].update(max_ram={"value": 1}),
        "limits: unknown key 'max_ram'; expected one of: download_bytes",
    ),
    (
        "wrong value type",
        lambda d: d["limits"]["main_package_bytes"].update(value="2MB"),
        "limits.main_package_bytes.value: got '2MB'; expected an integer >= 1 or "
        "'unknown' or 'none'",
    ),
    (
        "bad confidence",
        lambda d: d["engines"][0]["formats"].update(confidence="sure"),
        "engines[0].formats.confidence: got 'sure'; expected one of",
    ),
    (
        "missing key",
        lambda d: d["limits"].pop("download_bytes"),
        "limits: 'download_bytes' is missing",
    ),
    (
        "unknown source",
        lambda d: d["limits"]["main_package_bytes"].update(source="X"),
        "limits.main_package_bytes.source: 'X' is not in the sources table",
    ),
    (
        "unknown row",
        lambda d: d["engines"][0]["operators"]["map"].update(Foo={"row": "Nope"}),
        "engines[0].operators.map.Foo: row 'Nope' is not in",
    ),
]


@pytest.mark.parametrize(
    "edit, message", [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_profile_names_the_key_path(tmp_path, edit, message):
    path = _broken(tmp_path, edit)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.where == path
    assert message in caught.value.problem


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("platform: x\nlimits: [unclosed\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "invalid YAML at line 3" in caught.value.problem


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        previous = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{previous}]")
    path = tmp_path / "bomb.yaml"
    lines.append("notes: *a8")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "through aliases; refusing to expand it" in caught.value.problem


@pytest.mark.parametrize(
    "content, message",
    [
        (b"- just\n- a list\n", "must be a YAML mapping with platform facts"),
        (b"platform: \xff\xfe\n", "is not UTF-8 text"),
    ],
)
def test_unreadable_profiles(tmp_path, content, message):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(path))
