"""Shared fixtures: the real-model corpus, synthetic models, running the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from compatcheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CORPUS = ROOT.parent / "shared" / "corpus" / "models"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real models beside the checkout."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared model corpus is not beside the checkout ({CORPUS})")
    return CORPUS


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> dict[str, str]:
    from make_models import build_all

    return build_all(str(tmp_path_factory.mktemp("synthetic")))


class CliRun:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run compatcheck in-process and capture its exit code and output."""

    def run(*args: str) -> CliRun:
        try:
            code = main([str(a) for a in args])
        except SystemExit as done:  # --help and --version end in argparse
            code = done.code
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def through_a_pipe(cli, tmp_path, *args) -> tuple[CliRun, bytes]:
    """Run compatcheck with ``-o`` a named pipe; what came through it.

    Asserts that the pipe is still a pipe afterwards: output is written into
    special files, never in their place.
    """
    import stat
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    done = cli(*args, "-o", pipe)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    return done, received[0] if received else b""


def codes(result: dict) -> set[str]:
    return {f["code"] for f in result["findings"]}


@pytest.fixture
def check_json(cli):
    """Check one model on one platform; return the single JSON result."""

    def run(model, platform: str, *extra: str) -> dict:
        done = cli(model, "--platform", platform, "--format", "json", *extra)
        assert done.code in (0, 1), done.err
        (result,) = done.json()["results"]
        return result

    return run


os.environ.pop("COMPATCHECK_DEBUG", None)


def pytest_addoption(parser):
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite tests/data/snapshots from the current output",
    )
