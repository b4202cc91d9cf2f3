"""The hot-update manifest: what a server hosts next to the model files.

A mini program fetches the manifest at start, compares ``version`` and
``sha256`` with what it cached, and downloads the files only when they
changed. The shape of the document is ``manifest.schema.json`` beside this
module; ``compatcheck manifest`` validates every manifest against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import resources

from compatcheck import __version__
from compatcheck.errors import UserError
from compatcheck.findings import PlatformResult, Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.plan import ModelPlan, PlatformPlan
from compatcheck.plan.cost import compressed_sizes

MANIFEST_VERSION = 1
# A version becomes part of a file name on the phone (model-<version>.onnx).
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HASH_CHUNK = 1024 * 1024


def schema() -> dict:
    """The JSON schema every manifest follows."""
    text = resources.files("compatcheck.plan").joinpath("manifest.schema.json")
    return json.loads(text.read_text(encoding="utf-8"))


def build_manifest(
    model: ModelGraph,
    plan: ModelPlan,
    result: PlatformResult,
    platform_plan: PlatformPlan,
    version: str,
    files: list[str],
    url: str | None,
) -> dict:
    """The manifest document for ``files``, the files the phone downloads."""
    entries = [_file_entry(path) for path in files]
    gz, br, exact = compressed_sizes(files)
    transfer = {"gzip": gz}
    if "brotli" in platform_plan.loading.transfer:
        transfer["brotli"] = br
    route = result.route
    return {
        "manifest_version": MANIFEST_VERSION,
        "generator": f"compatcheck {__version__}",
        "version": version,
        "url": url,
        "platform": result.platform,
        "model": {"source": os.path.basename(model.path), "format": model.format},
        "sha256": entries[0]["sha256"],
        "bytes": entries[0]["bytes"],
        "files": entries,
        "transfer_bytes": transfer,
        "transfer_bytes_exact": exact,
        "engine": {
            "id": platform_plan.engine,
            "title": platform_plan.engine_title,
            "format": platform_plan.engine_format,
            "min_base_library": platform_plan.min_base_library,
            "options": platform_plan.options,
        },
        "route": {
            "converters": list(route.converters) if route else [],
            "commands": list(route.commands) if route else [],
        },
        "inputs": [t.to_dict() for t in plan.contract.inputs],
        "outputs": [
            {**t.to_dict(), "key": platform_plan.output_keys.get(t.name)}
            for t in plan.contract.outputs
        ],
        "verdict": {
            "result": result.verdict,
            "verified": not result.unverified,
            "errors": result.count(Severity.ERROR),
            "warnings": result.count(Severity.WARNING),
            "unverified_facts": list(result.unverified),
        },
    }


def _file_entry(path: str) -> dict:
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise UserError(path, f"cannot be read ({exc.strerror})") from None
    name = os.path.basename(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system gave that are not UTF-8
        raise UserError(
            path, "has a name that is not UTF-8; rename it before publishing"
        ) from None
    return {"name": name, "bytes": size, "sha256": digest.hexdigest()}


def validate(document: dict) -> list[str]:
    """Schema violations of ``document``, each with its key path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
