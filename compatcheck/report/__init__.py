"""Formatters: one module per output format, each rendering a Report."""

from __future__ import annotations

from dataclasses import dataclass, field

from compatcheck.findings import PlatformResult
from compatcheck.model.graph import ModelGraph
from compatcheck.plan import ModelPlan


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
    # Contract, cost and quantization of each model, by model path.
    plans: dict[str, ModelPlan] = field(default_factory=dict)


def render(report: Report, fmt: str) -> str:
    """The report in one of the formats ``--format`` offers."""
    module, function = _RENDERERS[fmt]
    from importlib import import_module

    return getattr(import_module(f"compatcheck.report.{module}"), function)(report)


_RENDERERS = {
    "text": ("text", "render_text"),
    "json": ("json_report", "render_json"),
    "sarif": ("sarif", "render_sarif"),
    "junit": ("junit", "render_junit"),
    "github": ("github", "render_github"),
    "markdown": ("markdown", "render_markdown"),
}
