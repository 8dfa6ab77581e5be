"""``InvoicingBackend``: the one interface every backend implements.

Fixed verbs with keyword-only filters; anything a backend cannot do raises
:class:`~invoicing_bridge.exceptions.UnsupportedOperation`, and ``features`` says up front
what it can. Backend-only methods are prefixed ``ex_``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self

import marshmallow

from ..exceptions import ConfigurationError, InvalidRequest, UnsupportedOperation
from ..models import (
    CLIENT_IDENTITY_FIELDS,
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    identity_key,
)
from ..models import client_matches as _client_matches

__all__ = [
    "RECORD_KINDS",
    "Feature",
    "InvoicingBackend",
    "OptionsSchema",
    "clients_matching",
    "has_identity",
    "identity_criteria",
]

#: The kinds of record ``parse_payload`` and the CLI know.
RECORD_KINDS = ("invoice", "client", "payment")
_TRAILING_DIGITS = re.compile(r"(\d+)\D*$")


def identity_criteria(
    *, email: str | None = None, tax_number: str | None = None, name: str | None = None
) -> dict[str, str]:
    """The given criteria of a ``find_client`` (those not None) as field -> its
    :func:`~invoicing_bridge.models.identity_key`, in identity order."""
    given = (("email", email), ("tax_number", tax_number), ("name", name))
    return {field: identity_key(field, value) for field, value in given if value is not None}


def has_identity(client: Client, wanted: Mapping[str, str]) -> bool:
    """Whether ``client`` has every identity key of ``wanted`` (:func:`identity_criteria`)."""
    return all(identity_key(field, getattr(client, field)) == key for field, key in wanted.items())


def clients_matching(clients: Iterable[Client], wanted: Mapping[str, str]) -> Iterator[Client]:
    """The clients of ``clients`` that match every criterion of ``wanted``
    (:func:`identity_criteria`), in their order: the comparison of every backend's
    ``find_client(s)`` that compares clients it has read, and of the migration's index."""
    return (client for client in clients if has_identity(client, wanted))


class Feature:
    """Names used in ``InvoicingBackend.features``."""

    LIST_INVOICES = "invoices.list"
    GET_INVOICE = "invoices.get"
    FIND_INVOICE = "invoices.find"
    CREATE_INVOICE = "invoices.create"
    UPDATE_INVOICE = "invoices.update"
    DELETE_INVOICE = "invoices.delete"
    LIST_CLIENTS = "clients.list"
    GET_CLIENT = "clients.get"
    FIND_CLIENT = "clients.find"
    CREATE_CLIENT = "clients.create"
    UPDATE_CLIENT = "clients.update"
    LIST_PAYMENTS = "payments.list"
    GET_PAYMENT = "payments.get"
    RECORD_PAYMENT = "payments.record"
    DRAFT_INVOICES = "invoices.draft"  # can store a draft as a draft
    VOID_INVOICES = "invoices.void"  # can store a void (cancelled) invoice
    PARSE = "parse"  # parse_payload() maps saved raw payloads offline
    #: Reads report each line's taxes (``LineItem.taxes``); without it compare skips them.
    ITEM_TAX_DETAIL = "items.tax_detail"
    #: Recorded payments keep the date given (Perfex dates them when recorded); without
    #: it compare leaves payment dates out.
    PAYMENT_DATES = "payments.date"
    #: ``find_client(tax_number=...)`` finds a client by its tax number (some APIs'
    #: searches never look at it; a backend declares it when it can find one anyway).
    FIND_CLIENT_BY_TAX_NUMBER = "clients.find.tax_number"
    #: Recording a payment emails the customer a receipt, and the API cannot turn it off
    #: (Perfex): migration warns before recording historical payments.
    PAYMENTS_EMAIL_CUSTOMER = "payments.email_customer"
    #: :meth:`~InvoicingBackend.create_invoice` records the invoice's completed payments
    #: for fewer requests than one :meth:`~InvoicingBackend.record_payment` each (in the
    #: create's own request, as Daftra's ``Payment[]``, or reusing its own reads), and
    #: answers the invoice with them: migration sends the payments with the create.
    CREATE_WITH_PAYMENTS = "invoices.create.payments"

    ALL: ClassVar[frozenset[str]] = frozenset(
        {
            LIST_INVOICES,
            GET_INVOICE,
            FIND_INVOICE,
            CREATE_INVOICE,
            UPDATE_INVOICE,
            DELETE_INVOICE,
            LIST_CLIENTS,
            GET_CLIENT,
            FIND_CLIENT,
            CREATE_CLIENT,
            UPDATE_CLIENT,
            LIST_PAYMENTS,
            GET_PAYMENT,
            RECORD_PAYMENT,
            DRAFT_INVOICES,
            VOID_INVOICES,
            PARSE,
            ITEM_TAX_DETAIL,
            PAYMENT_DATES,
            FIND_CLIENT_BY_TAX_NUMBER,
            PAYMENTS_EMAIL_CUSTOMER,
            CREATE_WITH_PAYMENTS,
        }
    )


class OptionsSchema(marshmallow.Schema):
    """Base for a backend's options. Unknown options are refused.

    Mark secret options with ``metadata={"secret": True}``: they are masked in reprs.
    Options shared by every backend live here.
    """

    class Meta:
        unknown = marshmallow.RAISE


class InvoicingBackend:
    """The interface. Subclasses set ``name``, ``features`` and ``Options`` and override verbs.

    Construct with keyword options (validated by ``Options``); use as a context manager
    or call :meth:`close` to release connections.
    """

    #: Entry-point name of the backend.
    name: ClassVar[str] = "base"
    #: What this backend can do: names from :class:`Feature`.
    features: ClassVar[frozenset[str]] = frozenset()
    #: Decimal places the backend stores amounts with (None: any). A migration rounds
    #: amounts with more places for it, payments by largest remainder, and says so.
    money_places: ClassVar[int | None] = 2
    #: Schema validating the constructor's options.
    Options: ClassVar[type[OptionsSchema]] = OptionsSchema
    #: The options that say where the API is, most specific first: a :meth:`check` that
    #: finds no API there names the first one the profile sets.
    location_options: ClassVar[tuple[str, ...]] = ("base_url",)
    #: Whether :meth:`find_clients` searches on the server, exactly and cheaply (a query
    #: per call, not a read of every client). A migration then asks it for each client
    #: to match; otherwise (the default) it lists the target's clients once per run
    #: (:meth:`iter_clients`) and matches them in memory, by the same rule.
    searches_clients: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = self.load_options(options)

    # ----------------------------------------------------------------- options

    @classmethod
    def load_options(
        cls, options: Mapping[str, Any], *, partial: bool = False, profile: str | None = None
    ) -> dict[str, Any]:
        """Validate options; raise :class:`ConfigurationError` naming the first bad option."""
        try:
            loaded: dict[str, Any] = cls.Options().load(dict(options), partial=partial)
        except marshmallow.ValidationError as exc:
            messages: dict[str, Any] = exc.normalized_messages()  # type: ignore[no-untyped-call]
            option = next(iter(messages), None)
            text = "; ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
            raise ConfigurationError(
                f"{cls.name}: {text}", profile=profile, option=option
            ) from None
        return loaded

    @classmethod
    def secret_options(cls) -> frozenset[str]:
        return frozenset(
            name for name, f in cls.Options().fields.items() if f.metadata.get("secret")
        )

    @classmethod
    def for_parsing(cls, **options: Any) -> Self:
        """An instance for offline mapping (``parse_payload``): required options not needed."""
        instance = cls.__new__(cls)
        instance.options = cls.load_options(options, partial=True)
        instance._init_offline()
        return instance

    def _init_offline(self) -> None:
        """Set up what mapping needs without any connection; override when needed."""

    @property
    def label(self) -> str:
        """A stable, secret-free name for this backend instance: the migration ledger
        stores it for each side, reports show it. Default: :attr:`name`; HTTP backends
        give ``"<name>:<base URL>"``, the memory backend ``"memory:<its label>"``."""
        return self.name

    def __repr__(self) -> str:
        secret = self.secret_options()
        shown = ", ".join(
            f"{k}={'***' if k in secret else v!r}" for k, v in sorted(self.options.items())
        )
        return f"{type(self).__name__}({shown})"

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Release connections. Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _unsupported(self, operation: str, reason: str | None = None) -> UnsupportedOperation:
        return UnsupportedOperation(self.name, operation, reason)

    @property
    def profile(self) -> str | None:
        """The config profile this backend was opened from (set by
        :meth:`~invoicing_bridge.config.Profile.open`), or None; errors name it."""
        return self.__dict__.get("_profile")

    @profile.setter
    def profile(self, name: str | None) -> None:
        self.__dict__["_profile"] = name

    def check_connection(self) -> dict[str, Any]:
        """Reach the backend and authenticate; return facts about the account.

        A plugin overrides it with a request that proves both: it is authenticated, and
        only the API answers it in the shape expected (an answer from anything else, such
        as a web server's 404 page for a base URL that misses the API root, must fail).
        Raises :class:`~invoicing_bridge.exceptions.BackendError` subclasses on failure.
        """
        raise self._unsupported("check_connection")

    def check(self) -> dict[str, Any]:
        """Prove that the backend reached the real API and that the credentials work, or
        fail saying what to fix: ``invoicing-bridge check`` runs it, and ``migrate`` and
        ``compare`` run it on both sides before reading anything.

        Returns :meth:`check_connection`'s facts. Raises what it raises, with a ``hint``
        where the cause is known (HTTP backends: ``no API found at URL; check
        `base_url```; a refused credential names its option).
        """
        return self.check_connection()

    # ----------------------------------------------------------------- invoices

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        """Every invoice (lazily, page by page), optionally filtered.

        ``since`` keeps invoices issued on or after that date (backends without a
        modified-since filter document what they use). ``status`` is a member or its
        string value (``"open"``); an implementation reads it with
        :meth:`InvoiceStatus.coerce`, which raises ValueError for an unknown one.
        """
        raise self._unsupported("iter_invoices")

    def reading_with(self, workers: int) -> None:
        """A hint from a job that hands what :meth:`iter_invoices` yields to ``workers``
        threads (the migration): a backend that reads each listed record with a request
        of its own may keep up to that many such reads in flight, so that the list keeps
        up with the workers. Nothing by default."""

    def get_invoice(self, id: str) -> Invoice:
        """One invoice with its items and payments. Raises ``NotFound``."""
        raise self._unsupported("get_invoice")

    def find_invoice(self, number: str) -> Invoice | None:
        """The invoice with exactly this number, or None."""
        raise self._unsupported("find_invoice")

    def create_invoice(self, invoice: Invoice) -> Invoice:
        """Store a new invoice (``invoice.client.id`` must be this backend's client id);
        return it as stored, with its new id. Raises ``InvalidRequest``, ``MappingError``.

        Payments: the invoice's *completed* payments (``invoice.payments`` with status
        ``completed``) are recorded with it, in the create's own request where the API
        allows, else one :meth:`record_payment` each right after the create. The invoice
        returned carries them (each with its id), and its ``amount_paid`` and
        ``balance_due`` follow from them. A payment of another status is never recorded
        as completed (it is stored with its status, or left out). A backend without
        ``payments.record`` in its ``features`` raises ``UnsupportedOperation`` for an
        invoice with completed payments before writing anything.
        """
        raise self._unsupported("create_invoice")

    def full_invoice(self, invoice: Invoice) -> Invoice:
        """``invoice`` with its items and payments complete, as :meth:`get_invoice` gives
        it: a listing may leave them out.

        Returns the same object when nothing is missing; otherwise reads what is missing
        (the invoice, then its payments where the invoice read still lacks them). Items
        are missing when there are none but the subtotal is not zero; payments when there
        are none but something was paid. Backends that know better (listing rows that
        never carry details) override this.
        """
        lacks_items = not invoice.items and invoice.subtotal != 0
        lacks_payments = invoice.amount_paid > 0 and not invoice.payments
        if not (lacks_items or lacks_payments) or invoice.id is None:
            return invoice
        if Feature.GET_INVOICE in self.features:
            invoice = self.get_invoice(invoice.id)
        if (
            invoice.amount_paid > 0
            and not invoice.payments
            and invoice.id is not None
            and Feature.LIST_PAYMENTS in self.features
        ):
            invoice.payments = list(self.iter_payments(invoice_id=invoice.id))
        return invoice

    def validate_invoice(self, invoice: Invoice) -> None:
        """Check, without writing anything, that :meth:`create_invoice` would accept
        ``invoice``: its mapping to this backend's payload and the checks that need no
        write (currency, tax rates, totals). ``invoice.client.id`` may be None (a client
        not created yet). Dry-run migrations call it. Raises ``MappingError``,
        ``InvalidRequest`` or ``UnsupportedOperation``; by default checks only the amounts
        (:meth:`check_amounts`)."""
        self.check_amounts(invoice)

    def update_invoice(self, invoice: Invoice) -> Invoice:
        """Replace the stored invoice ``invoice.id`` with this one; return it as stored."""
        raise self._unsupported("update_invoice")

    def delete_invoice(self, id: str) -> None:
        """Delete an invoice. Raises ``NotFound``."""
        raise self._unsupported("delete_invoice")

    # ----------------------------------------------------------------- clients

    def iter_clients(self) -> Iterator[Client]:
        raise self._unsupported("iter_clients")

    def get_client(self, id: str) -> Client:
        """Raises ``NotFound``."""
        raise self._unsupported("get_client")

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        """The first client matching every given criterion, compared by
        :func:`~invoicing_bridge.models.identity_key` (email case-insensitively, tax
        number without spaces or punctuation, name case- and space-insensitively), or
        None."""
        raise self._unsupported("find_client")

    def unmigrated_counts(self) -> dict[str, int] | None:
        """How many records of each kind this backend holds that a migration does not
        move, by kind (``"credit_note"``, ``"estimate"``, ``"product"``,
        ``"client_credit"``...), for the migration report to account for every source
        record. None (the default) when the backend cannot tell; a kind it can tell
        has none of is given as 0.
        """
        return None

    def find_clients(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> list[Client]:
        """Every client matching every given criterion, as :meth:`find_client` compares.

        The default gives :meth:`find_client`'s one answer (or none): a backend whose
        search returns several records overrides it to give them all, so that a caller
        can choose among namesakes instead of taking the first.
        """
        found = self.find_client(email=email, tax_number=tax_number, name=name)
        return [] if found is None else [found]

    def client_matches(self, client: Client, candidate: Client) -> bool:
        """Whether ``candidate`` (a client of this backend) is ``client``: the rule of
        :func:`invoicing_bridge.models.client_matches` on email, tax number and name."""
        return _client_matches(client, candidate, on=CLIENT_IDENTITY_FIELDS)

    def create_client(self, client: Client) -> Client:
        raise self._unsupported("create_client")

    def update_client(self, client: Client) -> Client:
        raise self._unsupported("update_client")

    # ----------------------------------------------------------------- payments

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        raise self._unsupported("iter_payments")

    def get_payment(self, id: str) -> Payment:
        """Raises ``NotFound``."""
        raise self._unsupported("get_payment")

    def record_payment(self, payment: Payment) -> Payment:
        """Record a payment against ``payment.invoice_id``; return it as stored.
        Raises ``InvalidRequest`` for an amount that is not positive (:meth:`check_amounts`)."""
        raise self._unsupported("record_payment")

    def check_amounts(self, record: Invoice | Payment) -> None:
        """Refuse, before anything is written, amounts no invoice or payment can carry:
        a payment of zero or less (a refund is not a payment), an invoice whose total or
        amount paid is negative (the neutral model has no credit notes). Every backend's
        ``create_invoice``, ``validate_invoice`` and ``record_payment`` call it first.
        Absurd magnitudes (NaN, 1E+400) are refused by the money fields when dumped.
        Raises ``InvalidRequest`` (no request sent) naming the backend and, in
        ``field_errors``, the field."""
        payments: list[tuple[str, Payment]] = []
        if isinstance(record, Payment):
            payments.append(("amount", record))
        else:
            for name in ("total", "amount_paid"):
                if getattr(record, name) < 0:
                    reason = (
                        f"a negative {name} ({getattr(record, name)}) cannot be written "
                        "(credit notes are not supported)"
                    )
                    raise InvalidRequest(
                        f"invoice {record.number}: {reason}",
                        backend=self.name,
                        field_errors={name: reason},
                    )
            payments.extend(
                (f"payments[{index}].amount", payment)
                for index, payment in enumerate(record.payments)
                if payment.status is PaymentStatus.COMPLETED
            )
        for field, payment in payments:
            if payment.amount <= 0:
                reason = (
                    f"a payment of {payment.amount} cannot be recorded: an amount must be "
                    "positive (a refund is not a payment)"
                )
                raise InvalidRequest(
                    "payment refused before sending",
                    backend=self.name,
                    field_errors={field: reason},
                )

    # ----------------------------------------------------------------- numbering

    def normalize_number(self, number: str) -> str:
        """The invoice number reduced to what identifies it across backends.

        Default: the last run of digits without leading zeros (``"INV-000002"``,
        ``"000002"`` and ``"2"`` all give ``"2"``); a number without digits is compared
        case-folded. Backends with their own prefix rules override this.
        """
        match = _TRAILING_DIGITS.search(number)
        if match is None:
            return " ".join(number.split()).casefold()
        return match.group(1).lstrip("0") or "0"

    # ----------------------------------------------------------------- offline mapping

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """Map a saved raw payload (a whole response, a bare record or a list row) of
        ``kind`` (``invoice``, ``client`` or ``payment``) to neutral records, offline.

        Raises :class:`~invoicing_bridge.exceptions.MappingError`.
        """
        raise self._unsupported("parse_payload")


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    return str(value)
