"""``--format html``: one self-contained page, parsed here as a browser would build it.

Values come from remote systems: a client name, a note or a line description may hold
markup. The page must show it as text, never run or load anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli import main
from invoicing_bridge.comparison import ComparisonReport, compare
from invoicing_bridge.config import Profile
from invoicing_bridge.models import Client, Invoice, LineItem, Payment, TaxRate

D = Decimal
EVIL_NAME = '"><img src=x onerror=alert(1)>'
EVIL_NOTE = "</td></tr><script>alert('x')</script><a href=\"https://evil.example/\">"


class Page(HTMLParser):
    """The elements and text of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.text: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)
            return
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def seeded(label: str, *, name: str, notes: str, price: str, paid: str) -> MemoryBackend:
    backend = MemoryBackend(label=label)
    client = backend.create_client(Client(name=name, email="ap@nile.example"))
    items = [LineItem("Tea", D("2"), D(price), taxes=[TaxRate("VAT", D("14"))])]
    backend.create_invoice(
        Invoice.build(
            number="000001",
            issue_date=dt.date(2026, 9, 1),
            currency="EGP",
            client=client,
            items=items,
            notes=notes,
            payments=[Payment(D(paid), dt.date(2026, 9, 5), "cash")],
            amount_paid=D(paid),
        )
    )
    backend.create_invoice(
        Invoice.build(
            number="000002" if label == "shop" else "000003",
            issue_date=dt.date(2026, 9, 2 if label == "shop" else 3),
            currency="EGP",
            client=client,
            items=items,
        )
    )
    return backend


@pytest.fixture
def report() -> ComparisonReport:
    shop = seeded("shop", name="Nile Trading", notes="Thanks", price="50.00", paid="10.00")
    books = seeded("books", name=EVIL_NAME, notes=EVIL_NOTE, price="55.00", paid="10.01")
    return compare(shop, books)


def test_the_page_is_self_contained_and_loads_nothing(report: ComparisonReport) -> None:
    page = parse(report.to_html())

    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed", "a"), (tag, attrs)
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert [t for t, _ in page.tags].count("script") == 1
    assert [t for t, _ in page.tags].count("style") == 1


def test_remote_values_are_shown_as_text_never_as_markup(report: ComparisonReport) -> None:
    html = report.to_html()
    page = parse(html)

    text = "".join(page.text)
    assert EVIL_NOTE in text  # shown, character for character
    assert "alert('x')" not in "".join(page.scripts)
    assert "<script>alert" not in html and "<img" not in html


def test_summary_comes_first_then_one_row_per_difference_with_both_values(
    report: ComparisonReport,
) -> None:
    html = report.to_html()
    page = parse(html)

    assert html.index("The two sides differ.") < html.index("<table")
    assert html.index('id="filter"') < html.index("<table")
    head, *body = page.rows
    assert head[:5] == ["kind", "number", "left id", "right id", "field / key"]
    different = [r for r in body if r[0] == "different"]
    by_field = {r[4]: r for r in different}
    assert by_field["notes"][5:7] == ["Thanks", EVIL_NOTE]
    assert by_field["items[0].unit_price"][5:7] == ["50.00", "55.00"]
    assert "subtotal: 100.00 → 110.00" in by_field["items[0].unit_price"][7]
    assert by_field["payments[0].amount"][5:7] == ["10.00", "10.01"]
    assert len(different) == report.difference_count
    lone = sorted((r[0], r[1]) for r in body if r[0].startswith("only"))
    assert lone == [("only left", "000002"), ("only right", "000003")]
    # The client record's name, once for both of its invoices, both values side by side.
    (client,) = [r for r in body if r[0] == "client"]
    assert client[4:8] == ["client.name", "Nile Trading", EVIL_NAME, "for its 1 paired invoice"]


def test_the_filter_reads_only_text_and_writes_no_markup(report: ComparisonReport) -> None:
    (script,) = parse(report.to_html()).scripts

    assert "textContent" in script
    for writer in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert writer not in script


class _Env:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.config = tmp_path / "invoicing-bridge.toml"
        self.config.write_text(
            '[profiles.shop]\nbackend = "memory"\nlabel = "shop"\n\n'
            '[profiles.books]\nbackend = "memory"\nlabel = "books"\n',
            encoding="utf-8",
        )
        backends: dict[str, InvoicingBackend] = {
            "shop": seeded("shop", name="Nile", notes="a", price="1.00", paid="1.00"),
            "books": seeded("books", name=EVIL_NAME, notes="a", price="1.00", paid="1.00"),
        }

        def open_seeded(profile: Profile, *, check: bool = False) -> Any:
            if check:  # compare checks both sides before reading, as Profile.open does
                backends[profile.name].check()
            return backends[profile.name]

        monkeypatch.setattr(Profile, "open", open_seeded)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Env]:
    yield _Env(tmp_path, monkeypatch)


def test_command_line_writes_the_html_file(env: _Env, tmp_path: Path) -> None:
    out = tmp_path / "report.html"

    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(env.config),
            "compare",
            "shop",
            "books",
            "--format",
            "html",
            "--output",
            str(out),
        ],
    )

    assert result.exit_code == 1, result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    page = parse(html)
    assert any(r[4:7] == ["client.name", "Nile", EVIL_NAME] for r in page.rows[1:])
