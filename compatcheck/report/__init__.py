"""Formatters: one module per output format, each rendering a Report."""

from __future__ import annotations

from dataclasses import dataclass, field

from compatcheck.findings import PlatformResult
from compatcheck.model.graph import ModelGraph


@dataclass
class ModelError:
    """A model that could not be checked (bad input)."""

    path: str
    message: str


@dataclass
class Report:
    """Everything one run produced, in the order the models were given."""

    models: list[ModelGraph] = field(default_factory=list)
    results: list[PlatformResult] = field(default_factory=list)
    errors: list[ModelError] = field(default_factory=list)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        from compatcheck.report.json_report import render_json

        return render_json(report)
    from compatcheck.report.text import render_text

    return render_text(report)
