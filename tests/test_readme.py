"""The README tells the truth: sample command, test command, rule table."""

from __future__ import annotations

import re

from conftest import ROOT

from compatcheck.rules import all_rules

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_install_and_test_commands():
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert "pip install ." in commands[0] and "compatcheck tests/data/" in commands[0]
    assert "python -m pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci and "'.[test]'" in ci


def test_readme_sample_command_runs(cli):
    first = re.findall(r"```sh\n(.*?)\n```", README, re.S)[0]
    invocation = first.split("&& compatcheck ", 1)[1].split()
    done = cli(*[str(ROOT / a) if a.startswith("tests/") else a for a in invocation])
    assert done.code == 0, done.err
    assert "wechat: PASS WITH WARNINGS" in done.out


def test_readme_rule_table_matches_the_registry():
    row = r"^\| (CC\d{3}) \| ([a-z-]+) \| ([a-z ,()]+) \| (yes|) \|"
    rows = re.findall(row, README, re.M)
    expected = [
        (r.code, r.name, r.severities, "yes" if r.fixable else "") for r in all_rules()
    ]
    assert rows == expected


def _example(request, cli, monkeypatch, heading: str, lang: str = "text"):
    """The command after ``heading`` (one naming tests/), its shown output, its run.

    With --update-snapshots the shown output in README.md is replaced by
    what the command prints now.
    """
    # Read afresh: an update of an earlier example moves the later ones.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(heading)
    section = readme[start:]
    command = re.search(r"`(compatcheck [^`\n]*tests/[^`\n]+)`", section).group(1)
    block = re.search(rf"```{lang}\n(.*?)\n```", section, re.S)
    monkeypatch.chdir(ROOT)
    done = cli(*command.split()[1:])
    if request.config.getoption("--update-snapshots"):
        begin, end = start + block.start(1), start + block.end(1)
        updated = readme[:begin] + done.out.rstrip("\n") + readme[end:]
        (ROOT / "README.md").write_text(updated, encoding="utf-8")
        return done.out.rstrip("\n"), done
    return block.group(1), done


def test_readme_sample_report_is_what_the_command_prints(request, cli, monkeypatch):
    shown, done = _example(request, cli, monkeypatch, "## A report")
    assert done.code == 1
    assert done.out.rstrip("\n") == shown


def test_readme_configuration_and_extends_examples_work(cli, tmp_path, monkeypatch):
    section = README[README.index("### Configuration") : README.index("### Baselines")]
    config, profile = re.findall(r"```yaml\n(.*?)\n```", section, re.S)
    (tmp_path / "compatcheck.yaml").write_text(config)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "our-wechat.yaml").write_text(profile)
    monkeypatch.chdir(tmp_path)
    done = cli(ROOT / "tests" / "data" / "pytorch_super_resolution.onnx", "-f", "json")
    assert done.code in (0, 1), done.err
    platforms = [r["platform"] for r in done.json()["results"]]
    assert platforms == ["wechat", "our-wechat"]  # douyin has no wx-inference
    ours = done.json()["results"][1]
    assert "CC300" not in {f["code"] for f in ours["findings"]}  # opset 15 allowed


def test_readme_deployment_plan_is_what_the_command_prints(request, cli, monkeypatch):
    shown, done = _example(request, cli, monkeypatch, "## A deployment plan")
    assert done.code == 0
    assert done.out.rstrip("\n") == shown


def test_readme_manifest_example_is_real_and_valid(request, cli, monkeypatch):
    import json

    import jsonschema

    from compatcheck.plan.manifest import schema

    shown, done = _example(request, cli, monkeypatch, "### Hot-update manifest", "json")
    jsonschema.Draft202012Validator(schema()).validate(json.loads(shown))
    assert done.code == 0, done.err
    assert done.out.rstrip("\n") == shown


def test_readme_fix_example_is_what_the_command_prints(request, cli, monkeypatch):
    shown, done = _example(request, cli, monkeypatch, "## Fixing a model")
    assert done.code == 0, done.err
    assert done.out.rstrip("\n") == shown
