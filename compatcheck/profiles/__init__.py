"""Platform profiles: find them, validate them, turn them into typed views.

Shipped profiles live in ``platform_profiles/`` (inside the installed
package, or at the top of a source checkout). A profile may also be given as
a path to a YAML file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

from compatcheck.errors import ProfileError, UserError
from compatcheck.profiles.build import build_profile
from compatcheck.profiles.model import Engine, Fact, OpMapping, Profile
from compatcheck.profiles.validate import validate_profile

__all__ = [
    "Engine", "Fact", "OpMapping", "Profile", "available_platforms",
    "load_profile", "profile_dir", "resolve_platforms",
]

# Every YAML alias expansion costs memory; a real profile needs a few dozen.
MAX_YAML_ALIASES = 500


def profile_dir() -> Path:
    """The folder holding the shipped profiles."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "platform_profiles"
    if installed.is_dir():
        return installed
    return package.parent / "platform_profiles"


@lru_cache(maxsize=None)
def available_platforms() -> dict[str, Path]:
    """Platform name or alias -> profile file, for every shipped profile."""
    found: dict[str, Path] = {}
    for path in sorted(profile_dir().glob("*.yaml")):
        data = _read_yaml(path)
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


@lru_cache(maxsize=None)
def _load_path(path: str) -> Profile:
    data = _read_yaml(Path(path))
    validate_profile(path, data)
    return build_profile(path, data)


def _locate(name_or_path: str) -> Path:
    if name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path:
        path = Path(name_or_path)
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


class _BoundedLoader(yaml.SafeLoader):
    """Safe loader that refuses documents with too many alias expansions."""

    aliases_seen = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen += 1
            if self.aliases_seen > MAX_YAML_ALIASES:
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} aliases; refusing to expand them"
                )
        return super().compose_node(parent, index)


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(str(path), "is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(str(path), f"invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ProfileError(str(path), "must be a YAML mapping with platform facts")
    return data
