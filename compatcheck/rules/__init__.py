"""The rule registry. Importing this package registers every rule once."""

from compatcheck.rules import (
    conversion,
    deployment,
    model_rules,
    operators,
    platform_rules,
    tensors,
    webgl,
)
from compatcheck.rules.base import REGISTRY, Context, Options, Rule

__all__ = ["REGISTRY", "Context", "Options", "Rule", "all_rules"]

# Each module registers its rules when imported; naming them here is what
# imports them, and keeps the list of rule modules in one place.
_MODULES = (
    model_rules,
    platform_rules,
    operators,
    conversion,
    tensors,
    webgl,
    deployment,
)


def all_rules() -> list[Rule]:
    """Every rule, ordered by code."""
    return [REGISTRY[code] for code in sorted(REGISTRY)]
