"""Client identity: two different companies are never merged, every candidate counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from invoicing_bridge import Client, Invoice, LineItem, migrate
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli.migrate import render_report


def _source(*clients: Client) -> MemoryBackend:
    source = MemoryBackend(label="source")
    for n, client in enumerate(clients, start=1):
        made = source.create_client(client)
        source.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2026, 1, n),
                currency="EGP",
                client=made,
                items=[LineItem("Work", Decimal("1"), Decimal("100.00"))],
            )
        )
    return source


def _invoice_client_names(target: MemoryBackend) -> dict[str, str]:
    names = {c.id: c.name for c in target.iter_clients()}
    return {i.number: names[i.client.id] for i in target.iter_invoices()}


def test_same_email_other_name_is_another_company(tmp_path: Path) -> None:
    target = MemoryBackend(label="target")
    other = target.create_client(Client(name="Nile Trading", email="books@accountant.test"))
    source = _source(Client(name="Delta Foods", email="Books@Accountant.test"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert report.ok, report.failures
    assert report.counts["client"].created == 1 and report.counts["client"].matched == 0
    assert _invoice_client_names(target) == {"INV-1": "Delta Foods"}
    assert target.get_client(str(other.id)).name == "Nile Trading"


def test_names_may_differ_when_the_user_says_so(tmp_path: Path) -> None:
    target = MemoryBackend(label="target")
    renamed = target.create_client(Client(name="Delta Foods SAE", email="books@delta.test"))
    source = _source(Client(name="Delta Foods", email="books@delta.test"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite", client_name_may_differ=True)
    assert report.counts["client"].matched == 1 and report.counts["client"].created == 0
    assert [i.client.id for i in target.iter_invoices()] == [renamed.id]


def test_same_name_other_tax_number_is_another_company(tmp_path: Path) -> None:
    target = MemoryBackend(label="target")
    target.create_client(Client(name="Cairo Steel", tax_number="100-200-300"))
    source = _source(Client(name="CAIRO  steel", tax_number="999-888-777"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite", client_name_may_differ=True)
    assert report.counts["client"].created == 1 and report.counts["client"].matched == 0
    assert len(list(target.iter_clients())) == 2


def test_every_candidate_is_considered_not_the_first(tmp_path: Path) -> None:
    target = MemoryBackend(label="target")
    target.create_client(Client(name="Nile Trading", email="books@accountant.test"))
    delta = target.create_client(Client(name="Delta Foods", email="books@accountant.test"))
    source = _source(Client(name="Delta Foods", email="books@accountant.test"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert report.counts["client"].matched == 1 and report.counts["client"].created == 0
    assert [i.client.id for i in target.iter_invoices()] == [delta.id]


class FirstOnly(MemoryBackend):
    """A target whose search gives its first match only (the base class's default), and
    which a migration asks per client rather than listing its clients once."""

    searches_clients = True

    def find_clients(
        self, *, email: str | None = None, tax_number: str | None = None, name: str | None = None
    ) -> list[Client]:
        return InvoicingBackend.find_clients(self, email=email, tax_number=tax_number, name=name)


def test_a_target_giving_the_first_match_only_is_searched_further(tmp_path: Path) -> None:
    target = FirstOnly(label="target")
    target.create_client(Client(name="Nile Trading", email="books@accountant.test"))
    delta = target.create_client(Client(name="Delta Foods", email="books@accountant.test"))
    source = _source(Client(name="Delta Foods", email="books@accountant.test"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert report.counts["client"].matched == 1 and report.counts["client"].created == 0
    assert [i.client.id for i in target.iter_invoices()] == [delta.id]


def test_the_candidate_agreeing_on_most_fields_wins(tmp_path: Path) -> None:
    target = MemoryBackend(label="target")
    target.create_client(Client(name="Delta Foods", email="books@delta.test"))
    best = target.create_client(
        Client(name="Delta Foods", email="books@delta.test", tax_number="555")
    )
    source = _source(Client(name="Delta Foods", email="books@delta.test", tax_number="555"))
    migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert [i.client.id for i in target.iter_invoices()] == [best.id]


class ContactRefused(MemoryBackend):
    """Keeps a client's email on a contact whose create fails after the client's own."""

    def create_client(self, client: Client) -> Client:
        copy = Client.from_dict(client.to_dict())
        copy.email = None
        return super().create_client(copy)

    def update_client(self, client: Client) -> Client:
        copy = Client.from_dict(client.to_dict())
        copy.email = None  # the contact is refused again
        return super().update_client(copy)


class ContactRefusedOnce(MemoryBackend):
    def create_client(self, client: Client) -> Client:
        copy = Client.from_dict(client.to_dict())
        copy.email = None
        return super().create_client(copy)


def test_a_refused_contact_is_repaired_by_an_update(tmp_path: Path) -> None:
    target = ContactRefusedOnce(label="target")
    source = _source(Client(name="Delta Foods", email="books@delta.test"))
    report = migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert report.ok, report.failures
    assert report.counts["client"].created == 1 and target.calls.get("update_client") == 1
    assert [c.email for c in target.iter_clients()] == ["books@delta.test"]


def test_a_client_whose_contact_failed_is_failed_not_ok(tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    target = ContactRefused(label="target")
    source = _source(Client(name="Delta Foods", email="books@delta.test"))
    report = migrate(source, target, ledger=ledger)
    assert not report.ok
    assert report.counts["client"].failed == 1 and report.counts["client"].created == 0
    (failure,) = [f for f in report.failures if f.kind == "client"]
    assert "without its email" in (failure.reason or "")
    assert list(target.iter_invoices()) == []  # its invoice waits for it
    again = migrate(source, target, ledger=ledger)
    assert again.counts["client"].failed == 1 and len(list(target.iter_clients())) == 1
    (stored,) = target.iter_clients()
    stored.email = "books@delta.test"  # the user adds the contact in the target
    MemoryBackend.update_client(target, stored)
    fixed = migrate(source, target, ledger=ledger)
    assert fixed.ok, fixed.failures
    assert len(list(target.iter_clients())) == 1 and len(list(target.iter_invoices())) == 1


def test_two_equally_close_target_clients_are_reported_with_the_match(tmp_path: Path) -> None:
    """A target holding the same company twice (same name and email): the first in the
    target's order is taken, and the match says which other client was as close, so the
    user can check; a clear match says nothing."""
    target = MemoryBackend(label="target")
    first = target.create_client(Client(name="Delta Foods", email="books@delta.test"))
    twin = target.create_client(Client(name="Delta Foods", email="books@delta.test"))
    target.create_client(Client(name="Cairo Steel", email="ap@steel.test", tax_number="1-2-3"))
    source = _source(
        Client(name="Delta Foods", email="books@delta.test"),
        Client(name="Cairo Steel", email="ap@steel.test", tax_number="1-2-3"),
    )
    report = migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert report.ok, report.failures
    matched = {r.number: r for r in report.records if r.kind == "client"}
    assert {r.outcome for r in matched.values()} == {"matched"}
    assert matched["Delta Foods"].target_id == first.id
    doubt = matched["Delta Foods"].reason or ""
    assert str(twin.id) in doubt and "as close a match" in doubt
    assert matched["Cairo Steel"].reason is None
    out = Console(record=True, width=160)
    render_report(report, out)
    text = out.export_text()
    assert "Matched, in doubt" in text and "as close a match" in text
