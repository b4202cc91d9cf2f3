"""Every report format: snapshots on two real models, and each format's contract."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from conftest import DATA, ROOT

MODELS = [
    "tests/data/pytorch_super_resolution.onnx",
    "tests/data/selfie_segmentation.tflite",
]
FORMATS = {
    "text": "txt",
    "json": "json",
    "sarif": "sarif",
    "junit": "xml",
    "github": "github.txt",
    "markdown": "md",
}
SNAPSHOTS = DATA / "snapshots"


def _render(cli, monkeypatch, fmt: str, *extra: str):
    monkeypatch.chdir(ROOT)  # paths in reports are as given: keep them relative
    return cli(*MODELS, "-p", "wechat,baidu", "--no-config", "-f", fmt, *extra)


@pytest.mark.parametrize("fmt", FORMATS)
def test_snapshot(cli, monkeypatch, request, fmt):
    done = _render(cli, monkeypatch, fmt)
    assert done.code == 1, done.err
    path = SNAPSHOTS / f"report.{FORMATS[fmt]}"
    if request.config.getoption("--update-snapshots"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(done.out, encoding="utf-8")
    assert done.out == path.read_text(encoding="utf-8")


def _sarif_validator():
    schema = json.loads((DATA / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def test_sarif_validates_and_fingerprints_are_stable(cli, monkeypatch, tmp_path):
    document = json.loads(_render(cli, monkeypatch, "sarif").out)
    _sarif_validator().validate(document)
    run = document["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "What it checks:" in rules["CC410"]["help"]["text"]
    assert rules["CC410"]["defaultConfiguration"]["level"] == "error"
    results = run["results"]
    rank = next(r for r in results if r["ruleId"] == "CC410")
    assert rank["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "DepthToSpace_7", "kind": "element"}
    ]
    fingerprints = [r["partialFingerprints"]["compatcheck/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    # The same model saved again (at the same path) keeps its fingerprints.
    import onnx

    model = onnx.load(DATA / "pytorch_super_resolution.onnx")
    model.doc_string = "saved again"
    (tmp_path / "tests" / "data").mkdir(parents=True)
    onnx.save(model, tmp_path / "tests" / "data" / "pytorch_super_resolution.onnx")
    monkeypatch.chdir(tmp_path)
    again = cli(
        "tests/data/pytorch_super_resolution.onnx",
        "-p",
        "wechat,baidu",
        "--no-config",
        "-f",
        "sarif",
    )
    moved = json.loads(again.out)["runs"][0]["results"]
    assert {r["partialFingerprints"]["compatcheck/v1"] for r in moved} <= set(
        fingerprints
    )


def test_sarif_reports_an_unreadable_file(cli, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x07" * 64)
    done = cli(
        broken, DATA / "pytorch_super_resolution.onnx", "-p", "wechat", "-f", "sarif"
    )
    assert done.code == 2
    document = json.loads(done.out)
    _sarif_validator().validate(document)
    run = document["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    (unreadable,) = [r for r in run["results"] if r["ruleId"] == "CC000"]
    assert "truncated or corrupt ONNX file" in unreadable["message"]["text"]


def test_junit_has_one_case_per_model_and_platform(cli, monkeypatch):
    root = ET.fromstring(_render(cli, monkeypatch, "junit").out)
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("compatcheck.wechat", MODELS[0]),
        ("compatcheck.baidu", MODELS[0]),
        ("compatcheck.wechat", MODELS[1]),
        ("compatcheck.baidu", MODELS[1]),
    ]
    assert suite.get("tests") == "4" and suite.get("failures") == "3"
    assert cases[0].find("failure") is None
    assert "CC410" in cases[1].find("failure").text


def test_github_annotations_put_errors_first_and_count_the_rest(
    cli, monkeypatch, corpus
):
    done = _render(cli, monkeypatch, "github")
    lines = done.out.splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines if line.startswith("::")]
    assert kinds == sorted(kinds, key=["::error", "::warning", "::notice"].index)
    assert lines[0].startswith("::error file=tests/data/pytorch_super_resolution.onnx,")
    many = cli(corpus / "onnx-light", "-p", "all", "--no-config", "-f", "github")
    annotations = [line for line in many.out.splitlines() if line.startswith("::")]
    assert sum(1 for a in annotations if a.startswith("::error ")) == 10
    assert "more finding(s) are not annotated" in annotations[-1]


def test_github_annotations_hold_no_control_characters(cli, tmp_path):
    import onnx
    from make_models import relu

    model = relu()
    hostile = "x\x1b[31m\n::error file=evil.py::INJECTED\x07"
    model.graph.input[0].name = hostile
    model.graph.node[0].input[0] = hostile
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    path = tmp_path / "hostile.onnx"
    onnx.save(model, path)
    out = cli(path, "-p", "wechat", "--no-config", "-f", "github").out
    assert "\x1b" not in out and "\x07" not in out
    assert "x\\x1b[31m%0A::error file=evil.py::INJECTED\\x07" in out
    assert all(line.startswith(("::", "compatcheck: ")) for line in out.splitlines())


def test_markdown_escapes_table_cells(cli, monkeypatch):
    out = _render(cli, monkeypatch, "markdown").out
    assert out.startswith("## compatcheck\n\n| model | platform | verdict |")
    assert "-&gt; x2paddle -&gt;" in out
    assert "<details><summary>tests/data/pytorch_super_resolution.onnx on baidu" in out
