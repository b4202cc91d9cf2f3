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
    """Expand ``all``, commas and aliases; keep order; each platform once.

    Names are case-insensitive; profile file paths are kept as written.
    """
    names: list[str] = []
    seen: set[str] = set()
    for item in requested:
        parts = [item] if os.path.isfile(item) else item.split(",")
        for part in (p.strip() for p in parts):
            if not part:
                continue
            if _is_path(part):
                expanded = [part]
            elif part.lower() == "all":
                expanded = platform_names()
            else:
                expanded = [_primary(part.lower())]
            for name in expanded:
                key = os.path.realpath(name) if _is_path(name) else name
                if key not in seen:
                    seen.add(key)
                    names.append(name)
    return names


def _is_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text


def _primary(name: str) -> str:
    """The platform's own name for an alias (weixin -> wechat)."""
    path = available_platforms().get(name)
    return path.stem if path is not None else name


def load_profile(name_or_path: str) -> Profile:
    """Load, validate and build a shipped platform or a profile file."""
    path = _locate(name_or_path)
    return _load_path(str(path))


@cache
def _load_path(path: str) -> Profile:
    data = resolve_extends(path)
    validate_profile(path, data)
    return build_profile(path, data)


def resolve_extends(path: str, chain: tuple[str, ...] = ()) -> dict:
    """The profile at ``path`` merged over the profile it ``extends``.

    Merge rule: mappings merge key by key and the extending file wins;
    lists are replaced, except ``engines``, which merge by ``id`` (an entry
    with a known id merges into that engine, a new id is appended). A chain
    that comes back to a file is refused.
    """
    real = os.path.realpath(path)
    if real in chain:
        loop = " -> ".join(os.path.basename(p) for p in (*chain, real))
        raise ProfileError(path, f"extends itself through {loop}")
    data = _read_yaml(path)
    base_name = data.get("extends")
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name:
        raise ProfileError(path, "extends: expected a platform name or a .yaml path")
    if base_name.endswith((".yaml", ".yml")) or "/" in base_name:
        base_path = os.path.join(os.path.dirname(os.path.abspath(path)), base_name)
        if not os.path.isfile(base_path):
            raise ProfileError(path, f"extends: {base_name!r} is not a file")
    else:
        platforms = available_platforms()
        if base_name.lower() not in platforms:
            raise ProfileError(
                path,
                f"extends: {base_name!r} is not a shipped platform; use one of "
                + ", ".join(platform_names()),
            )
        base_path = str(platforms[base_name.lower()])
    base = resolve_extends(base_path, (*chain, real))
    child = {k: v for k, v in data.items() if k != "extends"}
    return _merge(base, child)


def _merge(base, child):
    if isinstance(base, dict) and isinstance(child, dict):
        merged = dict(base)
        for key, value in child.items():
            if key == "engines" and isinstance(value, list):
                merged[key] = _merge_engines(base.get(key, []), value)
            else:
                merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return child


def _merge_engines(base: list, child: list) -> list:
    merged = [dict(e) if isinstance(e, dict) else e for e in base]
    ids = {
        e["id"]: i
        for i, e in enumerate(merged)
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    for entry in child:
        key = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(key, str):  # the schema refuses it once merged
            merged.append(entry)
            continue
        if key in ids:
            merged[ids[key]] = _merge(merged[ids[key]], entry)
        else:
            merged.append(entry)
    return merged


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
