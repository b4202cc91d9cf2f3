"""The deployment plan as terminal text: contract, cost, loading, session."""

from __future__ import annotations

import json
import textwrap

from compatcheck.model.graph import format_shape
from compatcheck.plan import ModelPlan, PlatformPlan
from compatcheck.plan.contract import TensorContract
from compatcheck.plan.cost import Cost

MB = 1048576
# Plan lines wrap at this width, continuing under their first word.
WIDTH = 100


def model_plan_lines(plan: ModelPlan) -> list[str]:
    """Inputs, outputs, cost and quantization, indented under the model line."""
    return wrap_lines(_model_lines(plan))


def platform_plan_lines(plan: PlatformPlan) -> list[str]:
    """Loading plan, session call and output keys under a platform verdict."""
    return wrap_lines(_platform_lines(plan))


def wrap_lines(lines: list[str]) -> list[str]:
    """Lines cut at WIDTH, continuing indented under their first word."""
    wrapped = []
    for line in lines:
        body = line.lstrip()
        indent = line[: len(line) - len(body)]
        hang = indent + ("  " if body.startswith("- ") else "    ")
        wrapped += textwrap.wrap(
            body,
            WIDTH,
            initial_indent=indent,
            subsequent_indent=hang,
            break_on_hyphens=False,
        ) or [""]
    return wrapped


def _model_lines(plan: ModelPlan) -> list[str]:
    lines = ["  inputs:"]
    for tensor in plan.contract.inputs:
        lines += _input_lines(tensor)
    lines.append("  outputs:")
    for tensor in plan.contract.outputs:
        lines.append(f"    {_tensor_line(tensor)}")
        lines += _normalisation_lines(tensor)
    lines += _cost_lines(plan.cost)
    state = plan.quantization
    lines.append(f"  quantization: {state.description} ({state.evidence})")
    lines.append(f"    {state.trade_off}")
    return lines


def _input_lines(tensor: TensorContract) -> list[str]:
    line = f"    {_tensor_line(tensor)}"
    if tensor.layout:
        line += f", {tensor.layout} ({tensor.layout_reason})"
    lines = [line]
    lines += [f"      {text}" for text in tensor.filled]
    lines += _normalisation_lines(tensor)
    return lines


def _tensor_line(tensor: TensorContract) -> str:
    text = f"{tensor.name}: {tensor.dtype} {_shape(tensor.shape)}"
    if tensor.feed_shape is None:
        return text + " (feed shape unknown)"
    if tensor.feed_shape != tensor.shape:
        text += f" -> {_shape(tensor.feed_shape)}"
    return text


def _normalisation_lines(tensor: TensorContract) -> list[str]:
    norm = tensor.normalisation
    if not norm:
        return []
    parts = [
        f"{key} {norm[key]}" for key in ("mean", "std", "min", "max") if key in norm
    ]
    if "color_space" in norm:
        parts.append(norm["color_space"])
    parts += [f"{k}={v}" for k, v in norm.get("properties", {}).items()]
    if "not_finite" in norm:
        parts.append(f"{' and '.join(norm['not_finite'])} not finite (ignored)")
    if not parts:
        return []
    return [f"      values ({norm['source']}): {', '.join(parts)}"]


def _shape(shape) -> str:
    if shape is None:
        return "[unknown rank]"
    return format_shape(shape)


def _cost_lines(cost: Cost) -> list[str]:
    weights = ", ".join(
        f"{dtype} {_mb(size)}" for dtype, size in sorted(cost.weight_bytes.items())
    )
    approx = "" if cost.compression_exact else "about "
    lines = [
        f"  cost: {cost.parameters:,} parameters ({weights or 'no weights'}); "
        f"file {_mb(cost.file_bytes)}, gzip {approx}{_mb(cost.gzip_bytes)}, "
        f"brotli {approx}{_mb(cost.brotli_bytes)}",
        _shrunk(cost),
    ]
    macs = f"    {_count(cost.total_macs)} MACs"
    if cost.macs:
        top = sorted(cost.macs.items(), key=lambda kv: -kv[1])[:3]
        macs += " (" + ", ".join(f"{k} {_count(v)}" for k, v in top) + ")"
    if cost.macs_unknown:
        macs += f", {len(cost.macs_unknown)} node(s) not counted (shapes unknown)"
    lines.append(macs)
    peak = f"    peak activations {_mb(cost.peak_bytes)} at {cost.peak_at}"
    if cost.peak_unknown:
        peak += f" ({cost.peak_unknown} tensor(s) of unknown size left out)"
    lines.append(peak)
    return lines


def _platform_lines(plan: PlatformPlan) -> list[str]:
    loading = plan.loading
    lines = [f"    plan ({plan.engine}): {loading.where}"]
    lines += [f"      - {step}" for step in loading.steps]
    transfer = ", ".join(f"{k} {_mb(v)}" for k, v in loading.transfer.items())
    lines.append(f"      - bytes on the wire: {transfer}")
    lines.append(f"      - {loading.when}")
    lines += [f"      - {line}" for line in plan.guidance]
    base = plan.min_base_library
    session = f"    session: {plan.engine_title}"
    if plan.options:
        session += " " + json.dumps(plan.options, separators=(", ", ": "))
    session += f", base library {base} or later" if base else ""
    lines.append(session)
    for name, reason in plan.option_reasons.items():
        lines.append(f"      {name}: {reason}")
    lines.append(f"    results: {_keys(plan)}")
    return lines


def _keys(plan: PlatformPlan) -> str:
    if plan.outputs_by == "name":
        return "by output name: " + ", ".join(
            f"res[{name!r}]" for name in plan.output_keys
        )
    if plan.outputs_by == "position":
        return "in output order: " + ", ".join(
            f"[{index}] {name}" for name, index in plan.output_keys.items()
        )
    return "how the engine returns outputs is unknown"


def _mb(size: int) -> str:
    return f"{size / MB:.2f} MB"


def _shrunk(cost: Cost) -> str:
    if not cost.weight_bytes.get("float32"):
        return "    no float32 weights to store in float16 or int8"
    return (
        f"    with float16 weights {_mb(cost.float16_bytes)}, with int8 weights "
        f"{_mb(cost.int8_bytes)}"
    )


def _count(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return str(value)
