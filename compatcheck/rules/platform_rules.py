"""Rules about the host platform: which engine can take the model, and sizes."""

from __future__ import annotations

import os

from compatcheck.findings import Severity
from compatcheck.profiles.model import Fact
from compatcheck.rules.base import Context, rule

_FORMAT_NAMES = {"onnx": "ONNX", "tflite": "TFLite"}


@rule("CC100", "format-not-accepted", Severity.ERROR, "platform")
def format_not_accepted(ctx: Context):
    """
    What it checks:
        Whether any inference engine on the platform loads the model's format
        (ONNX or TFLite) directly.

    Why it breaks:
        Only WeChat has a native ONNX engine (wx.createInferenceSession). The
        other hosts run models through WebGL engines (TensorFlow.js,
        Paddle.js) or a vendor engine (ByteNN), each with a format of its
        own, and no host loads TFLite files.

    Example:
        ``model.onnx`` on Alipay fails: its engines take TensorFlow.js or
        Paddle.js models. The same model on WeChat passes this check.

    Fix:
        Convert the model to a format an engine on the platform loads; the
        finding lists each engine with the conversion its profile records.

    Limitations:
        Conversions are listed, not checked: whether every operator survives
        the conversion is not judged by this rule.
    """
    model_format = ctx.model.format
    if any(e.accepts(model_format) for e in ctx.profile.engines):
        return
    name = _FORMAT_NAMES.get(model_format, model_format)
    if not ctx.profile.engines:
        yield format_not_accepted.finding(
            f"no inference engine is known on {ctx.profile.title}; nothing "
            f"shows that a {name} model can run there",
            "run the model on a server and call it over HTTPS, or check the "
            "platform's current documentation and add an engine to a custom "
            "profile",
        )
        return
    routes = []
    for engine in ctx.profile.engines:
        ctx.rely(engine.formats)
        formats = engine.formats.value if engine.formats.known else ["unknown"]
        conversion = engine.convert_from.get(model_format)
        how = f"convert: {conversion.value}" if conversion else "no known conversion"
        routes.append(f"{engine.title} loads {', '.join(formats)} ({how})")
    yield format_not_accepted.finding(
        f"no engine on {ctx.profile.title} loads {name} models directly",
        "; ".join(routes),
    )


def _limit(ctx: Context, key: str) -> Fact:
    fact = ctx.profile.limits[key]
    ctx.rely(fact)
    return fact


def _mb(size: int) -> str:
    return f"{size / 1048576:.2f} MB ({size} bytes)"


@rule("CC500", "package-size", Severity.WARNING, "platform")
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
        reduce the room left for it.
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
    extension = os.path.splitext(ctx.model.path)[1].lstrip(".").lower()
    if types.known and extension not in types.value:
        reasons.append(f"'.{extension}' files are not on the package upload whitelist")
    if reasons:
        yield package_size.finding(
            "the model cannot ship inside a code package: " + "; ".join(reasons),
            "download the model at first use into the user data folder and cache "
            "it there instead of bundling it",
            fact=fact,
        )


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
