"""compatcheck as a CI gate: configuration, policy, baselines, many models, hooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import DATA, ROOT, codes

SAMPLE = DATA / "pytorch_super_resolution.onnx"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a model, the working directory inside it."""
    (tmp_path / "models").mkdir()
    shutil.copy(SAMPLE, tmp_path / "models" / "sr.onnx")
    monkeypatch.chdir(tmp_path / "models")
    return tmp_path


def _results(done) -> list[dict]:
    assert done.code in (0, 1), done.err
    return done.json()["results"]


def test_config_is_found_walking_up_and_flags_override_it(cli, project):
    (project / "compatcheck.yaml").write_text("platforms: [baidu]\nignore: [CC111]\n")
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert result["platform"] == "baidu"
    assert "CC111" not in codes(result)
    (result,) = _results(cli("sr.onnx", "-f", "json", "-p", "wechat"))
    assert result["platform"] == "wechat"
    (result,) = _results(cli("sr.onnx", "-f", "json", "--ignore", "CC401"))
    assert "CC111" in codes(result) and "CC401" not in codes(result)


def test_pyproject_table_and_precedence(cli, project):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.compatcheck]\nplatforms = ["douyin"]\n'
    )
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert result["platform"] == "douyin"
    # compatcheck.yaml beside it wins.
    (project / "compatcheck.yaml").write_text("platforms: [alipay]\n")
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert result["platform"] == "alipay"
    # A nearer pyproject.toml without the table does not stop the search.
    (project / "models" / "pyproject.toml").write_text('[project]\nname = "y"\n')
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert result["platform"] == "alipay"


@pytest.mark.parametrize(
    "content, message",
    [
        ("platforms: [wechat]\nplatfroms: [baidu]\n", "unknown key 'platfroms'"),
        ("severity: {CC500: fatal}\n", "severity.CC500: got 'fatal'"),
        ("fail-on: info\n", "fail-on: got 'info'; expected error or warning"),
        ("select: 5\n", "select: expected a list of strings"),
        ("ignore: ['']\n", "'' (an empty code) is not a rule code"),
        ("select: [XX9]\n", "'XX9' is not a rule code or a prefix of one"),
        ("severity: {5: error}\n", "'5' is not a rule code"),
        ("[1, 2]\n", "must be a YAML mapping of settings"),
    ],
)
def test_bad_config_names_the_key(cli, project, content, message):
    (project / "compatcheck.yaml").write_text(content)
    done = cli("sr.onnx", "-p", "wechat")
    assert done.code == 2
    assert f"{project / 'compatcheck.yaml'}: " in done.err and message in done.err


def test_select_and_severity_override(cli, project):
    (project / "compatcheck.yaml").write_text(
        "platforms: [wechat]\nseverity: {CC500: error, CC3: info}\n"
    )
    done = cli("sr.onnx", "-f", "json")
    assert done.code == 1
    (result,) = done.json()["results"]
    by_code = {f["code"]: f["severity"] for f in result["findings"]}
    assert by_code["CC500"] == "error" and by_code["CC300"] == "info"
    assert result["verdict"] == "fail"
    # Re-graded findings are listed with their new severity: errors first.
    ranks = [f["severity"] for f in result["findings"]]
    assert ranks == sorted(ranks, key=["error", "warning", "info"].index)
    assert ranks[0] == "error"
    (only,) = _results(cli("sr.onnx", "-f", "json", "--select", "CC4"))
    assert codes(only) == {"CC401"}


def test_per_path_ignores(cli, project):
    (project / "compatcheck.yaml").write_text(
        "platforms: [wechat]\n"
        "per-path-ignores:\n  'models/legacy/*.onnx': [CC3, CC500, CC6]\n"
    )
    (project / "models" / "legacy").mkdir()
    shutil.copy(SAMPLE, project / "models" / "legacy" / "old.onnx")
    new, old = _results(cli("sr.onnx", "legacy/old.onnx", "-f", "json"))
    assert {"CC300", "CC500", "CC600"} <= codes(new)
    assert codes(old) == {"CC401"}


def test_fail_on_warning(cli, project):
    assert cli("sr.onnx", "-p", "wechat").code == 0
    assert cli("sr.onnx", "-p", "wechat", "--fail-on", "warning").code == 1


def test_baseline_round_trip(cli, project):
    baseline = project / "baseline.json"
    done = cli("sr.onnx", "-p", "baidu", "--write-baseline", baseline)
    assert done.code == 0
    recorded = json.loads(baseline.read_text())["findings"]
    assert {e["code"] for e in recorded} >= {"CC410", "CC401"}
    assert done.err == (
        f"compatcheck: recorded {len(recorded)} finding(s) in {baseline}; "
        f"--baseline {baseline} reports only findings not in it\n"
    )
    # The same findings are hidden, so the gate passes.
    done = cli("sr.onnx", "-p", "baidu", "--baseline", baseline, "-f", "json")
    assert done.code == 0
    (result,) = done.json()["results"]
    assert result["findings"] == [] and result["baselined"] == len(recorded)
    # A new model with its own failure still fails the gate.
    shutil.copy(DATA / "selfie_segmentation.tflite", "new.tflite")
    done = cli("sr.onnx", "new.tflite", "-p", "baidu", "--baseline", baseline)
    assert done.code == 1
    assert "new.tflite" in done.out and "CC210" in done.out


def test_baseline_survives_a_re_export(cli, project, tmp_path):
    import onnx

    baseline = project / "baseline.json"
    cli("sr.onnx", "-p", "baidu", "--write-baseline", baseline)
    model = onnx.load("sr.onnx")
    model.producer_version = "re-exported"
    model.doc_string = "the same network, saved again"
    onnx.save(model, "sr.onnx")
    done = cli("sr.onnx", "-p", "baidu", "--baseline", baseline)
    assert done.code == 0, done.out


def test_bad_baseline_file(cli, project):
    (project / "b.json").write_text("[1, 2]")
    done = cli("sr.onnx", "-p", "wechat", "--baseline", project / "b.json")
    assert done.code == 2 and "is not a baseline file" in done.err


def test_folder_with_a_corrupt_model_among_good_ones(cli, corpus, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(corpus / "onnx-light", folder / "light")
    (folder / "broken.onnx").write_bytes(b"\x07" * 64)
    (folder / "notes.txt").write_text("not a model")
    (folder / "renamed.bin").write_bytes(SAMPLE.read_bytes())  # a model by content
    done = cli(folder, "-p", "wechat", "-f", "json")
    assert done.code == 2
    document = done.json()
    assert [e["model"] for e in document["errors"]] == [str(folder / "broken.onnx")]
    checked = sorted(os.path.basename(m["path"]) for m in document["models"])
    assert len(checked) == 10 and "renamed.bin" in checked
    assert "notes.txt" not in checked
    assert "broken.onnx: truncated or corrupt ONNX file" in done.err


def test_glob_patterns(cli, corpus, monkeypatch):
    monkeypatch.chdir(corpus)
    done = cli("onnx-light/light_[rs]*.onnx", "-p", "wechat", "-f", "json")
    names = [os.path.basename(m["path"]) for m in done.json()["models"]]
    assert names == [
        "light_resnet50.onnx",
        "light_shufflenet.onnx",
        "light_squeezenet.onnx",
    ]
    nothing = cli("onnx-light/*.nope", "-p", "wechat")
    assert nothing.code == 2 and "the pattern matches no file" in nothing.err


def test_jobs_give_the_same_report(cli, corpus):
    folder = corpus / "onnx-light"
    one = cli(folder, DATA / "selfie_segmentation.tflite", "-p", "all", "-f", "json")
    two = cli(
        folder,
        DATA / "selfie_segmentation.tflite",
        "-p",
        "all",
        "-f",
        "json",
        "-j",
        "2",
    )
    assert one.out == two.out and one.code == two.code
    assert cli(folder, "-p", "wechat", "-j", "0").code == 2


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pre_commit_hook_with_the_real_framework(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(SAMPLE, repo / "good.onnx")
    shutil.copy(DATA / "selfie_segmentation.tflite", repo / "bad.tflite")
    (repo / "compatcheck.yaml").write_text("platforms: [wechat]\n")
    _git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def hook(*files):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(ROOT),
                "compatcheck",
                "--files",
                *files,
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    passing = hook("good.onnx")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "compatcheck (mini-program model check)" in passing.stdout
    assert "Passed" in passing.stdout
    failing = hook("good.onnx", "bad.tflite")
    assert failing.returncode == 1
    assert "Failed" in failing.stdout
    assert "tf2onnx cannot convert HARD_SWISH" in failing.stdout


def test_globs_do_not_follow_link_loops_and_models_count_once(cli, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "sr.onnx")
    os.symlink(".", folder / "x")
    os.symlink(".", folder / "y")
    done = cli(
        f"{folder}/**/*.onnx",
        folder,
        folder / "sr.onnx",
        f"{folder}/../m/sr.onnx",
        "-p",
        "wechat,weixin",
        "-f",
        "json",
    )
    assert done.code == 0, done.err
    assert len(done.json()["models"]) == 1
    assert [r["platform"] for r in done.json()["results"]] == ["wechat"]


def test_write_baseline_never_replaces_a_model(cli, project):
    done = cli("sr.onnx", "-p", "wechat", "--write-baseline", "sr.onnx")
    assert done.code == 2 and "is one of the models" in done.err
    shutil.copy(DATA / "selfie_segmentation.tflite", "other.tflite")
    done = cli("sr.onnx", "-p", "wechat", "--write-baseline", "other.tflite")
    assert done.code == 2 and "is a model file; refusing to overwrite it" in done.err
    assert (project / "models" / "other.tflite").read_bytes()[4:8] == b"TFL3"


def test_profile_paths_keep_their_case(cli, project):
    (project / "Profiles").mkdir()
    (project / "Profiles" / "Ours.yaml").write_text("extends: wechat\nplatform: ours\n")
    (project / "compatcheck.yaml").write_text("platforms: [Profiles/Ours.yaml]\n")
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert result["platform"] == "ours"


def test_a_folder_without_models_is_an_error(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    done = cli(tmp_path, "-p", "wechat")
    assert done.code == 2 and done.err.endswith(": holds no ONNX or TFLite model\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "best.pt").write_bytes(b"\x80\x02")
    done = cli(tmp_path, "-p", "wechat")
    assert done.code == 2
    assert "holds no ONNX or TFLite model, but other model files (weights/best.pt)" in (
        done.err
    )


def test_lower_case_codes_work_everywhere(cli, project):
    (project / "compatcheck.yaml").write_text("platforms: [wechat]\nselect: [cc5]\n")
    (result,) = _results(cli("sr.onnx", "-f", "json"))
    assert codes(result) == {"CC500"}
    done = cli("sr.onnx", "--select", "zz")
    assert done.code == 2 and "--select: 'ZZ' is not a rule code" in done.err


@pytest.mark.parametrize(
    "content",
    ["tool = 5\n", "tool = 'x'\n", "\ufeff[tool.compatcheck]\nplatforms = ['qq']\n"],
)
def test_odd_pyproject_files(cli, project, content):
    (project / "pyproject.toml").write_text(content, encoding="utf-8")
    done = cli("sr.onnx", "-p", "wechat")
    assert done.code in (0, 1), done.err


def test_deeply_nested_config_and_baseline(cli, project):
    (project / "pyproject.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    done = cli("sr.onnx", "-p", "wechat")
    assert done.code == 2 and "internal error" not in done.err
    (project / "pyproject.toml").unlink()
    (project / "b.json").write_text("[" * 100000)
    done = cli("sr.onnx", "-p", "wechat", "--baseline", project / "b.json")
    assert done.code == 2 and "is not a baseline file" in done.err


def test_select_does_not_change_the_route(cli, project):
    full = _results(cli("sr.onnx", "-p", "wechat", "-f", "json"))[0]
    only = _results(cli("sr.onnx", "-p", "wechat", "-f", "json", "--select", "CC300"))[
        0
    ]
    assert only["route"] == full["route"]
    assert codes(only) == {"CC300"}


def test_per_path_ignores_stay_inside_the_configured_folder(cli, project, tmp_path):
    (project / "compatcheck.yaml").write_text(
        "platforms: [wechat]\nper-path-ignores: {'*.onnx': [CC500]}\n"
    )
    outside = tmp_path.parent / f"{tmp_path.name}-outside.onnx"
    shutil.copy(SAMPLE, outside)
    inside, other = _results(cli("sr.onnx", outside, "-f", "json"))
    assert "CC500" not in codes(inside)
    assert "CC500" in codes(other)
    outside.unlink()


def test_reports_of_hostile_names_stay_well_formed(cli, tmp_path, monkeypatch):
    import xml.etree.ElementTree as ET

    import onnx
    from make_models import gelu

    model = gelu()
    model.graph.node[0].name = "a|b\x01c\rd\\e"
    folder = tmp_path / "odd"
    folder.mkdir()
    name = "co:lon %25 #q.onnx"
    onnx.save(model, folder / name)
    monkeypatch.chdir(folder)
    args = (name, "-p", "wechat", "--engine", "wx-inference", "--no-config", "-f")
    ET.fromstring(cli(*args, "junit").out)  # well-formed XML
    sarif = json.loads(cli(*args, "sarif").out)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == "co%3Alon%20%2525%20%23q.onnx"
    table = cli(*args, "markdown").out
    row = next(line for line in table.splitlines() if "a\\|b" in line)
    assert "\r" not in row and "a\\|b c d\\\\e" in row


def _usage_error(cli, *args) -> str:
    done = cli(*args)
    assert done.code == 2, done.out
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    return done.err


def test_every_gate_usage_error_names_the_problem(cli, project, monkeypatch):
    import compatcheck.baseline

    model = "sr.onnx"
    (project / "empty.toml").write_text('[project]\nname = "x"\n')
    (project / "table.toml").write_text("[tool]\ncompatcheck = 5\n")
    (project / "nested.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    (project / "bad.yaml").write_text("extends: [wechat]\n")
    (project / "missing-base.yaml").write_text("extends: gone.yaml\n")
    cases = [
        (("--config", project, "--no-config"), "cannot be combined with --config"),
        (("--jobs", "0"), "--jobs 0: give at least 1 process"),
        (("-o", project / "nowhere" / "r.txt"), "does not exist"),
        (("-o", "r.json", "--write-baseline", "r.json"), "is both the report"),
        (("--config", project), "is a folder; give compatcheck.yaml"),
        (("--config", project / "nope.yaml"), "configuration file not found"),
        (("--config", project / "empty.toml"), "has no [tool.compatcheck] table"),
        (("--config", project / "table.toml"), "[tool.compatcheck] must be a table"),
        (("--config", project / "nested.toml"), "is nested too deeply to read"),
        (("-p", project / "bad.yaml"), "extends: expected a platform name"),
        (("-p", project / "missing-base.yaml"), "extends: 'gone.yaml' is not a file"),
    ]
    for extra, message in cases:
        args = [model, *extra] if "-p" in extra else [model, "-p", "wechat", *extra]
        assert message in _usage_error(cli, *args), message
    monkeypatch.setattr(compatcheck.baseline, "MAX_BASELINE_BYTES", 10)
    (project / "big.json").write_text('{"findings": []}')
    err = _usage_error(cli, model, "-p", "wechat", "--baseline", project / "big.json")
    assert "is larger than 10 bytes" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_standard_output_is_a_usage_error(project):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "compatcheck", "sr.onnx", "-p", "wechat"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project / "models",
        )
    assert done.returncode == 2
    assert "standard output: cannot be written" in done.stderr
