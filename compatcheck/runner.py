"""Check many models on many platforms and collect one report."""

from __future__ import annotations

import sys

from compatcheck.check import check_model, engine_names
from compatcheck.errors import ModelFormatError, UserError
from compatcheck.model import ModelGraph, load_model
from compatcheck.profiles import load_profile, resolve_platforms
from compatcheck.report import ModelError, Report
from compatcheck.rules import Options


def run_check(paths: list[str], platforms: list[str], options: Options) -> Report:
    """Load every model once and check it on every platform.

    Profile and usage problems stop the run (exit 2 before any output); a
    model that cannot be read becomes an error entry and the others go on.
    """
    names = resolve_platforms(platforms)
    if not names:
        raise UserError("--platform", "no platform given")
    profiles = [load_profile(name) for name in names]
    _check_unique(profiles)
    _check_backend(options.backend, profiles)
    profiles = _with_engine(options, profiles)
    report = Report()
    for path in dict.fromkeys(paths):  # each model once, in the given order
        try:
            model = load_model(path)
        except ModelFormatError as exc:
            report.errors.append(ModelError(exc.where, exc.problem))
            continue
        report.models.append(model)
    _check_input_shapes(options.input_shapes, report.models)
    for model in report.models:
        for profile in profiles:
            report.results.append(check_model(model, profile, options))
    return report


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
    skipped = [p.platform for p in profiles if p not in offering]
    if skipped:
        print(
            f"compatcheck: note: --engine {wanted}: not checking "
            f"{', '.join(skipped)}, which do not offer it",
            file=sys.stderr,
        )
    return offering


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
                shown = ", ".join("?" if d is None else str(d) for d in fixed)
                raise UserError(flag, f"does not fit input {name!r} of shape [{shown}]")
