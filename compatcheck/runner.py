"""Check many models on many platforms and collect one report."""

from __future__ import annotations

from compatcheck.check import check_model
from compatcheck.errors import ModelFormatError, UserError
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
    _check_backend(options.backend, profiles)
    report = Report()
    for path in dict.fromkeys(paths):  # each model once, in the given order
        from compatcheck.model import load_model

        try:
            model = load_model(path)
        except ModelFormatError as exc:
            report.errors.append(ModelError(exc.where, exc.problem))
            continue
        report.models.append(model)
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
