"""Check many models on many platforms and collect one report."""

from __future__ import annotations

import fnmatch
import os
import sys

from compatcheck.check import check_model, engine_names
from compatcheck.errors import ModelFormatError, UserError
from compatcheck.model import ModelGraph, load_model, looks_like_model
from compatcheck.model.graph import format_shape
from compatcheck.plan import plan_model, plan_platform
from compatcheck.profiles import load_profile, resolve_platforms
from compatcheck.report import ModelError, Report
from compatcheck.rules import Options


def run_check(
    paths: list[str], platforms: list[str], options: Options, jobs: int = 1
) -> Report:
    """Load every model once and check it on every platform.

    Profile and usage problems stop the run (exit 2 before any output); a
    model that cannot be read becomes an error entry and the others go on.
    With ``jobs`` above 1, models are checked in that many processes; the
    report is the same, in the same order.
    """
    names = resolve_platforms(platforms)
    if not names:
        raise UserError("--platform", "no platform given")
    profiles = [load_profile(name) for name in names]
    _check_unique(profiles)
    _check_backend(options.backend, profiles)
    profiles = _with_engine(options, profiles)
    profiles = _with_backend(options, profiles)
    report = Report()
    models, missing = expand_paths(paths)
    report.errors += missing
    work = [(path, [p.path for p in profiles], options) for path in models]
    for done, outcome in enumerate(_map(_check_one, work, jobs), start=1):
        _progress(done, len(work))
        if isinstance(outcome, ModelError):
            report.errors.append(outcome)
            continue
        model, plan, results = outcome
        report.models.append(model)
        report.plans[model.path] = plan
        report.results += results
    _check_input_shapes(options.input_shapes, report.models)
    return report


def _check_one(item: tuple[str, list[str], Options]):
    """Load one model and check it on every profile (also in a worker)."""
    path, profile_paths, options = item
    try:
        model = load_model(path)
    except ModelFormatError as exc:
        return ModelError(exc.where, exc.problem)
    plan = plan_model(model, options.input_shapes)
    results = []
    for profile_path in profile_paths:
        profile = load_profile(profile_path)
        result = check_model(model, profile, options)
        result.plan = plan_platform(model, plan, profile, result.route)
        results.append(result)
    # Reports need the model's facts, not its graph; keep what crosses
    # between processes small.
    model.graph = None
    model.shared.clear()
    return model, plan, results


def _map(function, items: list, jobs: int):
    if jobs <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        yield from pool.map(function, items)


def _progress(done: int, total: int) -> None:
    """A counter on an interactive terminal, for runs over several models."""
    if total < 2 or not sys.stderr.isatty():
        return
    end = "\n" if done == total else ""
    print(f"\rcompatcheck: checked {done}/{total} models", end=end, file=sys.stderr)


# Folders are searched for these, and for files whose content is a model.
MODEL_EXTENSIONS = (".onnx", ".tflite")
_GLOB_CHARS = set("*?[")


def expand_paths(paths: list[str]) -> tuple[list[str], list[ModelError]]:
    """Files as given, folders searched recursively, glob patterns expanded.

    Each model once (by its real path), in the order given. Symbolic links to
    folders are not followed, so a link loop cannot trap the search. A
    pattern or folder that yields no model is an error entry.
    """
    found: list[str] = []
    errors: list[ModelError] = []
    for path in paths:
        if os.path.isdir(path):
            models = _search(path)
            if not models:
                errors.append(ModelError(path, _empty_folder(path)))
            found += models
        elif not os.path.lexists(path) and _GLOB_CHARS & set(path):
            matches = _glob(path)
            if not matches:
                errors.append(ModelError(path, "the pattern matches no file"))
            found += matches
        else:
            found.append(path)
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values()), errors


def _empty_folder(path: str) -> str:
    entries = set(os.listdir(path))
    if "saved_model.pb" in entries:
        return "is a TensorFlow SavedModel folder; convert it to TFLite or ONNX first"
    if "model.json" in entries:
        return (
            "is a TensorFlow.js or Paddle.js model folder; compatcheck reads the "
            "ONNX or TFLite model it was converted from"
        )
    others = sorted(
        os.path.relpath(os.path.join(root, name), path)
        for root, _, files in os.walk(path)
        for name in files
        if os.path.splitext(name)[1].lower() in _OTHER_MODEL_FILES
    )
    if others:
        shown = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
        return (
            f"holds no ONNX or TFLite model, but other model files ({shown}); "
            "give one of them to compatcheck to be told how to convert it"
        )
    return "holds no ONNX or TFLite model"


# Files of other frameworks a folder of models may hold instead.
_OTHER_MODEL_FILES = {
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".keras",
    ".pb",
    ".pdmodel",
    ".safetensors",
}


def _search(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.lower().endswith(MODEL_EXTENSIONS) or looks_like_model(path):
                found.append(path)
    return found


def _glob(pattern: str) -> list[str]:
    """Files matching ``pattern`` (``**`` crosses folders), without following
    links to folders."""
    parts = pattern.replace(os.sep, "/").split("/")
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    root = "/".join(fixed) or "."
    if pattern.startswith("/") and not fixed[1:]:
        root = "/"
    rest = parts[len(fixed) :]
    matches = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(base, root)
        segments = [] if relative == "." else relative.replace(os.sep, "/").split("/")
        for name in sorted(files):
            if _match_segments(rest, [*segments, name]):
                path = os.path.join(base, name)
                found = path if root != "." else os.path.relpath(path)
                matches.append(found)
    return matches


def _match_segments(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, tail = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(tail, path[i:]) for i in range(len(path) + 1))
    return (
        bool(path)
        and fnmatch.fnmatchcase(path[0], head)
        and (_match_segments(tail, path[1:]))
    )


def _check_backend(backend: str | None, profiles) -> None:
    known = {b for p in profiles for e in p.engines for b in e.backends}
    if backend is not None and backend not in known:
        choices = ", ".join(sorted(known)) or "none (no engine names backends)"
        raise UserError(
            f"--backend {backend}",
            f"unknown backend for these platforms; use {choices}",
        )


def _check_unique(profiles) -> None:
    seen: dict[str, str] = {}
    for profile in profiles:
        if profile.platform in seen:
            raise UserError(
                profile.path,
                f"is also named {profile.platform!r}, like {seen[profile.platform]}; "
                "give one of them another 'platform' name",
            )
        seen[profile.platform] = profile.path


def _with_engine(options: Options, profiles) -> list:
    """With --engine, the platforms that offer it (and a note about the rest)."""
    if options.engine is None:
        return profiles
    wanted = options.engine
    offering = [
        p for p in profiles if any(wanted in engine_names(e) for e in p.engines)
    ]
    if not offering:
        known = {n for p in profiles for e in p.engines for n in engine_names(e)}
        choices = ", ".join(sorted(known)) or "none (these platforms have no engine)"
        raise UserError(
            f"--engine {wanted}", f"unknown engine for these platforms; use {choices}"
        )
    for engine in (e for p in offering for e in p.engines):
        backend = options.backend
        if (
            wanted in engine_names(engine)
            and backend
            and backend not in engine.backends
        ):
            raise UserError(
                f"--backend {backend}",
                f"engine {engine.id} has no such backend; use "
                + (", ".join(sorted(engine.backends)) or "none"),
            )
    _note_skipped(f"--engine {wanted}", profiles, offering)
    return offering


def _with_backend(options: Options, profiles) -> list:
    """With --backend, the platforms with an engine that has it."""
    backend = options.backend
    if backend is None:
        return profiles
    offering = [p for p in profiles if any(backend in e.backends for e in p.engines)]
    _note_skipped(f"--backend {backend}", profiles, offering)
    return offering


def _note_skipped(flag: str, profiles, kept) -> None:
    skipped = [p.platform for p in profiles if p not in kept]
    if skipped:
        verb = "does" if len(skipped) == 1 else "do"
        print(
            f"compatcheck: note: {flag} (option or configuration): not checking "
            f"{', '.join(skipped)}, which {verb} not offer it",
            file=sys.stderr,
        )


def _check_input_shapes(shapes: dict, models: list[ModelGraph]) -> None:
    """Each --input-shape must name an input and agree with its fixed sizes."""
    for name, given in shapes.items():
        flag = f"--input-shape {name}={'x'.join(map(str, given))}"
        matches = [t for m in models for t in m.inputs if t.name == name]
        if models and not matches:
            names = sorted({t.name for m in models for t in m.inputs})
            raise UserError(
                flag, f"no model has an input of that name; inputs: {', '.join(names)}"
            )
        for tensor in matches:
            shape = tensor.display_shape
            if shape is None:
                continue
            fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
            if len(fixed) != len(given) or any(
                f is not None and f != g for f, g in zip(fixed, given, strict=True)
            ):
                shown = format_shape(shape)
                raise UserError(flag, f"does not fit input {name!r} of shape {shown}")
