"""Platform profiles: find them, validate them, turn them into typed views.

Shipped profiles live in ``platform_profiles/`` (inside the installed
package, or at the top of a source checkout). A profile may also be given as
a path to a YAML file.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import yaml

from compatcheck.errors import ProfileError, UserError
from compatcheck.profiles.build import build_profile
from compatcheck.profiles.model import Engine, Fact, OpMapping, Profile
from compatcheck.profiles.validate import validate_profile

__all__ = [
    "Engine",
    "Fact",
    "OpMapping",
    "Profile",
    "available_platforms",
    "load_profile",
    "profile_dir",
    "resolve_platforms",
]

# YAML aliases let a small file describe a huge tree ("billion laughs"); a
# real profile expands to a few thousand values.
MAX_YAML_VALUES = 200_000
# libyaml's safe loader when PyYAML was built with it (it is much faster),
# the pure-Python safe loader otherwise. Both build plain data only.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def profile_dir() -> Path:
    """The folder holding the shipped profiles."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "platform_profiles"
    if installed.is_dir():
        return installed
    return package.parent / "platform_profiles"


@cache
def available_platforms() -> dict[str, Path]:
    """Platform name or alias -> profile file, for every shipped profile."""
    found: dict[str, Path] = {}
    for path in sorted(profile_dir().glob("*.yaml")):
        data = _read_yaml(str(path))
        names = [data.get("platform", path.stem), *data.get("aliases", [])]
        for name in names:
            found[str(name)] = path
    return found


def platform_names() -> list[str]:
    """Primary names of the shipped platforms (no aliases)."""
    return sorted({path.stem for path in available_platforms().values()})


def resolve_platforms(requested: list[str]) -> list[str]:
    """Expand ``all`` and commas; keep order; refuse unknown names."""
    names: list[str] = []
    for item in requested:
        for name in (part.strip().lower() for part in item.split(",")):
            if not name:
                continue
            expanded = platform_names() if name == "all" else [name]
            names.extend(n for n in expanded if n not in names)
    return names


def load_profile(name_or_path: str) -> Profile:
    """Load, validate and build a shipped platform or a profile file."""
    path = _locate(name_or_path)
    return _load_path(str(path))


@cache
def _load_path(path: str) -> Profile:
    data = _read_yaml(path)
    validate_profile(path, data)
    return build_profile(path, data)


def _locate(name_or_path: str) -> Path:
    if name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path:
        path = Path(name_or_path)
        if path.is_dir():
            raise ProfileError(name_or_path, "is a folder; give a profile .yaml file")
        if not path.is_file():
            raise ProfileError(name_or_path, "profile file not found")
        return path
    platforms = available_platforms()
    key = name_or_path.lower()
    if key not in platforms:
        known = ", ".join(platform_names())
        raise UserError(
            f"--platform {name_or_path}",
            f"unknown platform; choose from {known}, or all",
        )
    return platforms[key]


def _expanded_size(node, memo: dict[int, int], depth: int = 0) -> int:
    """How many values ``node`` has once every alias is expanded."""
    if depth > 100:
        raise yaml.YAMLError("nested more than 100 levels deep")
    if not isinstance(node, (dict, list)):
        return 1
    key = id(node)
    if key not in memo:
        children = node.values() if isinstance(node, dict) else node
        memo[key] = 1 + sum(_expanded_size(c, memo, depth + 1) for c in children)
    return memo[key]


@cache
def _read_yaml(path: str) -> dict:
    """Parse a profile file once per process; the result must not be modified."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(path, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(path, "is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
        if _expanded_size(data, {}) > MAX_YAML_VALUES:
            raise yaml.YAMLError(
                f"expands to more than {MAX_YAML_VALUES} values through aliases; "
                "refusing to expand it"
            )
    except RecursionError:
        raise ProfileError(path, "is nested too deeply to be a profile") from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(path, f"invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ProfileError(path, "must be a YAML mapping with platform facts")
    return data
