"""The comparison report as one self-contained HTML file (``--format html``): the summary at
the top, then one filterable table with a row per difference (both values side by side and
the totals it changes), per invoice on one side only, per duplicate left over and per
ambiguous invoice, then what was not compared.

Inline CSS and JavaScript only, and a Content-Security-Policy that forbids loading anything:
the file opens in any browser with no network. Every value comes from a remote system, so
every value is escaped (:func:`html.escape`, quotes included), and the script reads only
the page's text (``textContent``), never writes markup.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from .report import text

if TYPE_CHECKING:
    from .report import ComparisonReport, FieldDifference, InvoiceRef

__all__ = ["to_html"]

_CSS = """
:root { color-scheme: light dark; --bad: #b3261e; --good: #1b6e20; --muted: #666; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .4rem; }
.verdict { font-weight: 600; padding: .4rem .7rem; border-radius: 4px; display: inline-block; }
.verdict.ok { color: #fff; background: var(--good); }
.verdict.bad { color: #fff; background: var(--bad); }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
.counts span { margin-right: 1rem; }
.counts .nonzero { color: var(--bad); font-weight: 600; }
.filters { margin: 1rem 0 .5rem; display: flex; gap: .8rem; align-items: center; }
.filters input[type=search] { min-width: 22rem; padding: .25rem .4rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #bbb; padding: .25rem .45rem; vertical-align: top; text-align: left; }
th { background: rgba(127, 127, 127, .15); position: sticky; top: 0; }
td.value { font-family: ui-monospace, monospace; white-space: pre-wrap; }
td.derived ul { margin: 0; padding-left: 1.1rem; }
tr.explained { opacity: .65; }
.none { color: var(--muted); font-style: italic; }
.notes { color: var(--muted); }
"""

_JS = """
(function () {
  var box = document.getElementById("filter");
  var kind = document.getElementById("kind");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#rows tbody tr"));
  var shown = document.getElementById("shown");
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var want = kind.value;
    var count = 0;
    rows.forEach(function (row) {
      var hay = row.textContent.toLowerCase();
      var ok = (want === "" || row.getAttribute("data-kind") === want) &&
        words.every(function (w) { return hay.indexOf(w) !== -1; });
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }
  box.addEventListener("input", apply);
  kind.addEventListener("change", apply);
  apply();
})();
"""

#: Counts that are bad news when not zero.
_BAD = frozenset({"different", "differences", "only_left", "only_right", "duplicates", "ambiguous"})

_KINDS = (
    ("different", "differences"),
    ("explained", "explained by the migration"),
    ("client", "client records"),
    ("only_left", "only left"),
    ("only_right", "only right"),
    ("duplicate", "duplicates"),
    ("ambiguous", "ambiguous"),
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _value(value: Any) -> str:
    if value is None:
        return '<span class="none">missing</span>'
    shown = text(value)
    return _e(shown) if shown else '<span class="none">empty</span>'


def _derived(diff: FieldDifference) -> str:
    if not diff.derived:
        return ""
    items = "".join(
        f"<li>{_e(d.path)}: {_value(d.left)} → {_value(d.right)}</li>" for d in diff.derived
    )
    return f"<ul>{items}</ul>"


def _invoices(count: int) -> str:
    return f"for its {count} paired invoice" + ("" if count == 1 else "s")


def _row(kind: str, cells: list[str]) -> str:
    tds = "".join(cells)
    return f'<tr data-kind="{_e(kind)}" class="{_e(kind)}">{tds}</tr>'


def _td(content: str, cls: str = "") -> str:
    return f'<td class="{cls}">{content}</td>' if cls else f"<td>{content}</td>"


def _refs_rows(kind: str, key: str, refs: list[InvoiceRef], side: str) -> list[str]:
    rows = []
    for ref in refs:
        left = side == "left"
        rows.append(
            _row(
                kind,
                [
                    _td(_e(kind.replace("_", " "))),
                    _td(_e(ref.number)),
                    _td(_e(ref.id or "") if left else ""),
                    _td("" if left else _e(ref.id or "")),
                    _td(_e(key)),
                    _td("", "value"),
                    _td("", "value"),
                    _td("", "derived"),
                ],
            )
        )
    return rows


def to_html(report: ComparisonReport) -> str:
    """``report`` as one HTML document (a string), self-contained and escaped."""
    left, right = _e(report.left), _e(report.right)
    if report.match == "number":
        matched = "number"
        if report.matched_by_content:
            matched += f", then client, date and total ({report.matched_by_content})"
    else:
        matched = f"the migration ledger {report.ledger or ''}"
    verdict = (
        '<p class="verdict ok">The two sides agree.</p>'
        if report.ok
        else '<p class="verdict bad">The two sides differ.</p>'
    )
    summary = report.summary()
    counts = "".join(
        f'<span class="{"nonzero" if n and name in _BAD else ""}">'
        f"{_e(name.replace('_', ' '))}: {n}</span>"
        for name, n in summary.items()
    )
    facts = [
        ("left", f"{left} ({report.left_count} invoices)"),
        ("right", f"{right} ({report.right_count} invoices)"),
        ("matched by", _e(matched)),
        ("tolerance", _e(report.tolerance)),
    ]
    if report.since is not None:
        facts.append(("issued since", _e(report.since.isoformat())))
    dl = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)

    rows: list[str] = []
    for record in (*report.different, *report.explained):
        number = _e(record.number)
        if record.right_number and record.right_number != record.number:
            number += f" / {_e(record.right_number)}"
        for diff in record.differences:
            kind = "explained" if diff.explained is not None else "different"
            field = _e(diff.path)
            if diff.explained is not None:
                field += f'<br><span class="none">{_e(diff.explained)}</span>'
            rows.append(
                _row(
                    kind,
                    [
                        _td(_e(kind)),
                        _td(number),
                        _td(_e(record.left_id or "")),
                        _td(_e(record.right_id or "")),
                        _td(field),
                        _td(_value(diff.left), "value"),
                        _td(_value(diff.right), "value"),
                        _td(_derived(diff), "derived"),
                    ],
                )
            )
    for client in report.clients:
        for diff in client.differences:
            rows.append(
                _row(
                    "client",
                    [
                        _td("client"),
                        _td(_e(client.name)),
                        _td(_e(client.left_id or "")),
                        _td(_e(client.right_id or "")),
                        _td(_e(diff.path)),
                        _td(_value(diff.left), "value"),
                        _td(_value(diff.right), "value"),
                        _td(_e(_invoices(client.invoices))),
                    ],
                )
            )
    for ref in report.only_left:
        rows.extend(_refs_rows("only_left", ref.key or "", [ref], "left"))
    for ref in report.only_right:
        rows.extend(_refs_rows("only_right", ref.key or "", [ref], "right"))
    for kind, groups in (("duplicate", report.duplicates), ("ambiguous", report.ambiguous)):
        for group in groups:
            rows.extend(_refs_rows(kind, group.key, group.left, "left"))
            rows.extend(_refs_rows(kind, group.key, group.right, "right"))

    options = "".join(f'<option value="{k}">{_e(label)}</option>' for k, label in _KINDS)
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.not_compared)
    head = (
        "<tr><th>kind</th><th>number</th><th>left id</th><th>right id</th>"
        f"<th>field / key</th><th>{left}</th><th>{right}</th><th>changes also</th></tr>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Comparison: {left} ⟷ {right}</title>
<style>{_CSS}</style>
</head>
<body>
<header id="summary">
<h1>{left} ⟷ {right}</h1>
{verdict}
<dl class="summary">{dl}</dl>
<p class="counts">{counts}</p>
</header>
<main>
<div class="filters">
<input type="search" id="filter" placeholder="Filter: number, field, value…"
 aria-label="Filter the rows">
<select id="kind" aria-label="Kind of row"><option value="">every kind</option>{options}</select>
<span><span id="shown">{len(rows)}</span> of {len(rows)} rows</span>
</div>
<table id="rows">
<thead>{head}</thead>
<tbody>
{"".join(rows)}
</tbody>
</table>
<h2>Not compared</h2>
<ul class="notes">{notes}</ul>
</main>
<script>{_JS}</script>
</body>
</html>
"""
