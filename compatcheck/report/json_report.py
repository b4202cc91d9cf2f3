"""Machine-readable report. Same input, byte-identical output."""

from __future__ import annotations

import json

from compatcheck import __version__
from compatcheck.model.graph import ModelGraph, TensorInfo
from compatcheck.report import Report

SCHEMA_VERSION = 1


def render_json(report: Report) -> str:
    document = {
        "tool": "compatcheck",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "models": [
            {**model_facts(m), "plan": _plan(report, m.path)} for m in report.models
        ],
        "results": [r.to_dict() for r in report.results],
        "errors": [{"model": e.path, "error": e.message} for e in report.errors],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _plan(report: Report, path: str) -> dict | None:
    plan = report.plans.get(path)
    return plan.to_dict() if plan is not None else None


def model_facts(model: ModelGraph) -> dict:
    """What compatcheck read from a model, without the graph itself."""
    return {
        "path": model.path,
        "format": model.format,
        "file_size": model.file_size,
        "external_data_bytes": model.external_bytes,
        "weight_bytes": model.weight_bytes,
        "operators": len(model.ops),
        "operator_types": sorted({op.op_type for op in model.ops.values()}),
        "opsets": dict(sorted(model.opsets.items())),
        "ir_version": model.ir_version,
        "schema_version": model.schema_version,
        "producer": model.producer,
        "inputs": [_tensor(t) for t in model.inputs],
        "outputs": [_tensor(t) for t in model.outputs],
    }


def _tensor(tensor: TensorInfo) -> dict:
    shape = tensor.display_shape
    return {
        "name": tensor.name,
        "kind": tensor.kind,
        "dtype": tensor.dtype,
        "shape": list(shape) if shape is not None else None,
    }
