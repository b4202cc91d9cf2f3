"""JUnit XML: one test case per model and platform, failed when it fails."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from compatcheck.findings import PlatformResult, Severity
from compatcheck.report import Report

# Characters XML 1.0 does not allow, even escaped; names in models can hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name="compatcheck")
    cases = [_case(result) for result in report.results]
    cases += [_unreadable(error.path, error.message) for error in report.errors]
    suite.extend(cases)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    errors = sum(1 for case in cases if case.find("error") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="compatcheck")
    root.append(suite)
    ET.indent(root)
    for element in root.iter():
        if element.text:
            element.text = _xml_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, _xml_text(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(result: PlatformResult) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=f"compatcheck.{result.platform}",
        name=result.model,
        file=result.model,
    )
    lines = [_line(f) for f in result.findings if f.severity is Severity.ERROR]
    if lines:
        failure = ET.SubElement(
            case,
            "failure",
            message=f"{len(lines)} error(s) on {result.platform_title}",
            type="compatcheck",
        )
        failure.text = "\n".join(lines)
    route = result.route.chain if result.route else "no route"
    others = [_line(f) for f in result.findings if f.severity is not Severity.ERROR]
    ET.SubElement(case, "system-out").text = "\n".join([f"route: {route}", *others])
    return case


def _line(finding) -> str:
    nodes = f" (nodes: {', '.join(finding.nodes)})" if finding.nodes else ""
    return f"{finding.severity.value} {finding.code} {finding.message}{nodes}"


def _unreadable(path: str, message: str) -> ET.Element:
    case = ET.Element("testcase", classname="compatcheck", name=path, file=path)
    ET.SubElement(case, "error", message=message, type="unreadable-model")
    return case
