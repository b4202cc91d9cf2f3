"""The deployment plan: from a verdict to what the mini program must do.

A model plan (contract, cost, quantization) depends on the model alone; a
platform plan (engine options, output keys, where the model lives) adds
the chosen route's engine and the platform's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compatcheck.findings import RouteResult
from compatcheck.model.graph import ModelGraph
from compatcheck.plan.contract import Contract, io_contract
from compatcheck.plan.cost import Cost, model_cost
from compatcheck.plan.loading import LoadingPlan, loading_plan
from compatcheck.plan.quant import QDQ, QuantState, quantization_state
from compatcheck.profiles.model import Engine, Profile


@dataclass
class ModelPlan:
    contract: Contract
    cost: Cost
    quantization: QuantState

    def to_dict(self) -> dict:
        return {
            **self.contract.to_dict(),
            "cost": self.cost.to_dict(),
            "quantization": self.quantization.to_dict(),
        }


def plan_model(model: ModelGraph, given: dict[str, tuple[int, ...]]) -> ModelPlan:
    """Contract, cost and quantization of ``model`` (needs its graph)."""
    contract = io_contract(model, given)
    return ModelPlan(
        contract=contract,
        cost=model_cost(model, contract.dim_values),
        quantization=quantization_state(model),
    )


@dataclass
class PlatformPlan:
    """What to do on one platform through the chosen route."""

    platform: str
    engine: str
    engine_title: str
    engine_format: str
    min_base_library: str | None
    options: dict[str, object]
    option_reasons: dict[str, str]
    output_keys: dict[str, str | int | None]
    outputs_by: str
    loading: LoadingPlan
    converters: list[str] = field(default_factory=list)
    # Compute and memory against the engine's and platform's guidance.
    guidance: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "engine": self.engine,
            "engine_format": self.engine_format,
            "min_base_library": self.min_base_library,
            "session_options": dict(self.options),
            "session_option_reasons": dict(self.option_reasons),
            "outputs_by": self.outputs_by,
            "output_keys": dict(self.output_keys),
            "loading": self.loading.to_dict(),
            "guidance": list(self.guidance),
            "unverified_facts": sorted(set(self.unverified)),
        }


def plan_platform(
    model: ModelGraph, plan: ModelPlan, profile: Profile, route: RouteResult | None
) -> PlatformPlan | None:
    """The platform plan, or None when no route reaches an engine."""
    if route is None:
        return None
    engine = profile.engine(route.engine)
    if engine is None:
        return None
    unverified: list[str] = []
    formats = engine.formats.value if engine.formats.known else []
    engine_format = formats[0] if formats else "unknown"
    converted = bool(route.converters)
    size = sum(plan.cost.weight_bytes.values()) if converted else plan.cost.file_bytes
    options, reasons = session_options(
        _engine_model(model, profile, route), plan, engine
    )
    return PlatformPlan(
        platform=profile.platform,
        engine=engine.id,
        engine_title=engine.title,
        engine_format=engine_format,
        min_base_library=_known(engine.min_base_library, unverified),
        options=options,
        option_reasons=reasons,
        output_keys=_output_keys(plan, engine, unverified),
        outputs_by=_known(engine.outputs_by, unverified) or "unknown",
        loading=loading_plan(
            profile, engine_format, size, converted, _ratios(plan.cost)
        ),
        converters=list(route.converters),
        guidance=_guidance(plan.cost, profile, engine, unverified),
        unverified=unverified,
    )


def _guidance(
    cost: Cost, profile: Profile, engine: Engine, unverified: list[str]
) -> list[str]:
    """Compute against a documented timing, peak memory against a budget."""
    reference = engine.speed_reference
    if reference is not None and engine.reference_macs and cost.macs:
        ratio = cost.total_macs / engine.reference_macs
        compute = (
            f"compute: {ratio:.2g} times the MACs of the reference model; "
            f"{reference.value} ({reference.cite()}); time grows roughly with MACs"
        )
        _known(reference, unverified)
    else:
        compute = (
            f"compute: no documented timing for {engine.title}; measure on a phone"
        )
    budget = profile.limits.get("memory_bytes")
    peak = f"{cost.peak_bytes / 1048576:.2f} MB"
    if budget is None or not budget.known:
        memory = f"memory: peak activations {peak}; no memory budget is documented"
        if budget is not None:
            unverified.append(budget.path)
    else:
        fits = "within" if cost.peak_bytes <= budget.value else "OVER"
        memory = (
            f"memory: peak activations {peak}, {fits} the "
            f"{budget.value / 1048576:.0f} MB budget ({budget.cite()})"
        )
    return [compute, memory]


def _engine_model(
    model: ModelGraph, profile: Profile, route: RouteResult
) -> ModelGraph:
    """The model as the engine receives it: predicted through the conversions."""
    if not route.converters:
        return model
    from compatcheck.routes import convert, find_routes

    for candidate in find_routes(model.format, profile):
        steps = [step.id for step in candidate.steps]
        if candidate.engine.id == route.engine and steps == route.converters:
            for step in candidate.steps:
                model, _ = convert(model, step)
            return model
    return model


def _ratios(cost: Cost) -> dict[str, float]:
    plain = max(cost.file_bytes, 1)
    return {"gzip": cost.gzip_bytes / plain, "brotli": cost.brotli_bytes / plain}


def _known(fact, unverified: list[str]):
    if fact is None:
        return None
    if not fact.verified:
        unverified.append(fact.path)
    return fact.value if fact.known else None


def _output_keys(
    plan: ModelPlan, engine: Engine, unverified: list[str]
) -> dict[str, str | int | None]:
    how = _known(engine.outputs_by, unverified)
    keys: dict[str, str | int | None] = {}
    for index, output in enumerate(plan.contract.outputs):
        if how == "name":
            keys[output.name] = output.name
        elif how == "position":
            keys[output.name] = index
        else:
            keys[output.name] = None
    return keys


def session_options(
    model: ModelGraph, plan: ModelPlan, engine: Engine
) -> tuple[dict[str, object], dict[str, str]]:
    """Values for the engine's documented session options, with reasons.

    Options compatcheck has no reasoning for keep their documented default.
    """
    options: dict[str, object] = {}
    reasons: dict[str, str] = {}
    for name, fact in engine.options.items():
        chooser = _CHOOSERS.get(name)
        if chooser is None:
            options[name], reasons[name] = fact.value, "the documented default"
            continue
        value, why = chooser(model, plan, engine, fact.value)
        if value is not None:
            options[name], reasons[name] = value, why
    return options, reasons


def _precision(model, plan, engine, default):
    return default, (
        f"the default ({default}: float32, precise math); lower levels run in "
        "float16 and need an accuracy check on a phone"
    )


def _allow_quantize(model, plan, engine, default):
    # ``model`` is what the engine receives, after any conversion.
    form = quantization_state(model).form
    if form == QDQ:
        return True, "the model the engine loads is in QDQ form; true runs it in INT8"
    return False, f"the model the engine loads is {form}, not QDQ-quantized"


def _allow_npu(model, plan, engine, default):
    from compatcheck.rules.operators import resolve

    backend = next((b for b in engine.backends if b.endswith("npu")), None)
    if backend is None or engine.backends[backend].available.value is not True:
        return default, "no NPU backend is available"
    missing = sorted(
        {
            op.op_type
            for op in model.ops.values()
            if (res := resolve(model, engine, op)).status == "supported"
            and backend not in engine.rows.get(res.mapping.row, ())
        }
    )
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        return False, (
            f"{len(missing)} operator type(s) have no kernel on {backend} ({shown}); "
            "measure on an iPhone before turning it on"
        )
    return True, f"every operator has a kernel on {backend} in the table (iOS only)"


def _typical_shape(model, plan, engine, default):
    dynamic = [t for t in model.inputs if t.is_dynamic]
    if not dynamic:
        return None, ""
    shapes = {}
    for spec in plan.contract.inputs:
        if any(t.name == spec.name for t in dynamic) and spec.feed_shape:
            shapes[spec.name] = spec.feed_shape
    missing = [t.name for t in dynamic if t.name not in shapes]
    why = "the model has dynamic dimensions; these are the feed shapes"
    if missing:
        why += f" (give --input-shape for {', '.join(missing)})"
    return shapes, why


_CHOOSERS = {
    "precisionLevel": _precision,
    "allowQuantize": _allow_quantize,
    "allowNPU": _allow_npu,
    "typicalShape": _typical_shape,
}
