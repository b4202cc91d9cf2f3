"""Each rule documents itself in fixed sections; the registry is consistent."""

from __future__ import annotations

import re

import pytest

from compatcheck.findings import Severity
from compatcheck.rules import REGISTRY, all_rules
from compatcheck.rules.base import DOC_SECTIONS, rule


@pytest.mark.parametrize("declared", all_rules(), ids=lambda r: r.code)
def test_rule_doc_has_every_section(declared):
    sections = declared.sections()
    for title in DOC_SECTIONS:
        assert sections.get(title), f"{declared.code} lacks '{title}'"


@pytest.mark.parametrize("declared", all_rules(), ids=lambda r: r.code)
def test_rule_declaration(declared):
    assert re.fullmatch(r"CC\d{3}", declared.code)
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", declared.name)
    assert declared.scope in ("platform", "engine")
    assert isinstance(declared.severity, Severity)


def test_duplicate_codes_are_refused():
    with pytest.raises(ValueError, match="registered twice"):
        rule("CC200", "another-name", Severity.ERROR, "engine")(lambda ctx: [])
    assert REGISTRY["CC200"].name == "unsupported-operator"
