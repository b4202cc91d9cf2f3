"""Rules about the host platform: which engine can take the model, and sizes."""

from __future__ import annotations

import os

from compatcheck.findings import Severity
from compatcheck.profiles.model import Fact
from compatcheck.rules.base import Context, rule

_FORMAT_NAMES = {"onnx": "ONNX", "tflite": "TFLite"}


@rule("CC100", "no-route", Severity.ERROR, "platform")
def no_route(ctx: Context):
    """
    What it checks:
        Whether any route reaches an engine of the platform: the engine
        loads the model's format (ONNX or TFLite) as it is, or a chain of
        known conversion tools (tf2onnx, onnx2tf, X2Paddle ...) turns the
        model into a format it loads.

    Why it breaks:
        Only WeChat has a native ONNX engine. The other hosts run models
        through WebGL engines (TensorFlow.js, Paddle.js) or a vendor engine
        (ByteNN), each with a format of its own; where no tool produces that
        format, or the host has no engine at all, the model cannot run there.

    Example:
        Any model on QQ fails: no inference engine is known there. An ONNX
        model on Alipay does not fail this check: onnx2tf and
        tensorflowjs_converter carry it to TensorFlow.js.

    Fix:
        Run the model on a server and call it over HTTPS, or, if the platform
        has an engine the profile does not know, describe it in a custom
        profile.

    Limitations:
        Only the conversion tools shipped in ``platform_profiles/converters``
        are considered; routes of more than three conversions are not.
    """
    if ctx.routes:
        return
    name = _FORMAT_NAMES.get(ctx.model.format, ctx.model.format)
    if not ctx.profile.engines:
        yield no_route.finding(
            f"no inference engine is known on {ctx.profile.title}; nothing "
            f"shows that an {name} model can run there"
            if name[0] in "AEIOU"
            else f"no inference engine is known on {ctx.profile.title}; nothing "
            f"shows that a {name} model can run there",
            "run the model on a server and call it over HTTPS, or check the "
            "platform's current documentation and add an engine to a custom "
            "profile",
        )
        return
    if ctx.options.engine is not None:
        yield no_route.finding(
            f"no route reaches engine {ctx.options.engine!r} on {ctx.profile.title}",
            "leave out --engine to let compatcheck pick the route, or name one "
            "of: " + ", ".join(e.id for e in ctx.profile.engines),
        )
        return
    engines = []
    for engine in ctx.profile.engines:
        ctx.rely(engine.formats)
        formats = engine.formats.value if engine.formats.known else ["unknown"]
        engines.append(f"{engine.title} loads {', '.join(formats)}")
    yield no_route.finding(
        f"no engine on {ctx.profile.title} loads {name} models, and no known "
        f"conversion reaches one: {'; '.join(engines)}",
        "run the model on a server and call it over HTTPS, or convert it with "
        "a tool that writes one of the formats above",
    )


def _limit(ctx: Context, key: str) -> Fact:
    fact = ctx.profile.limits[key]
    ctx.rely(fact)
    return fact


def _mb(size: int) -> str:
    return f"{size / 1048576:.2f} MB ({size} bytes)"


@rule("CC500", "package-size", Severity.WARNING, "engine")
def package_size(ctx: Context):
    """
    What it checks:
        Whether the model file can ship inside a code package: its size
        against the larger of the main-package and subpackage limits, and
        its extension against the package file-type whitelist.

    Why it breaks:
        Packages are small (2 MB on most hosts) and the upload keeps only
        whitelisted file types: WeChat drops ``.onnx`` files from the upload
        even though the inference API wants a ``.onnx`` path.

    Example:
        A 2.3 MB ``silero_vad.onnx`` cannot ship in a WeChat package; a
        240 KB model could, size-wise, but its extension is not kept.

    Fix:
        Download the model at first use into the user data folder
        (``wx.env.USER_DATA_PATH``) and cache it there; keep it out of the
        package.

    Limitations:
        The model is compared alone; code and assets that share the package
        reduce the room left for it. After a conversion, the file types are
        those of the converted format and the size is the original file's.
    """
    size = ctx.model.deploy_bytes
    main = _limit(ctx, "main_package_bytes")
    sub = _limit(ctx, "subpackage_bytes")
    types = _limit(ctx, "package_file_types")
    reasons = []
    fact = types
    limits = [f.value for f in (main, sub) if isinstance(f.value, int)]
    if limits and size > max(limits):
        reasons.append(f"{_mb(size)} is over the {_mb(max(limits))} package limit")
        fact = main
    if types.known:
        refused = [e for e in _shipped_extensions(ctx) if e not in types.value]
        if refused:
            kinds = ", ".join(f"'.{e}'" if e else "extensionless" for e in refused)
            steps = ctx.route.steps if ctx.route is not None else ()
            made = f" (what {steps[-1].id} writes)" if steps else ""
            reasons.append(
                f"{kinds} files{made} are not on the package upload whitelist"
            )
    if reasons:
        yield package_size.finding(
            "the model cannot ship inside a code package: " + "; ".join(reasons),
            "download the model at first use into the user data folder and cache "
            "it there instead of bundling it",
            fact=fact,
        )


def _shipped_extensions(ctx: Context) -> list[str]:
    """The file types the engine loads: the model's own, or the converted format's."""
    from compatcheck.plan.loading import FORMAT_FILES

    steps = ctx.route.steps if ctx.route is not None else ()
    if steps:
        return list(FORMAT_FILES.get(steps[-1].to_format, ()))
    return [os.path.splitext(ctx.model.path)[1].lstrip(".").lower()]


@rule("CC501", "storage-quota", Severity.WARNING, "platform")
def storage_quota(ctx: Context):
    """
    What it checks:
        The model's size against the platform's persistent storage: the
        quota for user and cache files and the largest single file.

    Why it breaks:
        A model larger than what the mini program may keep cannot be cached;
        it must be downloaded again at every launch (Alipay refuses files
        over 10 MB with error 10028; Douyin keeps 10 MB of user files).

    Example:
        A 15 MB model on Alipay fails this check; a 6 MB one passes.

    Fix:
        Shrink the model (float16 or int8 weights, a smaller architecture),
        split it into shards below the per-file cap, or run it on a server.

    Limitations:
        Other files the mini program keeps share the same quota.
    """
    size = ctx.model.deploy_bytes
    for key, what in (
        ("single_file_bytes", "largest file the mini program may keep"),
        ("user_files_bytes", "persistent user-file quota"),
    ):
        fact = _limit(ctx, key)
        if isinstance(fact.value, int) and size > fact.value:
            yield storage_quota.finding(
                f"the model ({_mb(size)}) is over the {what} ({_mb(fact.value)}); "
                "it cannot be cached and must be downloaded at every launch",
                "shrink the model (float16 or int8 weights, a smaller "
                "architecture) or serve it from a cloud function",
                fact=fact,
            )


@rule("CC502", "download-limit", Severity.ERROR, "platform")
def download_limit(ctx: Context):
    """
    What it checks:
        The model's size against the largest file one download call may
        fetch on the platform.

    Why it breaks:
        A model that is too large for a package (see CC500) can only arrive
        by download; if the download API refuses it too, the model cannot
        reach the phone at all.

    Example:
        A 250 MB model on WeChat (``wx.downloadFile`` takes 200 MB) fails;
        a 50 MB model passes.

    Fix:
        Shrink the model below the limit (quantize, prune, distil), or keep
        it on a server and send inputs over HTTPS.

    Limitations:
        Downloading shards and joining them on the phone could work around
        the limit but needs the space twice; it is not judged here.
    """
    size = ctx.model.deploy_bytes
    fact = _limit(ctx, "download_bytes")
    if isinstance(fact.value, int) and size > fact.value:
        yield download_limit.finding(
            f"the model ({_mb(size)}) is over the {_mb(fact.value)} download "
            "limit and over the package limit: it cannot reach the phone",
            "shrink the model below the download limit (quantize, prune, "
            "distil), or run it on a server",
            fact=fact,
        )
