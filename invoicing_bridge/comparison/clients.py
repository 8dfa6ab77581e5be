"""Client records compared both ways, once per pair of clients (not once per invoice).

An invoice may carry a copy of its client's details taken when it was issued (Daftra), or
none of them (Perfex keeps a customer's email on its primary contact). Comparing invoices
alone therefore sees a client's new email on one side only. When both backends can read a
client record, each pair of clients that paired invoices name is read once on each side and
compared: name, email, tax number and address. The invoices then only say whether they
belong to the same client (``client``: the invoice was moved to another client)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import Address, Client, identity_key
from .diff import normalize_text
from .report import FieldDifference

__all__ = ["CLIENT_FIELDS", "ClientDifference", "client_differences", "reported", "same_client"]

_ADDRESS = ("line1", "line2", "city", "state", "postal_code", "country")
#: The client fields compared, as paths.
CLIENT_FIELDS = (
    "client.name",
    "client.email",
    "client.tax_number",
    *(f"client.address.{part}" for part in _ADDRESS),
)


@dataclass(slots=True)
class ClientDifference:
    """A pair of client records (by the invoices paired) that differ."""

    left_id: str | None
    right_id: str | None
    name: str
    differences: list[FieldDifference] = field(default_factory=list)
    #: How many paired invoices name this pair of clients.
    invoices: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "left_id": self.left_id,
            "right_id": self.right_id,
            "name": self.name,
            "invoices": self.invoices,
            "differences": [d.to_dict() for d in self.differences],
        }


def _address(client: Client, part: str) -> str | None:
    address = client.address or Address()
    value: str | None = getattr(address, part)
    return value


def _key(path: str, value: str | None) -> str:
    name = path.removeprefix("client.")
    if name in ("name", "email", "tax_number"):
        return identity_key(name, value)
    return normalize_text(value, case=False)


def _value(client: Client, path: str) -> str | None:
    name = path.removeprefix("client.")
    if name.startswith("address."):
        return _address(client, name.removeprefix("address."))
    value: str | None = getattr(client, name)
    return value


def reported(client: Client) -> set[str]:
    """The :data:`CLIENT_FIELDS` this record has a value for."""
    return {path for path in CLIENT_FIELDS if _key(path, _value(client, path))}


def same_client(left: Client, right: Client, ledger_pair: str | None) -> bool:
    """Whether two records are the same client: as the migration ledger paired them when it
    knows ``left`` (``ledger_pair``: the right id it gives), else when they agree on at
    least one of name, email and tax number (the other fields are compared as a record)."""
    if ledger_pair is not None:
        return ledger_pair == str(right.id)
    return any(
        _key(path, _value(left, path))
        and _key(path, _value(left, path)) == _key(path, _value(right, path))
        for path in ("client.name", "client.email", "client.tax_number")
    )


def client_differences(
    left: Client, right: Client, skip: Iterable[str] = ()
) -> list[FieldDifference]:
    """The fields of :data:`CLIENT_FIELDS` (less ``skip``) on which two records differ:
    name, email and tax number as a client is identified everywhere
    (:func:`~invoicing_bridge.models.identity_key`), address parts ignoring case and
    repeated whitespace."""
    skipped = set(skip)
    out: list[FieldDifference] = []
    for path in CLIENT_FIELDS:
        if path in skipped:
            continue
        a, b = _value(left, path), _value(right, path)
        if _key(path, a) != _key(path, b):
            out.append(FieldDifference(path, a, b))
    return out
