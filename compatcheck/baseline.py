"""Baselines: record today's findings so that a CI gate fails only on new ones.

A finding is matched by a fingerprint of what identifies it in the model,
not where its bytes are: the model's file name, the platform, the rule code,
the operator type and the node names. Re-exporting the same model keeps the
fingerprints; renaming a node or the file makes its findings new.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from compatcheck import __version__
from compatcheck.errors import UserError
from compatcheck.findings import Finding, PlatformResult
from compatcheck.output import write_text
from compatcheck.report import Report

BASELINE_VERSION = 1
# A baseline of a million findings is about 200 MB; anything larger is not one.
MAX_BASELINE_BYTES = 256 * 1024 * 1024


def fingerprint(result: PlatformResult, finding: Finding, base: str = ".") -> str:
    """A stable id for one finding of one model on one platform.

    The model is named by its path relative to ``base`` (the configuration's
    folder, or the working directory), so the same file keeps its
    fingerprints and another file with the same name does not share them.
    Findings that name nodes are told apart by them; others by their message
    with its numbers left out (sizes change when a model is saved again).
    """
    parts = [
        model_key(result.model, base),
        result.platform,
        finding.code,
        finding.op_type,
        *sorted(finding.nodes),
    ]
    if finding.key:
        parts.append(finding.key)
    elif not finding.nodes:
        # Whole-model findings differ by text; their numbers (sizes) change
        # when a model is saved again, so they are left out.
        parts.append(re.sub(r"\d[\d.,]*", "#", finding.message))
    text = "\0".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()[:32]


def model_key(path: str, base: str = ".") -> str:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return relative.replace(os.sep, "/")


def write(path: str, report: Report, base: str = ".") -> int:
    """Record every finding of the report in ``path``; return how many."""
    entries = [
        {
            "fingerprint": fingerprint(result, finding, base),
            "model": result.model,
            "platform": result.platform,
            "code": finding.code,
            "message": finding.message,
        }
        for result in report.results
        for finding in result.findings
    ]
    entries.sort(key=lambda e: (e["model"], e["platform"], e["code"], e["fingerprint"]))
    document = {
        "tool": "compatcheck",
        "version": __version__,
        "baseline_version": BASELINE_VERSION,
        "findings": entries,
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_text(text, path, "the baseline")
    return len(entries)


def read(path: str) -> set[str]:
    """The fingerprints recorded in a baseline file."""
    if not os.path.isfile(path):
        problem = (
            "baseline file not found"
            if not os.path.exists(path)
            else ("is not a regular file")
        )
        raise UserError(path, problem)
    if os.path.getsize(path) > MAX_BASELINE_BYTES:
        raise UserError(path, f"is larger than {MAX_BASELINE_BYTES} bytes")
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise UserError(path, "baseline file not found") from None
    except OSError as exc:
        raise UserError(path, f"cannot be read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(path, f"is not a baseline file ({exc})") from None
    except RecursionError:
        raise UserError(path, "is not a baseline file (nested too deeply)") from None
    entries = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries
    ):
        raise UserError(path, "is not a baseline file (no 'findings' list)")
    return {e["fingerprint"] for e in entries}


def apply(known: set[str], report: Report, base: str = ".") -> None:
    """Hide the findings the baseline knows; count them on each result."""
    for result in report.results:
        kept = [f for f in result.findings if fingerprint(result, f, base) not in known]
        result.baselined = len(result.findings) - len(kept)
        result.findings = kept
