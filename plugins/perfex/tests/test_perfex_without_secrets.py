"""Contact secrets are dropped from a payload before it is loaded, at any depth, without
touching the payload given, and without copying the parts that hold none."""

from __future__ import annotations

import copy
from decimal import Decimal

from invoicing_bridge_perfex.mapper import CONTACT_SECRETS, SECRETS_DEPTH, without_secrets


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list | tuple):
        return {k for v in value for k in _keys(v)}
    return set()


def test_secrets_go_at_every_level_and_the_payload_is_left_as_it_was() -> None:
    payload = {
        "userid": "3",
        "password": "$2y$10$hash",
        "contacts": [
            {"id": "1", "email": "a@example.test", "new_pass_key": "k", "last_ip": "10.0.0.1"},
            {"id": "2", "email": "b@example.test"},
        ],
        "client": {"company": "Acme", "nested": ({"email_verification_key": "v"},)},
    }
    before = copy.deepcopy(payload)
    clean = without_secrets(payload)
    assert _keys(clean) & CONTACT_SECRETS == set()
    assert clean["contacts"][1] == {"id": "2", "email": "b@example.test"}
    assert clean["client"]["company"] == "Acme"
    assert payload == before  # the caller's payload is not changed


def test_a_payload_without_secrets_is_not_copied() -> None:
    invoice = {
        "id": "7",
        "total": Decimal("10.00"),
        "items": [{"description": "Work", "qty": "1"}],
        "client": {"userid": "3", "company": "Acme"},
    }
    assert without_secrets(invoice) is invoice
    mixed = {"items": invoice["items"], "client": {"password": "x", "company": "Acme"}}
    clean = without_secrets(mixed)
    assert clean is not mixed and clean["items"] is invoice["items"]  # only the changed part
    assert clean["client"] == {"company": "Acme"}


def test_the_walk_stops_at_its_depth() -> None:
    deep: dict[str, object] = {"password": "p"}
    for _ in range(SECRETS_DEPTH + 2):
        deep = {"inner": deep}
    assert without_secrets(deep) is deep  # deeper than the walk: left to the load to refuse
