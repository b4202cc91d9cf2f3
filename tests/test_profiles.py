"""Shipped profiles are valid and sourced; broken profiles are refused clearly."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from compatcheck.errors import ProfileError, UserError
from compatcheck.profiles import load_profile, platform_names, resolve_platforms
from compatcheck.profiles.model import CONFIDENCE_ORDER

SHIPPED = ["alipay", "baidu", "douyin", "qq", "wechat"]


def test_every_supported_platform_ships():
    assert platform_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_fact_cites_a_source_url(name):
    profile = load_profile(name)
    facts = list(profile.limits.values())
    for engine in profile.engines:
        facts += [engine.status, engine.formats, *engine.requires]
    _assert_sourced(facts)


def _assert_sourced(facts) -> None:
    for fact in facts:
        assert fact.url.startswith("https://"), fact.path
        assert fact.confidence in CONFIDENCE_ORDER, fact.path


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
        "unknown shared engine",
        lambda d: d["engines"][1].update(engine="tfjs5"),
        "engines[1].engine: 'tfjs5' is not a shared engine profile; use one of: "
        "bytenn, paddlejs, tfjs",
    ),
    (
        "engine without formats",
        lambda d: d["engines"][1].pop("engine"),
        "engines[1]: give either 'formats' or 'engine'",
    ),
    (
        "engine and formats",
        lambda d: d["engines"][1].update(
            d["engines"][0]["formats"] and {"formats": d["engines"][0]["formats"]}
        ),
        "engines[1]: give either 'formats' or 'engine'",
    ),
    (
        "release is not a version",
        lambda d: d["engines"][1]["version"].update(value="abc"),
        "engines[1].version.value: got 'abc'",
    ),
    (
        "duplicate engine id",
        lambda d: d["engines"][2].update(id="tfjs-wechat"),
        "engines[2].id: 'tfjs-wechat' is already the id of engines[1]",
    ),
    (
        "opset range upside down",
        lambda d: d["engines"][0]["opset"].update(value={"min": 13, "max": 8}),
        "engines[0].opset.value: min 13 is above max 8",
    ),
    (
        "platform named all",
        lambda d: d.update(platform="all"),
        "platform: ",
    ),
    (
        "bad requirement",
        lambda d: d["engines"][1]["requires"][0].pop("source"),
        "engines[1].requires[0]: 'source' is missing",
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


def _all_library_facts():
    from compatcheck.profiles.library import converters, engine_specs

    for spec in engine_specs().values():
        yield from (spec.table, spec.unlisted, *spec.facts.values())
    for tool in converters().values():
        yield from (tool.table, tool.unlisted, tool.command)
        yield from (f for f in (tool.opset, tool.other_paths) if f is not None)
        yield from tool.unlisted_by_domain.values()
        for entries in tool.map.values():
            yield from (entry.fact for entry in entries)


def test_every_engine_and_route_fact_cites_a_source():
    facts = list(_all_library_facts())
    assert len(facts) > 500
    _assert_sourced(facts)


def test_engine_tables_match_the_research():
    from compatcheck.profiles.library import engine_specs

    specs = engine_specs()
    tfjs = specs["tfjs"].ops
    by_release = {
        r: sum(1 for op in tfjs.values() if op.since == r)
        for r in ("3.5", "3.21", "4.22")
    }
    # 216 ops at 3.5.0, 232 at 3.21.0, 248 at 4.22.0.
    assert by_release == {"3.5": 216, "3.21": 16, "4.22": 16}
    assert tfjs["SelectV2"].max_rank == 4 and tfjs["Tile"].max_rank == 5
    assert tfjs["While"].is_async and not tfjs["Conv2D"].is_async
    assert specs["tfjs"].facts["max_rank"].value == 6
    paddle = specs["paddlejs"]
    assert {"conv2d", "pool2d", "batch_norm", "leaky_relu"} <= set(paddle.ops)
    assert "clip" not in paddle.ops and "shape" not in paddle.ops
    assert paddle.facts["max_inputs"].value == 1
    assert specs["bytenn"].table.value == "unknown"
    assert specs["bytenn"].checked_as == "tfjs"


def test_converter_tables_match_the_research():
    from compatcheck.profiles.library import converters, engine_specs

    tools = converters()
    onnx2tf = tools["onnx2tf"].map
    refused = sorted(op for op, entries in onnx2tf.items() if entries[-1].refused)
    assert refused == ["BitwiseXor", "Gelu", "HardSwish", "Round"]
    # The other four "N" rows emit TensorFlow ops TensorFlow.js lacks.
    tfjs = engine_specs()["tfjs"].ops
    for op, missing in [
        ("BitShift", "RightShift"),
        ("ReverseSequence", "ReverseSequence"),
        ("SpaceToDepth", "SpaceToDepth"),
        ("ConvTranspose", "Conv3DBackpropInputV2"),
    ]:
        produced = {name for entry in onnx2tf[op] for name in entry.ops}
        assert missing in produced and missing not in tfjs, op
    assert len(tools["onnx2tf-tflite"].map) == 103
    assert len(tools["x2paddle"].map) == 97  # 96 listed operators and Dropout
    tf2onnx = tools["tf2onnx"]
    assert tf2onnx.opset.value == 13
    assert tf2onnx.map["HARD_SWISH"][0].refused
    assert "LSTM" not in tf2onnx.map and "GELU" not in tf2onnx.map
    assert tf2onnx.map["TFLite_Detection_PostProcess"][0].ops


@pytest.mark.parametrize(
    "kind, edit, message",
    [
        (
            "converter_profile",
            lambda d: d["operators"]["map"].update(Foo={"ops": ["X"], "mode": 1}),
            "operators.map.Foo: got",
        ),
        (
            "converter_profile",
            lambda d: d["operators"]["map"].update(Foo={"int_inputs": {"x": [1]}}),
            "operators.map.Foo: got",
        ),
        (
            "converter_profile",
            lambda d: d["command"].update(source="NOPE"),
            "command.source: 'NOPE' is not in the sources table",
        ),
        (
            "engine_profile",
            lambda d: d["operators"]["ops"]["Add"].update(kernel="npu"),
            "operators.ops.Add.kernel: got 'npu'; expected one of",
        ),
        (
            "engine_profile",
            lambda d: d["facts"].update(max_ram={"value": 1}),
            "facts: unknown key 'max_ram'",
        ),
    ],
)
def test_broken_engine_and_converter_files(kind, edit, message):
    from compatcheck.profiles.validate import validate_document

    folder = (
        "converters/x2paddle.yaml"
        if kind == "converter_profile"
        else "engines/tfjs.yaml"
    )
    data = yaml.safe_load((ROOT / "platform_profiles" / folder).read_text())
    edit(data)
    with pytest.raises(ProfileError) as caught:
        validate_document("broken.yaml", data, kind)
    assert caught.value.where == "broken.yaml"
    assert message in caught.value.problem


def test_extends_overrides_and_merges_engines(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "extends: wechat\n"
        "platform: mine\n"
        "sources: {OURS: {url: 'https://example.com/ours'}}\n"
        "limits:\n"
        "  main_package_bytes: {value: 4194304, confidence: documented, "
        "source: OURS}\n"
        "engines:\n"
        "  - id: wx-inference\n"
        "    opset: {value: {min: 8, max: 15}, confidence: documented, "
        "source: OURS}\n"
    )
    profile = load_profile(str(path))
    shipped = load_profile("wechat")
    assert profile.platform == "mine"
    assert profile.limits["main_package_bytes"].value == 4194304
    assert profile.limits["subpackage_bytes"] == shipped.limits["subpackage_bytes"]
    native = profile.engine("wx-inference")
    assert native.opset.value == {"min": 8, "max": 15}
    assert len(native.rows) == 67  # the rest of the engine is inherited
    assert [e.id for e in profile.engines] == [e.id for e in shipped.engines]


def test_extends_cycle_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(tmp_path / "a.yaml"))
    assert "extends itself through a.yaml -> b.yaml -> a.yaml" in caught.value.problem


def test_extends_an_unknown_platform(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("extends: kakao\n")
    with pytest.raises(ProfileError, match="'kakao' is not a shipped platform"):
        load_profile(str(path))


@pytest.mark.parametrize("engine_id", ["[1]", "{a: 1}"])
def test_extends_with_an_engine_id_that_is_no_name(tmp_path, engine_id):
    path = tmp_path / "x.yaml"
    path.write_text(f"extends: wechat\nengines:\n  - id: {engine_id}\n")
    with pytest.raises(ProfileError, match=r"engines\[3\]"):
        load_profile(str(path))
