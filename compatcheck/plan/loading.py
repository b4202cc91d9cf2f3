"""Where the model should live on a platform, and when to load it."""

from __future__ import annotations

from dataclasses import dataclass, field

from compatcheck.profiles.model import Fact, Profile

# Files each engine format consists of, by extension.
FORMAT_FILES = {
    "onnx": ("onnx",),
    "tflite": ("tflite",),
    "tfjs-graph-model": ("json", "bin"),
    "tfjs-layers-model": ("json", "bin"),
    "paddlejs": ("json", "dat"),
}
MB = 1048576

WHEN = (
    "load on demand: create the session when the page that uses it loads, "
    "never in the app's launch handler, keep one session for the page and "
    "destroy it when the page unloads"
)


@dataclass
class LoadingPlan:
    """Where the model goes (``main-package``, ``subpackage``, ``download``)."""

    where: str
    steps: list[str]
    model_bytes: int
    estimated: bool
    unverified: list[str] = field(default_factory=list)
    when: str = WHEN
    # Bytes on the wire: gzip over HTTPS, brotli where the package keeps .br.
    transfer: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "where": self.where,
            "steps": list(self.steps),
            "transfer_bytes": dict(self.transfer),
            "when": self.when,
            "model_bytes": self.model_bytes,
            "model_bytes_estimated": self.estimated,
            "unverified_facts": list(self.unverified),
        }


def loading_plan(
    profile: Profile,
    engine_format: str,
    model_bytes: int,
    estimated: bool,
    ratios: dict[str, float],
) -> LoadingPlan:
    """Package or download, given the limits, whitelist and quotas of ``profile``.

    ``ratios`` holds the compressed-to-plain size ratio of the model file
    for gzip and brotli; they scale ``model_bytes`` to bytes on the wire.
    """
    plan = _where(profile, engine_format, model_bytes, estimated)
    plan.transfer = {"gzip": round(model_bytes * ratios["gzip"])}
    types = profile.limits["package_file_types"]
    if types.known and "br" in types.value:
        plan.transfer["brotli"] = round(model_bytes * ratios["brotli"])
    return plan


def _where(
    profile: Profile, engine_format: str, model_bytes: int, estimated: bool
) -> LoadingPlan:
    limits = profile.limits
    files = FORMAT_FILES.get(engine_format, ())
    unverified: list[str] = []
    packable, why = _packable(limits["package_file_types"], files, unverified)
    sub = limits["subpackage_bytes"]
    size = ("about " if estimated else "") + _mb(model_bytes)
    if packable and sub.known and model_bytes <= sub.value:
        _note(sub, unverified)
        steps = [
            f"ship the model ({size}) in a subpackage of its own, not the main "
            f"package (limit {_mb(sub.value)} per package): {why}",
            "leave room in that subpackage for the code that loads it",
        ]
        return LoadingPlan("subpackage", steps, model_bytes, estimated, unverified)
    steps = [_why_download(packable, why, sub, model_bytes, size)]
    steps += _download_steps(profile, model_bytes, engine_format, unverified)
    return LoadingPlan("download", steps, model_bytes, estimated, unverified)


def _packable(
    types: Fact, files: tuple[str, ...], unverified: list[str]
) -> tuple[bool, str]:
    if not files:
        return False, "the engine's file types are unknown"
    listed = ", ".join(f".{ext}" for ext in files)
    if not types.known:
        unverified.append(types.path)
        return False, f"whether the package upload keeps {listed} is unknown"
    _note(types, unverified)
    missing = [ext for ext in files if ext not in types.value]
    if missing:
        shown = ", ".join(f".{ext}" for ext in missing)
        return False, f"{shown} is not on the package upload whitelist"
    return True, f"{listed} is on the package upload whitelist"


def _why_download(packable: bool, why: str, sub: Fact, size: int, shown: str) -> str:
    if not packable:
        return f"download the model ({shown}) at run time: {why}"
    if not sub.known:
        return f"download the model ({shown}) at run time: the package limit is unknown"
    return (
        f"download the model ({shown}) at run time: it is larger than the "
        f"{_mb(sub.value)} package limit"
    )


def _download_steps(
    profile: Profile, size: int, engine_format: str, unverified: list[str]
) -> list[str]:
    limits = profile.limits
    call = (
        f"{profile.api_namespace}.downloadFile"
        if profile.api_namespace
        else "the host's downloadFile API"
    )
    files = FORMAT_FILES.get(engine_format, ("bin",))
    target = (
        f"model-<version>/ (the .{files[0]} file)"
        if len(files) == 1
        else f"model-<version>/ (model.{files[0]} and its .{files[1]} files)"
    )
    steps = [
        f"host it over HTTPS and fetch it with {call} into the user "
        f"data folder as {target}; fetch again only when the "
        "manifest's version changes (compatcheck manifest), and delete the "
        "previous version",
    ]
    for key, what in (
        ("download_bytes", "one download"),
        ("single_file_bytes", "one saved file"),
        ("user_files_bytes", "the user data quota"),
    ):
        steps.append(_limit_line(limits[key], size, what, unverified))
    return steps


def _limit_line(fact: Fact, size: int, what: str, unverified: list[str]) -> str:
    if not fact.known:
        unverified.append(fact.path)
        return f"{what}: limit unknown ({fact.path}), so fit is unverified"
    _note(fact, unverified)
    if fact.value == "none":
        return f"{what}: no limit"
    verdict = "fits" if size <= fact.value else "does NOT fit"
    return f"{what}: {verdict} ({_mb(size)} of {_mb(fact.value)})"


def _note(fact: Fact, unverified: list[str]) -> None:
    if not fact.verified:
        unverified.append(fact.path)


def _mb(size: int) -> str:
    return f"{size / MB:.2f} MB"
