"""``compatcheck fix``: rewrite an ONNX model so it loads, and prove it.

The check's findings choose the fixes; each fix is a pass over the
ModelProto (``passes``, ``precision``). The result is written to a temporary
file beside the output, checked again, and run next to the original with
onnxruntime (``verify``); only then does it replace the output, atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from dataclasses import dataclass, field

from compatcheck.errors import UserError
from compatcheck.findings import Finding, PlatformResult, Severity
from compatcheck.fix.passes import Change, Refused
from compatcheck.fix.verify import TOLERANCES, CannotVerify, OutputDiff
from compatcheck.output import is_special, refuse_model_data, replace

# protobuf cannot serialise a model of 2 GiB or more in one message.
MAX_PROTO_BYTES = 2**31 - 1


@dataclass
class FixOptions:
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    engine: str | None = None
    quantize: str | None = None  # "float16" or "int8"
    inputs_file: str | None = None
    seed: int = 0
    tolerance: float | None = None
    force: bool = False
    # The configuration's select, ignore, severity and backend, as the check
    # applies them (compatcheck.rules.Options); None: the defaults.
    check: object | None = None


@dataclass
class FixReport:
    model: str
    platform: str
    engine: str
    before: PlatformResult
    after: PlatformResult | None = None
    changes: list[Change] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    diffs: list[OutputDiff] = field(default_factory=list)
    verify_problem: str = ""
    # The --platform value: a name, an alias or a profile file.
    platform_given: str = ""
    # The model after each change, while small enough to keep, so a fixed
    # model onnxruntime refuses can be traced to the change that broke it.
    snapshots: list[tuple[str, bytes]] | None = field(default_factory=list, repr=False)
    # With float16: tensors of the original beyond float16's range.
    overflows: list = field(default_factory=list)
    # The fix after which onnxruntime no longer runs the model, and the fixes
    # left out for that reason (with it) on an earlier attempt.
    breaking: str = ""
    breaking_reason: str = ""  # what onnxruntime said of the model after it
    left_out: list[str] = field(default_factory=list)
    size_before: int = 0
    size_after: int = 0
    written: str | None = None
    not_written: str = ""
    explanation: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return (
            bool(self.diffs)
            and not self.verify_problem
            and not self.overflows
            and all(d.ok for d in self.diffs)
        )

    def left(self) -> list[Finding]:
        """Warnings and errors that remain after the fixes."""
        result = self.after or self.before
        return [f for f in result.findings if f.severity is not Severity.INFO]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "platform": self.platform,
            "engine": self.engine,
            "before": _verdict(self.before),
            "after": _verdict(self.after) if self.after else None,
            "changes": [c.to_dict() for c in self.changes],
            "refused": [*self.left_out, *self.refused],
            "verification": {
                "verified": self.verified,
                "problem": self.verify_problem,
                "outputs": [d.to_dict() for d in self.diffs],
                "float16_overflows": [o.to_dict() for o in self.overflows],
            },
            "bytes_before": self.size_before,
            "bytes_after": self.size_after,
            "written": self.written,
            "not_written": self.not_written,
            "left": [f.to_dict() for f in self.left()],
            "explanation": list(self.explanation),
        }


def _verdict(result: PlatformResult) -> dict:
    return {
        "verdict": result.verdict,
        "errors": result.count(Severity.ERROR),
        "warnings": result.count(Severity.WARNING),
    }


def fix_model(
    path: str, platform: str, options: FixOptions, target: str | None
) -> FixReport:
    """Fix ``path`` for ``platform``; write to ``target`` (None: dry run)."""
    from compatcheck.profiles import load_profile

    model, plan, before = _check(path, platform, options)
    refuse_model_data(target, [model])
    sized = _shapes_from_inputs(options, model)
    if sized != options.input_shapes:
        options = dataclasses.replace(options, input_shapes=sized)
        model, plan, before = _check(path, platform, options)
    direct = next((r for r in before.routes if not r.converters), None)
    switched = ""
    if options.engine is None and direct is not None and before.route is not direct:
        # Fixes rewrite ONNX for an engine that loads it as it is; the
        # check's best route may go through a converter instead.
        switched = _switch_note(before, direct.engine)
        options = _with_engine(options, direct.engine)
        model, plan, before = _check(path, platform, options)
    profile = load_profile(platform)
    route = before.route
    engine = profile.engine(route.engine) if route and not route.converters else None
    report = FixReport(
        model=path,
        platform=before.platform,
        platform_given=platform,
        engine=route.engine if route else "",
        before=before,
        size_before=model.deploy_bytes,
    )
    if switched:
        report.explanation.append(switched)
    if model.format != "onnx":
        report.explanation = explain_tflite(before)
        report.not_written = "compatcheck fixes ONNX models only"
        return report
    proto = _load_proto(path)
    if engine is None and route is not None:
        report.explanation.append(_converted_note(before))
    left_out: list[str] = []
    while True:
        fixed = _apply(proto, model, plan, before, engine, options, report, left_out)
        if not report.changes:
            report.not_written = "no fix applies"
            return report
        _write_and_verify(fixed, path, plan, options, target, report)
        if not report.breaking or report.breaking in left_out:
            return report
        # onnxruntime runs the model before that fix and not after it: leave
        # it out and apply the others again.
        left_out.append(report.breaking)
        _start_again(report)


def _start_again(report: FixReport) -> None:
    """Forget the applied fixes and their results, keeping why one is left out."""
    why = f"{report.breaking}: {report.breaking_reason}; left out"
    report.changes, report.refused, report.diffs = [], [], []
    report.snapshots, report.overflows = [], []
    report.verify_problem, report.not_written = "", ""
    report.breaking, report.breaking_reason = "", ""
    report.after, report.size_after = None, 0
    report.left_out = [*report.left_out, why]


def _shapes_from_inputs(options: FixOptions, model) -> dict:
    """--input-shape, completed by the shapes of the --inputs arrays.

    An array for an input with open dimensions tells the size to fix them
    to, as --input-shape would.
    """
    from compatcheck.fix.verify import load_inputs

    shapes = dict(options.input_shapes)
    if not options.inputs_file:
        return shapes
    try:
        arrays = load_inputs(options.inputs_file)
    except CannotVerify as exc:
        raise UserError(options.inputs_file, str(exc).split(": ", 1)[-1]) from None
    for tensor in model.inputs:
        value = arrays.get(tensor.name)
        if tensor.name in shapes or not tensor.is_dynamic or value is None:
            continue
        if value.ndim and all(d >= 1 for d in value.shape):
            shapes[tensor.name] = tuple(int(d) for d in value.shape)
    return shapes


def _switch_note(result: PlatformResult, engine: str) -> str:
    route = result.route
    best = route.engine if route else "no engine"
    via = f" via {' + '.join(route.converters)}" if route and route.converters else ""
    return (
        f"the check's best route on {result.platform} is {best}{via}, "
        f"{result.verdict}; fix rewrites the ONNX file for {engine}, the engine "
        "that loads it as it is (--engine chooses another)"
    )


def _converted_note(result: PlatformResult) -> str:
    route = result.route
    assert route is not None
    return (
        f"no engine on {result.platform} loads ONNX as it is: the route converts "
        f"it with {' + '.join(route.converters)} for {route.engine}, so the "
        "engine-specific fixes (decompose, convert-opset, cast-io) do not apply; "
        "shapes and simplification still do"
    )


def _with_engine(options: FixOptions, engine: str) -> FixOptions:
    return dataclasses.replace(options, engine=engine)


def _check(path: str, platform: str, options: FixOptions):
    from compatcheck.rules import Options
    from compatcheck.runner import run_check

    base = options.check if options.check is not None else Options()
    shapes = dict(options.input_shapes)
    checked = run_check(
        [path],
        [platform],
        dataclasses.replace(base, input_shapes=shapes, engine=options.engine),
    )
    if checked.errors:
        raise UserError(checked.errors[0].path, checked.errors[0].message)
    if not checked.results:
        raise UserError(path, f"was not checked on {platform}")
    model = checked.models[0]
    return model, checked.plans[model.path], checked.results[0]


def _load_proto(path: str):
    import onnx

    from compatcheck.fix.passes import all_nodes

    proto = onnx.load(path, load_external_data=False)
    tensors = [*proto.graph.initializer]
    for node in all_nodes(proto.graph):  # Constant nodes hold tensors too
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
        raise UserError(
            path,
            "keeps weights in external data files; compatcheck fix rewrites "
            "single-file models only (onnx.load and onnx.save without "
            "save_as_external_data make one)",
        )
    return proto


# Fix ids, by the pass that makes them, for reasons a pass gives when refused.
FIX_NAMES = {
    "decompose": "decompose",
    "convert_opset": "convert-opset",
    "cast_io": "cast-io",
    "fix_input_shapes": "fix-input-shape",
    "simplify": "simplify",
    "to_float16": "float16",
    "to_int8_qdq": "int8-qdq",
}


def _apply(proto, model, plan, before, engine, options, report, left_out=()):
    """Run the passes the findings call for, in an order that keeps each valid.

    Each pass works on a copy, so a pass that fails half-way leaves the
    model as the previous pass made it.
    """
    import onnx

    from compatcheck.fix import passes

    present = {f.code for f in before.findings}

    def attempt(step, current, *args):
        name = FIX_NAMES[step.__name__]
        if name in left_out:
            return current
        work = onnx.ModelProto()
        work.CopyFrom(current)
        try:
            outcome = step(work, *args)
        except Refused as exc:
            report.refused.append(f"{name}: {exc}")
            return current
        except Exception as exc:  # a library failed on this model: skip the fix
            detail = " ".join(str(exc).split())[:200]
            kind = type(exc).__name__
            report.refused.append(f"{name}: failed on this model ({kind}: {detail})")
            return current
        result, change = outcome if isinstance(outcome, tuple) else (work, outcome)
        if change is None:
            return current
        # Credit only the rules the check reported for this model.
        change.codes = tuple(c for c in change.codes if c in present)
        report.changes.append(change)
        _keep_snapshot(report, change.fix, result)
        return result

    # Shapes the file leaves out (graph outputs without one) make the
    # checker and onnx-simplifier refuse the model; infer them first.
    proto = _infer(proto)
    target = _target_opset(proto, engine)
    if engine is not None:
        flagged = {
            n for f in before.findings if f.code in ("CC200", "CC201") for n in f.nodes
        }
        proto = attempt(passes.decompose, proto, model, engine, flagged, target)
    if target is not None:
        proto = attempt(passes.convert_opset, proto, target)
    if engine is not None and "CC400" in present and engine.io_dtypes is not None:
        names = {n for f in before.findings if f.code == "CC400" for n in f.nodes}
        allowed = engine.io_dtypes.value if engine.io_dtypes.known else []
        opset = (
            engine.opset.value["max"] if engine.opset and engine.opset.known else None
        )
        proto = attempt(passes.cast_io, proto, allowed, names, opset)
    if "CC401" in present or options.input_shapes:
        proto = _fix_shapes(proto, plan, options, report, attempt)
    # Every fixed model is simplified: it cleans up after the other fixes
    # and may fold a flagged node away.
    simpler = attempt(passes.simplify, proto)
    _credit_simplify(report, before, proto, simpler)
    proto = simpler
    if options.quantize:
        proto = _quantize(proto, plan, options, report, attempt)
    return _infer(proto)


def _credit_simplify(report: FixReport, before: PlatformResult, was, now) -> None:
    """Simplify resolves CC200/CC203 only where it folded a flagged node away."""
    from compatcheck.fix.passes import all_nodes

    change = next((c for c in report.changes if c.fix == "simplify"), None)
    if change is None:
        return
    had = {node.name for node in all_nodes(was.graph)}
    left = had & {node.name for node in all_nodes(now.graph)}
    # A node inside a subgraph is shown as "If_0 > then_branch > name".
    change.codes = tuple(
        code
        for code in change.codes
        if any(
            path.rsplit(" > ", 1)[-1] in had - left
            for f in before.findings
            if f.code == code
            for path in f.nodes
        )
    )


# Snapshots are kept while they hold less than this in all.
SNAPSHOT_BYTES = 256 * 1024 * 1024


def _keep_snapshot(report: FixReport, fix: str, proto) -> None:
    if report.snapshots is None:
        return
    held = sum(len(data) for _, data in report.snapshots)
    if held + proto.ByteSize() <= SNAPSHOT_BYTES:
        report.snapshots.append((fix, proto.SerializeToString()))
    else:
        report.snapshots = None  # incomplete: no culprit can be named


def _fix_shapes(proto, plan, options, report, attempt):
    from compatcheck.fix import passes

    shapes = {
        t.name: t.feed_shape
        for t in plan.contract.inputs
        if t.feed_shape is not None and (t.filled or t.name in options.input_shapes)
    }
    dims = plan.contract.dim_values
    proto = attempt(passes.fix_input_shapes, proto, shapes, dims)
    open_inputs = [t.name for t in plan.contract.inputs if t.feed_shape is None]
    if open_inputs:
        report.refused.append(
            "fix-input-shape: no size is known for some dimensions of "
            f"{', '.join(open_inputs)}; give --input-shape NAME=DIMS"
        )
    return proto


def _target_opset(proto, engine) -> int | None:
    from compatcheck.fix.passes import main_opset

    if engine is None or engine.opset is None or not engine.opset.known:
        return None
    low, high = engine.opset.value["min"], engine.opset.value["max"]
    current = main_opset(proto)
    if current == 0:  # no ai.onnx operators (an ONNX-ML-only model)
        return None
    if current > high:
        return high
    if current < low:
        return low
    return None


def _quantize(proto, plan, options, report, attempt):
    from compatcheck.fix import precision

    if options.quantize == "float16":
        return attempt(precision.to_float16, proto)
    try:
        calibration = _feeds(plan, options, count=8)
    except CannotVerify as exc:  # nothing to calibrate on: leave the model
        report.refused.append(f"int8-qdq: no calibration inputs ({exc})")
        return proto
    return attempt(precision.to_int8_qdq, proto, calibration)


def _infer(proto):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(proto)
    except Exception:  # inference is a help, not a requirement
        return proto


def _feeds(plan, options: FixOptions, count: int = 1) -> list[dict]:
    from compatcheck.fix.verify import load_inputs, random_inputs

    if options.inputs_file:
        return [load_inputs(options.inputs_file)]
    return random_inputs(plan.contract.inputs, options.seed, count)


def _write_and_verify(proto, path, plan, options, target, report) -> None:
    """Temporary file, check again, compare with the original, then replace."""
    data = proto.SerializeToString() if proto.ByteSize() < MAX_PROTO_BYTES else None
    if data is None:
        report.not_written = "the fixed model is 2 GiB or more; protobuf cannot hold it"
        return
    # Beside the target, so the move is one step; a pipe or a device is
    # written into, and its folder need not take files.
    folder = None
    if target and not is_special(target):
        folder = os.path.dirname(os.path.realpath(target))
    try:
        handle, temporary = tempfile.mkstemp(
            dir=folder, prefix=".compatcheck-fix-", suffix=".onnx"
        )
    except OSError as exc:
        raise UserError(
            target or folder or "the temporary folder",
            (f"cannot write the fixed model ({exc.strerror})"),
        ) from None
    try:
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
        except OSError as exc:
            raise UserError(
                target or "the temporary folder",
                f"cannot write the fixed model ({exc.strerror})",
            ) from None
        report.size_after = len(data)
        platform = report.platform_given or report.platform
        report.after = _check(temporary, platform, _recheck(options))[2]
        _verify(path, temporary, plan, options, report)
        # The temporary name means nothing once the file is gone.
        report.verify_problem = report.verify_problem.replace(
            temporary, "the fixed model"
        )
        report.breaking_reason = report.breaking_reason.replace(
            temporary, "the fixed model"
        )
        if target is None:
            report.not_written = "dry run (--diff): nothing written"
        elif report.verified or options.force:
            try:
                replace(temporary, target)
            except OSError as exc:
                raise UserError(
                    target, f"cannot write the fixed model ({exc.strerror})"
                ) from None
            report.written = target
            temporary = None
        else:
            failed = "could not run" if report.verify_problem else "failed"
            report.not_written = (
                f"verification {failed}; nothing written (--force writes anyway)"
            )
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _recheck(options: FixOptions) -> FixOptions:
    """Check the fixed model as the original was, without shapes it now fixes."""
    return FixOptions(engine=options.engine, check=options.check)


def _verify(path, temporary, plan, options, report) -> None:
    from compatcheck.fix.verify import compare, float16_overflows

    tolerance = options.tolerance
    if tolerance is None:
        tolerance = TOLERANCES[options.quantize or "safe"]
    try:
        feeds = _feeds(plan, options)[0]
        report.diffs = compare(path, temporary, feeds, tolerance)
        if options.quantize == "float16":
            report.overflows = float16_overflows(path, feeds)
    except CannotVerify as exc:
        report.verify_problem = str(exc)
        if exc.fixed_model:
            # The original ran on the same inputs, so a change broke it.
            report.verify_problem += f" ({_culprit(report, feeds)})"
            if report.breaking:
                report.breaking_reason = str(exc)
        elif not options.inputs_file and "cannot run the original" in str(exc):
            report.verify_problem += (
                " (the inputs were seeded random values: give real ones with "
                "--inputs, and check any --input-shape sizes)"
            )


def _culprit(report: FixReport, feeds: dict) -> str:
    """Which change made the model one onnxruntime refuses, when it can tell."""
    from compatcheck.fix.verify import runs

    for fix, data in report.snapshots or ():
        if not runs(data, feeds):
            report.breaking = fix
            return f"the original runs; it stops running after {fix}"
    fixes = ", ".join(dict.fromkeys(c.fix for c in report.changes))
    return f"the original runs; applied: {fixes}"


def explain_tflite(result: PlatformResult) -> list[str]:
    """What to do with a TFLite model, from its findings; nothing is rewritten."""
    lines = []
    codes = {f.code for f in result.findings}
    route = result.route
    if route is not None and route.converters:
        tools = " + ".join(route.converters)
        lines.append(
            f"on {result.platform} the model goes through {tools}: "
            + "; then ".join(route.commands)
        )
        if route.engine == "wx-inference":
            lines.append(
                "convert it to ONNX with that command, then run compatcheck fix on "
                "the .onnx file to fix what remains"
            )
    if codes & {"CC202", "CC210"}:
        lines.append(
            "reconvert from TensorFlow with built-in operators only: "
            "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] "
            "(and no SELECT_TF_OPS), so no Flex or custom operator remains"
        )
    if "CC100" in codes:
        lines.append(
            "no engine of this platform loads the model; run it on a server instead"
        )
    if not lines:
        lines.append("nothing to do: no finding calls for a change")
    return lines
