"""The command line on real models: verdicts, node names, exit codes, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import DATA, ROOT, codes


def _findings(result: dict, code: str) -> list[dict]:
    return [f for f in result["findings"] if f["code"] == code]


def test_control_flow_model_over_2mb_on_wechat(corpus, check_json):
    model = corpus / "silero-vad" / "silero_vad.onnx"
    result = check_json(model, "wechat", "--engine", "wx-inference")
    assert result["verdict"] == "fail"
    assert result["engine"] == "wx-inference"
    unsupported = {f["op_type"]: f for f in _findings(result, "CC200")}
    assert set(unsupported) == {"If", "Not", "Size"}
    assert "If_0" in unsupported["If"]["nodes"]
    assert len(unsupported["If"]["nodes"]) == 25
    (dtype,) = _findings(result, "CC400")
    assert dtype["nodes"] == ["sr"]
    (package,) = _findings(result, "CC500")
    assert "2327524 bytes) is over the 2.00 MB" in package["message"]


def test_control_flow_model_takes_the_tensorflow_js_route_on_wechat(corpus, check_json):
    result = check_json(corpus / "silero-vad" / "silero_vad.onnx", "wechat")
    assert result["route"]["engine"] == "tfjs-wechat"
    assert result["route"]["converters"] == ["onnx2tf"]
    native = next(r for r in result["routes"] if r["engine"] == "wx-inference")
    assert native["verdict"] == "fail"
    # onnx2tf's handling of If is not documented: a warning naming every If.
    (control,) = _findings(result, "CC211")
    assert len(control["nodes"]) == 25 and "If_0" in control["nodes"]
    (asynchronous,) = _findings(result, "CC414")
    assert "While x4" in asynchronous["message"]
    assert any(n.endswith("decoder/rnn/LSTM") for n in asynchronous["nodes"])
    assert result["verdict"] == "warn" and result["verified"] is False


def test_dynamic_shape_model_passes_with_warnings(check_json):
    result = check_json(DATA / "pytorch_super_resolution.onnx", "wechat")
    assert result["verdict"] == "warn"
    assert codes(result) == {"CC300", "CC401", "CC500", "CC600", "CC601"}
    (dynamic,) = _findings(result, "CC401")
    assert 'typicalShape: {"input": [1, 1, 224, 224]}' in dynamic["fix"]


def test_custom_op_model(corpus, check_json):
    result = check_json(
        corpus / "onnxruntime-extensions" / "custom_op_test.onnx", "wechat"
    )
    custom = {f["op_type"]: f["nodes"] for f in _findings(result, "CC202")}
    assert set(custom) == {"CustomOpOne", "CustomOpTwo"}
    assert result["verdict"] == "fail"


def test_sequence_output_is_not_a_tensor(corpus, check_json):
    model = corpus / "onnxruntime-datasets" / "logreg_iris.onnx"
    result = check_json(model, "wechat", "--engine", "wx-inference")
    messages = [f["message"] for f in _findings(result, "CC400")]
    assert any("'probabilities' is a sequence, not a tensor" in m for m in messages)
    assert {f["op_type"] for f in _findings(result, "CC202")} >= {"ZipMap"}


def test_tflite_custom_op_on_wechat(check_json):
    result = check_json(DATA / "selfie_segmentation.tflite", "wechat")
    assert result["verdict"] == "fail"
    assert result["route"]["chain"] == (
        "selfie_segmentation.tflite -> tf2onnx -> ONNX -> "
        "wx.createInferenceSession (cpu)"
    )
    gaps = {f["op_type"]: f for f in _findings(result, "CC210")}
    assert set(gaps) == {"Convolution2DTransposeBias", "HARD_SWISH"}
    assert gaps["Convolution2DTransposeBias"]["nodes"] == ["segment (op 244)"]
    assert "no handler" in gaps["Convolution2DTransposeBias"]["message"]
    assert len(gaps["HARD_SWISH"]["nodes"]) == 11
    assert gaps["HARD_SWISH"]["nodes"][0] == "h_swish (op 3)"
    assert "--opset 14" in gaps["HARD_SWISH"]["fix"]


def test_quantized_tflite_reaches_wechat_through_tf2onnx(corpus, check_json):
    model = corpus / "tflite-micro" / "person_detect.tflite"
    result = check_json(model, "wechat")
    assert result["route"]["converters"] == ["tf2onnx"]
    assert result["route"]["engine"] == "wx-inference"
    assert result["verdict"] == "warn"
    assert codes(result) == {"CC420", "CC500", "CC600"}
    # tf2onnx writes QDQ pairs, which WeChat reads as its FakeQuantize row
    # and runs in INT8 with allowQuantize.
    (quantized,) = [f for f in result["findings"] if f["code"] == "CC420"]
    assert quantized["severity"] == "info"
    assert (
        "quantization of the converted model: int8 in QDQ form" in quantized["message"]
    )
    assert "allowQuantize: true" in quantized["message"]
    assert result["plan"]["session_options"]["allowQuantize"] is True
    assert any(
        "DequantizeLinear = FakeQuantize" in f for f in result["unverified_facts"]
    )


def test_tflite_flex_ops(corpus, check_json):
    model = corpus / "tflite-support" / "whitespace_tokenizer_flex_delegate.tflite"
    result = check_json(model, "wechat", "--engine", "wx-inference")
    flex = {f["op_type"]: f for f in _findings(result, "CC211")}
    assert "FlexWhitespaceTokenizeWithOffsets" in flex
    assert all(name.startswith("Flex") for name in flex)
    assert "decoded into the TensorFlow op" in flex["FlexSub"]["message"]
    assert len(flex["FlexSub"]["nodes"]) == 7


def test_route_verdicts_on_alipay_name_the_nodes(corpus, check_json):
    result = check_json(corpus / "onnx-light" / "light_vgg19.onnx", "alipay")
    assert result["route"]["engine"] == "tfjs-webgl"
    assert result["route"]["converters"] == ["onnx2tf"]
    (texture,) = _findings(result, "CC411")
    # The weight stand-in's producer and the Gemm that reads it.
    assert texture["nodes"] == ["ConstantOfShape_31", "n38"]
    assert "fc6_w_0 [4096, 25088] (102,760,448 values" in texture["message"]
    assert result["verdict"] == "fail"


def test_route_verdicts_on_baidu_name_the_nodes(check_json):
    result = check_json(DATA / "pytorch_super_resolution.onnx", "baidu")
    assert result["route"]["chain"].startswith(
        "pytorch_super_resolution.onnx -> x2paddle -> Paddle.js model -> "
    )
    ranks = {f["op_type"]: f for f in _findings(result, "CC410")}
    assert set(ranks) == {"reshape2", "transpose2"}
    assert all(f["nodes"] == ["DepthToSpace_7"] for f in ranks.values())
    assert "rank 6" in ranks["transpose2"]["message"]
    assert result["verdict"] == "fail"


def test_route_verdicts_on_baidu_paddle_ops(corpus, check_json):
    model = corpus / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    result = check_json(model, "baidu")
    missing = {f["op_type"]: f["nodes"] for f in _findings(result, "CC200")}
    assert {"clip", "shape", "assign"} <= set(missing)
    assert "Clip@0" in missing["clip"]


def test_dynamic_dimensions_are_named_only_when_the_model_names_them(
    cli, corpus, check_json
):
    # paddle2onnx writes -1 for the batch and "?" as the name of height and width.
    model = corpus / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    (dynamic,) = _findings(check_json(model, "wechat"), "CC401")
    assert dynamic["message"] == (
        "input 'x' has dynamic dimension(s) 0, 2, 3 in shape [-1, 3, ?, ?]"
    )
    assert '{"x": [1, 3, ?, ?]} (replace each ? with the size' in dynamic["fix"]
    # The fix preview asks for the sizes nothing in the model gives.
    text = cli(model, "-p", "wechat").out
    assert f"fix {model} -p wechat --diff --input-shape x=DIMS)" in text


def test_route_verdicts_on_douyin_through_bytenn(corpus, check_json):
    result = check_json(corpus / "onnx-light" / "light_vgg19.onnx", "douyin")
    # TensorFlow.js cannot hold the 25088 x 4096 weight in a texture, so the
    # ByteNN route wins, with its operator coverage unverified.
    assert result["route"]["engine"] == "bytenn"
    assert result["route"]["converters"] == ["onnx2tf", "bytenn-convert"]
    (unknown,) = _findings(result, "CC201")
    assert "publishes no operator table" in unknown["message"]
    tfjs = next(r for r in result["routes"] if r["engine"] == "tfjs-webgl")
    assert tfjs["verdict"] == "fail"
    (texture,) = [f for f in tfjs["findings"] if f["code"] == "CC411"]
    assert texture["nodes"] == ["ConstantOfShape_31", "n38"]
    assert result["verified"] is False


def test_no_engine_on_qq(check_json):
    result = check_json(DATA / "pytorch_super_resolution.onnx", "qq")
    assert result["verdict"] == "fail" and result["route"] is None
    (none,) = _findings(result, "CC100")
    assert "no inference engine is known on QQ mini program" in none["message"]
    douyin = check_json(DATA / "pytorch_super_resolution.onnx", "bytedance")
    assert douyin["platform"] == "douyin"


def test_all_platforms_in_one_run(cli):
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", "all", "-f", "json")
    assert done.code == 1
    platforms = [r["platform"] for r in done.json()["results"]]
    assert platforms == ["alipay", "baidu", "douyin", "qq", "wechat"]


def test_text_report_shows_verdicts_and_table(cli):
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", "wechat")
    assert done.code == 0
    assert "wechat: PASS WITH WARNINGS (0 error(s), 3 warning(s)" in done.out
    assert (
        "route: pytorch_super_resolution.onnx -> wx.createInferenceSession (cpu)"
        in done.out
    )
    assert "tfjs-wechat via onnx2tf: pass with warnings" in done.out
    assert "CC401" in done.out and "typicalShape" in done.out
    assert "unverified: the verdict relies on" in done.out


def test_all_platforms_end_with_a_matrix(cli):
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", "all")
    matrix = done.out[done.out.index("platform matrix") :]
    header = matrix.splitlines()[1].split()
    assert header == ["model", "alipay", "baidu", "douyin", "qq", "wechat"]
    assert "x2paddle" in matrix and "no route" in matrix and "wx-inference" in matrix


def test_json_is_byte_identical_across_runs(cli):
    first = cli(DATA / "pytorch_super_resolution.onnx", "-p", "all", "-f", "json").out
    second = cli(DATA / "pytorch_super_resolution.onnx", "-p", "all", "-f", "json").out
    assert first == second


def test_output_file(cli, tmp_path):
    target = tmp_path / "report.json"
    done = cli(
        DATA / "pytorch_super_resolution.onnx",
        "-p",
        "wechat",
        "-f",
        "json",
        "-o",
        target,
    )
    assert done.out == ""
    assert '"verdict": "warn"' in target.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.onnx", "-p", "wechat"], "missing.onnx: file not found"),
        (
            [DATA / "pytorch_super_resolution.onnx", "-p", "kakao"],
            "--platform kakao: unknown platform; choose from",
        ),
        (
            [DATA / "pytorch_super_resolution.onnx"],
            "--platform: no platform given; pass --platform or set",
        ),
        (
            [
                DATA / "pytorch_super_resolution.onnx",
                "-p",
                "wechat",
                "--input-shape",
                "x=a",
            ],
            "--input-shape x=a: expected NAME=DIMS",
        ),
        (
            [DATA / "pytorch_super_resolution.onnx", "-p", "wechat", "--backend", "x"],
            "--backend x: unknown backend for these platforms; use android-gpu",
        ),
        (
            [DATA / "pytorch_super_resolution.onnx", "-p", "missing/profile.yaml"],
            "missing/profile.yaml: profile file not found",
        ),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(cli, args, message):
    done = cli(*args)
    assert done.code == 2
    assert message in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert "Traceback" not in done.err


def test_one_bad_file_does_not_stop_the_others(cli, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07\x3a\xff\xff")
    done = cli(broken, DATA / "pytorch_super_resolution.onnx", "-p", "wechat")
    assert done.code == 2
    assert "wechat: PASS WITH WARNINGS" in done.out
    assert f"{broken}: truncated or corrupt ONNX file" in done.err
    assert done.out.endswith(
        "1 model(s) checked on 1 platform(s): 0 fail, 1 pass with warnings, 0 pass; "
        "1 file(s) could not be read\n"
    )
    alone = cli(broken, "-p", "wechat")
    assert alone.code == 2
    assert alone.out.endswith("no model checked: 1 file(s) could not be read\n")


def test_models_may_follow_the_options(cli):
    sr, selfie = (
        DATA / "pytorch_super_resolution.onnx",
        DATA / "selfie_segmentation.tflite",
    )
    done = cli(sr, "-p", "wechat", selfie, "--no-plan", "-f", "json")
    assert done.code == 1, done.err
    assert [m["path"] for m in done.json()["models"]] == [str(sr), str(selfie)]


def test_help_names_every_platform_and_alias(cli):
    from compatcheck.profiles import available_platforms

    text = " ".join(cli("--help").out.split())
    for name, path in available_platforms().items():
        described = f"{path.stem} (" if name != path.stem else path.stem
        assert described in text and name in text, name


def test_rules_and_explain(cli):
    listed = cli("rules")
    assert (
        listed.code == 0
        and "CC200" in listed.out
        and "unsupported-operator" in listed.out
    )
    explained = cli("explain", "cc200")
    assert explained.code == 0
    assert "What it checks:" in explained.out and "Limitations:" in explained.out
    assert cli("explain", "CC999").code == 2
    # CC000, SARIF's code for an unreadable file, is explained too.
    unreadable = cli("explain", "cc000")
    assert unreadable.code == 0
    assert unreadable.out.startswith("CC000 unreadable-model (severity: error)")


def test_profiles_commands(cli):
    listed = cli("profiles")
    assert "wx-inference (onnx)" in listed.out
    shown = cli("profiles", "show", "wechat")
    assert "download_bytes: 209715200  [documented, DOWNLOAD]" in shown.out
    assert "operator table: 67 rows" in shown.out
    every = cli("profiles", "show", "all")
    assert every.code == 0
    titles = [line for line in every.out.splitlines() if "researched" in line]
    assert len(titles) == 5 and titles[0].startswith("Alipay mini program (alipay)")


def test_help_and_version_do_not_import_onnx():
    code = (
        "import sys, io, contextlib\n"
        "from compatcheck.cli import main\n"
        "for args in (['--version'], ['--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try: main(args)\n"
        "        except SystemExit: pass\n"
        "print('onnx' in sys.modules, 'tflite' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert out.strip() == "False False"


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "compatcheck", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and done.stdout.startswith("compatcheck ")


def test_output_never_overwrites_a_model(cli, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes((DATA / "pytorch_super_resolution.onnx").read_bytes())
    done = cli(model, "-p", "wechat", "-o", model)
    assert done.code == 2 and "refusing to overwrite it" in done.err
    assert model.read_bytes() == (DATA / "pytorch_super_resolution.onnx").read_bytes()
    to_stdout = cli(model, "-p", "wechat", "-o", "-")
    assert "wechat: PASS WITH WARNINGS" in to_stdout.out

    link = tmp_path / "link.onnx"
    os.link(model, link)
    done = cli(model, "-p", "wechat", "-o", link)
    assert done.code == 2 and "is one of the models" in done.err
    other = tmp_path / "other.tflite"
    other.write_bytes((DATA / "selfie_segmentation.tflite").read_bytes())
    done = cli(model, "-p", "wechat", "-o", other)
    assert done.code == 2
    assert "is a model file; refusing to overwrite it" in done.err
    assert other.read_bytes() == (DATA / "selfie_segmentation.tflite").read_bytes()


def test_two_profiles_with_one_name_are_refused(cli, tmp_path):
    copy = tmp_path / "mine.yaml"
    copy.write_text((ROOT / "platform_profiles" / "wechat.yaml").read_text())
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", f"wechat,{copy}")
    assert done.code == 2
    assert f"{copy}: is also named 'wechat'" in done.err


def test_line_breaks_in_input_stay_on_one_line(cli):
    done = cli("explain", "CC200\nsecond line")
    assert done.code == 2
    assert len(done.err.strip().splitlines()) == 1


def test_deeply_nested_profile_is_refused(cli, tmp_path):
    profile = tmp_path / "deep.yaml"
    profile.write_text("a: " + "[" * 2000 + "]" * 2000 + "\n")
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", profile)
    assert done.code == 2 and "nested" in done.err


def test_corrupt_models_never_raise_internal_errors(tmp_path):
    import random

    from compatcheck.errors import ModelFormatError
    from compatcheck.model import load_model

    rng = random.Random(7)
    for source in ("selfie_segmentation.tflite", "pytorch_super_resolution.onnx"):
        original = (DATA / source).read_bytes()
        for trial in range(60):
            data = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            path = tmp_path / f"{trial}_{source}"
            path.write_bytes(bytes(data))
            try:
                load_model(str(path))
            except ModelFormatError:
                pass


def test_a_model_given_twice_is_checked_once(cli, tmp_path):
    model = DATA / "pytorch_super_resolution.onnx"
    done = cli(model, model, "-p", "wechat", "-f", "json")
    assert len(done.json()["results"]) == 1
    folder = cli(model, "-p", tmp_path)
    assert folder.code == 2 and "is a folder; give a profile .yaml file" in folder.err


def test_a_bug_is_exit_3_on_one_line(cli, monkeypatch):
    import compatcheck.runner

    def broken(*args, **kwargs):
        raise RuntimeError("first\nsecond")

    monkeypatch.setattr(compatcheck.runner, "run_check", broken)
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", "wechat")
    assert done.code == 3
    assert "internal error: RuntimeError: first\\nsecond" in done.err
    assert len(done.err.strip().splitlines()) == 1


def test_more_usage_errors(cli, tmp_path):
    model = DATA / "pytorch_super_resolution.onnx"
    assert "--platform: no platform given" in cli(model, "-p", ",").err
    unwritable = cli(model, "-p", "wechat", "-o", tmp_path)
    assert unwritable.code == 2 and "cannot write the report" in unwritable.err
    show = cli("profiles", "show")
    assert show.code == 2 and "give a platform name or profile file" in show.err


def test_other_routes_count_the_platform_findings_too(cli):
    done = cli(DATA / "pytorch_super_resolution.onnx", "-p", "wechat")
    # CC500 (the .onnx upload whitelist) applies whatever the route.
    assert "tfjs-wechat via onnx2tf: pass with warnings, 0 error(s), 3 warning(s)" in (
        done.out
    )


def test_terminal_escapes_in_names_are_shown_not_run(cli, tmp_path):
    import onnx
    from make_models import gelu

    model = gelu()
    model.graph.node[0].name = "evil\x1b[2J\x9bname"
    path = tmp_path / "evil.onnx"
    onnx.save(model, path)
    done = cli(path, "-p", "wechat", "--engine", "wx-inference")
    assert "\x1b" not in done.out and "\x9b" not in done.out
    assert "evil\\x1b[2J\\x9bname" in done.out


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("snippet",),
        ("manifest", "--model-version", "1"),
        ("fix",),
    ],
)
def test_output_never_replaces_the_models_external_data(cli, tmp_path, command):
    import hashlib

    import onnx

    model = tmp_path / "sr.onnx"
    onnx.save(
        onnx.load(DATA / "pytorch_super_resolution.onnx"), model,
        save_as_external_data=True, location="sr.data", size_threshold=0,
    )  # fmt: skip
    data = tmp_path / "sr.data"
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    head, rest = (command[:1], command[1:]) if command else ((), ())
    done = cli(*head, model, "-p", "wechat", *rest, "-o", data)
    assert done.code == 2, done.err
    # fix refuses any file that is not a model before it loads one.
    assert f"{data}: holds the external data of {model}" in done.err or (
        command == ("fix",) and f"{data}: exists and is not a model" in done.err
    )
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before


def test_output_never_replaces_a_profile_or_configuration_it_read(cli, tmp_path):
    profile = tmp_path / "ours.yaml"
    profile.write_text("extends: wechat\nplatform: ours\n")
    config = tmp_path / "compatcheck.yaml"
    config.write_text("platforms: [wechat]\n")
    sample = DATA / "pytorch_super_resolution.onnx"
    runs = [
        (sample, "-p", profile, "-o", profile),
        ("snippet", sample, "-p", profile, "-o", profile),
        (sample, "--config", config, "-o", config),
        ("manifest", sample, "-p", "wechat", "--model-version", "1",
         "--config", config, "-o", config),
    ]  # fmt: skip
    for args in runs:
        done = cli(*args)
        assert done.code == 2 and "refusing to overwrite it" in done.err, args
    assert profile.read_text() == "extends: wechat\nplatform: ours\n"
    assert config.read_text() == "platforms: [wechat]\n"
