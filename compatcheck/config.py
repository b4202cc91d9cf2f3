"""Project configuration and the policy it sets on findings.

Configuration lives in ``compatcheck.yaml`` or in ``[tool.compatcheck]`` of
``pyproject.toml``; the first folder, walking up from the working directory,
that holds either one wins (``compatcheck.yaml`` first). Command-line flags
override it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from compatcheck.errors import UserError
from compatcheck.findings import Finding, Severity

CONFIG_NAMES = ("compatcheck.yaml", "pyproject.toml")

# Every key a configuration may hold, with what it means; anything else is
# refused by name.
KEYS = {
    "platforms": "platform names or profile .yaml files (relative to the file)",
    "select": "rule codes or code prefixes to report (default: all)",
    "ignore": "rule codes or code prefixes never to report",
    "severity": "rule code or prefix -> error, warning or info",
    "per-path-ignores": "model path glob -> codes or prefixes ignored there",
    "fail-on": "error (default) or warning: the lowest severity that fails",
    "engine": "only routes to this engine (as --engine)",
    "backend": "the backend the session asks for (as --backend)",
}
FAIL_ON = ("error", "warning")


class ConfigError(UserError):
    """A configuration file that cannot be used (exit code 2)."""


@dataclass
class Config:
    """The settings found in a configuration file (empty when there is none)."""

    path: str | None = None
    platforms: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)
    fail_on: str = "error"
    engine: str | None = None
    backend: str | None = None

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else "."


def discover(start: str | None = None) -> Config:
    """The configuration of the nearest folder at or above ``start`` that has one."""
    folder = Path(start or os.getcwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name in CONFIG_NAMES:
            path = candidate / name
            if not path.is_file():
                continue
            data = _read(str(path))
            if data is not None:
                return parse(str(path), data)
    return Config()


def load(path: str) -> Config:
    """The configuration in ``path`` (given with --config)."""
    if os.path.isdir(path):
        raise ConfigError(path, "is a folder; give compatcheck.yaml or pyproject.toml")
    if not os.path.exists(path):
        raise ConfigError(path, "configuration file not found")
    if not os.path.isfile(path):
        raise ConfigError(path, "is not a regular file")
    data = _read(path)
    if data is None:
        raise ConfigError(path, "has no [tool.compatcheck] table")
    return parse(path, data)


def _read(path: str) -> dict | None:
    """The raw settings, or None for a pyproject.toml without our table."""
    try:
        if path.endswith(".toml"):
            return _read_toml(path)
        from compatcheck.profiles import _read_yaml  # bounded, safe YAML

        return _read_yaml(path)
    except UserError as exc:
        problem = exc.problem
        if "must be a YAML mapping" in problem:
            problem = "must be a YAML mapping of settings (key: value)"
        raise ConfigError(path, problem) from None


def _read_toml(path: str) -> dict | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            # A byte-order mark is not TOML, but editors write one.
            text = handle.read().decode("utf-8-sig")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(path, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(path, "is nested too deeply to read") from None
    tool = data.get("tool")
    if not isinstance(tool, dict):
        return None
    table = tool.get("compatcheck")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(path, "[tool.compatcheck] must be a table")
    return table


def parse(path: str, data: dict) -> Config:
    """Check every key and value; name the key in any complaint."""
    where = "[tool.compatcheck]" if path.endswith(".toml") else "(top level)"
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            path,
            f"{where}: unknown key {unknown[0]!r}; expected one of: "
            + ", ".join(sorted(KEYS)),
        )
    config = Config(path=path)
    config.platforms = _strings(path, data, "platforms")
    config.select = codes(_strings(path, data, "select"), f"{path}: select")
    config.ignore = codes(_strings(path, data, "ignore"), f"{path}: ignore")
    config.severity = {
        codes([str(code)], f"{path}: severity")[0]: _severity(path, code, level)
        for code, level in _mapping(path, data, "severity").items()
    }
    config.per_path_ignores = {
        str(pattern): codes(
            _strings(path, {"codes": listed}, "codes", f"per-path-ignores.{pattern}"),
            f"{path}: per-path-ignores.{pattern}",
        )
        for pattern, listed in _mapping(path, data, "per-path-ignores").items()
    }
    fail_on = data.get("fail-on", "error")
    if fail_on not in FAIL_ON:
        raise ConfigError(path, f"fail-on: got {fail_on!r}; expected error or warning")
    config.fail_on = fail_on
    for key in ("engine", "backend"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(path, f"{key}: expected a string")
        setattr(config, key, value)
    return config


def codes(given: list[str], where: str) -> list[str]:
    """Rule codes or prefixes, upper-cased; one that names no rule is refused."""
    from compatcheck.rules import all_rules

    known = [rule.code for rule in all_rules()]
    result = []
    for code in given:
        code = code.strip().upper()
        if not code or not any(k.startswith(code) for k in known):
            shown = repr(code) if code else "'' (an empty code)"
            raise UserError(
                where,
                f"{shown} is not a rule code or a prefix of one "
                "(see 'compatcheck rules')",
            )
        result.append(code)
    return result


def _strings(path: str, data: dict, key: str, shown: str | None = None) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, f"{shown or key}: expected a list of strings")
    return list(value)


def _mapping(path: str, data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(path, f"{key}: expected a table of key = value")
    return value


def _severity(path: str, code: str, level) -> Severity:
    try:
        return Severity(level)
    except ValueError:
        raise ConfigError(
            path, f"severity.{code}: got {level!r}; expected error, warning or info"
        ) from None


@dataclass
class Policy:
    """Which findings are reported, and at which severity."""

    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)
    base: str = "."

    def apply(self, finding: Finding, model_path: str) -> Finding | None:
        """The finding as reported, or None when the policy hides it."""
        code = finding.code
        if self.select and not _matches(code, self.select):
            return None
        if _matches(code, self.ignore) or _matches(code, self._ignored_at(model_path)):
            return None
        level = _most_specific(code, self.severity)
        if level is not None and level is not finding.severity:
            return dataclasses.replace(finding, severity=level)
        return finding

    def _ignored_at(self, model_path: str) -> list[str]:
        """Codes ignored for this model: patterns are relative to the
        configuration's folder (absolute patterns match absolute paths), and
        never match a model outside that folder."""
        absolute = os.path.abspath(model_path)
        relative = os.path.relpath(absolute, os.path.abspath(self.base))
        relative = relative.replace(os.sep, "/")
        inside = not relative.startswith("../")
        ignored: list[str] = []
        for pattern, listed in self.per_path_ignores.items():
            if os.path.isabs(pattern):
                hit = fnmatch.fnmatch(absolute, pattern)
            else:
                hit = inside and fnmatch.fnmatch(relative, pattern.removeprefix("./"))
            if hit:
                ignored += listed
        return ignored


def _matches(code: str, prefixes: list[str]) -> bool:
    return any(code.startswith(prefix) for prefix in prefixes)


def _most_specific(code: str, table: dict[str, Severity]) -> Severity | None:
    best = max((p for p in table if code.startswith(p)), key=len, default=None)
    return table[best] if best is not None else None
