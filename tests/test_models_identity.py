"""The one client-identity rule: ``identity_key`` and ``client_matches``."""

from __future__ import annotations

import pytest

from invoicing_bridge.models import Client, client_matches, identity_key


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("email", "  Billing@ACME.test ", "billing@acme.test"),
        ("tax_number", "EG 123-456.789", "eg123456789"),
        ("tax_number", "300 123\t456", "300123456"),
        ("name", "  ACME \t  Trading  LLC ", "acme trading llc"),
        ("name", None, ""),
        ("email", "   ", ""),
    ],
)
def test_identity_key_normalises_each_field(field: str, value: str | None, key: str) -> None:
    assert identity_key(field, value) == key


def test_identity_key_keeps_words_of_a_name_apart() -> None:
    assert identity_key("name", "Acme Ltd") != identity_key("name", "AcmeLtd")


def test_identity_key_refuses_other_fields() -> None:
    with pytest.raises(ValueError, match="phone"):
        identity_key("phone", "1")


def test_clients_sharing_one_identity_field_match() -> None:
    acme = Client(name="Acme", email="a@acme.test", tax_number="300-123")
    assert client_matches(acme, Client(name="ACME", email=None))
    assert client_matches(acme, Client(name="Other", email=" A@ACME.TEST"))
    assert client_matches(acme, Client(name="Other", tax_number="300 123"))


def test_a_different_email_or_tax_number_is_another_client() -> None:
    acme = Client(name="Acme", email="a@acme.test", tax_number="300123")
    # Namesakes, and branches sharing a tax number, are told apart by their email.
    assert not client_matches(acme, Client(name="Acme", email="b@acme.test"))
    assert not client_matches(acme, Client(name="Acme", tax_number="300124"))
    assert not client_matches(acme, Client(name="Acme", email="b@acme.test", tax_number="300123"))


def test_nothing_in_common_is_no_match() -> None:
    assert not client_matches(Client(name="A"), Client(name="B"))
    assert not client_matches(Client(name=""), Client(name=""))


def test_on_limits_the_fields_that_can_match() -> None:
    acme = Client(name="Acme", email="a@acme.test")
    assert not client_matches(acme, Client(name="Acme"), on=("email",))
    assert client_matches(acme, Client(name="Acme"), on=("name",))
