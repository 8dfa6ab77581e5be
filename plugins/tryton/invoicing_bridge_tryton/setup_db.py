"""Fill a fresh Tryton database with what invoicing needs. Run by :mod:`.server` in a
subprocess (``python setup_db.py <config> <database>``), never imported: it imports the
server (GPL), which is a test dependency only.

It reuses Tryton's own test helpers (``create_company``, ``create_chart``,
``get_fiscalyear``, ``set_invoice_sequences``) and adds what they leave out: currencies with
rates, fiscal years 2020-2027 with monthly periods, percentage taxes, a payment term,
payment methods ("Cash", "Bank transfer") and the admin user's company.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from typing import Any

#: Taxes the test database knows: name, rate in percent. The rates the contract suite,
#: the Daftra and Perfex seeds use.
TAXES = [
    ("VAT", "15"),
    # Egypt's VAT as Egyptian installs (and the Daftra emulator's seed) name it.
    ("ضريبة القيمة المضافة", "14"),
    ("Stamp duty", "0.4"),
    ("VAT 5", "5"),
    ("VAT 10", "10"),
    ("VAT 20", "20"),
]
#: Currencies with their rate against the company currency (USD).
CURRENCIES = [
    ("USD", "US Dollar", "$", "1"),
    ("EUR", "Euro", "€", "0.9"),
    ("EGP", "Egyptian Pound", "E£", "48.5"),
    ("SAR", "Saudi Riyal", "SR", "3.75"),
    ("GBP", "Pound Sterling", "£", "0.8"),
]
YEARS = range(2020, 2028)
#: Invoice payment methods (name, journal code).
METHODS = [("Cash", "CASH"), ("Bank transfer", "BANK"), ("Card", "CARD"), ("Cheque", "CHQ")]
#: Countries (the country module ships none; trytond_import_countries downloads them).
COUNTRIES = [
    ("EG", "Egypt"),
    ("SA", "Saudi Arabia"),
    ("AE", "United Arab Emirates"),
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("DE", "Germany"),
    ("FR", "France"),
]


def main(config: str, database: str) -> None:
    from trytond import config as tryton_config

    tryton_config.update_etc(config)

    from trytond.modules.account.tests import create_chart, get_fiscalyear
    from trytond.modules.account_invoice.tests.test_module import set_invoice_sequences
    from trytond.modules.company.tests import create_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError

    Pool.start()
    pool = Pool(database)
    pool.init()
    extras: dict[str, Any] = {}
    while True:
        # Tryton asks for a retry with the tables to lock first (its test helpers' loop).
        with Transaction().start(database, 0, context={}, **extras) as transaction:
            try:
                _fill(
                    pool,
                    transaction,
                    create_company,
                    create_chart,
                    get_fiscalyear,
                    set_invoice_sequences,
                )
            except TransactionError as exc:
                transaction.rollback()
                exc.fix(extras)
                continue
            transaction.commit()
            return


def _fill(
    pool: Any,
    transaction: Any,
    create_company: Any,
    create_chart: Any,
    get_fiscalyear: Any,
    set_invoice_sequences: Any,
) -> None:
    if True:
        Currency = pool.get("currency.currency")
        Rate = pool.get("currency.currency.rate")
        currencies: dict[str, Any] = {}
        for code, name, symbol, rate in CURRENCIES:
            (currency,) = Currency.create(
                [
                    {
                        "name": name,
                        "code": code,
                        "symbol": symbol,
                        "digits": 2,
                        "rounding": Decimal("0.01"),
                    }
                ]
            )
            Rate.create(
                [{"currency": currency.id, "rate": Decimal(rate), "date": dt.date(2000, 1, 1)}]
            )
            currencies[code] = currency
        Country = pool.get("country.country")
        Country.create([{"code": code, "name": name} for code, name in COUNTRIES])
        company = create_company(name="Bridge Test Co", currency=currencies["USD"])
        company.cancel_invoice_out = True
        company.save()
        User = pool.get("res.user")
        admin = User(1)
        User.write([admin], {"companies": [("add", [company.id])], "company": company.id})
        with transaction.set_context(company=company.id, companies=[company.id]):
            create_chart(company, tax=False)
            FiscalYear = pool.get("account.fiscalyear")
            Sequence = pool.get("ir.sequence.strict")
            SequenceType = pool.get("ir.sequence.type")
            InvoiceSequence = pool.get("account.fiscalyear.invoice_sequence")
            (invoice_type,) = SequenceType.search([("name", "=", "Invoice")], limit=1)
            for year in YEARS:
                fiscalyear = set_invoice_sequences(
                    get_fiscalyear(company, today=dt.date(year, 6, 1))
                )
                fiscalyear.save()
                FiscalYear.create_period([fiscalyear])
                # Tryton numbers customer invoices in date order within a sequence: one
                # sequence per month lets the tests (and a migration) post an invoice of
                # an earlier month after a later one.
                InvoiceSequence.delete(list(fiscalyear.invoice_sequences))
                for period in fiscalyear.periods:
                    (sequence,) = Sequence.create(
                        [
                            {
                                "name": period.name,
                                "sequence_type": invoice_type.id,
                                "company": company.id,
                                "prefix": f"{period.start_date:%Y%m}-",
                            }
                        ]
                    )
                    InvoiceSequence.create(
                        [
                            {
                                "company": company.id,
                                "fiscalyear": fiscalyear.id,
                                "period": period.id,
                                "in_invoice_sequence": sequence.id,
                                "in_credit_note_sequence": sequence.id,
                                "out_invoice_sequence": sequence.id,
                                "out_credit_note_sequence": sequence.id,
                            }
                        ]
                    )
            Account = pool.get("account.account")
            Tax = pool.get("account.tax")
            (tax_account,) = Account.search(
                [("company", "=", company.id), ("code", "=", "6.3.4")], limit=1
            ) or Account.search(
                [("company", "=", company.id), ("type.payable", "=", True)], limit=1
            )
            for name, rate in TAXES:
                Tax.create(
                    [
                        {
                            "name": name,
                            "description": f"{name} {rate}%",
                            "type": "percentage",
                            "rate": Decimal(rate) / 100,
                            "invoice_account": tax_account.id,
                            "credit_note_account": tax_account.id,
                            "company": company.id,
                        }
                    ]
                )
            # A payment in another currency than the company's leaves a rounding
            # difference when it settles the invoice: booked to these accounts.
            Configuration = pool.get("account.configuration")
            configuration = Configuration(1)
            (income,) = Account.search(
                [("company", "=", company.id), ("type.revenue", "=", True), ("closed", "!=", True)],
                limit=1,
            )
            (expense,) = Account.search(
                [("company", "=", company.id), ("type.expense", "=", True), ("closed", "!=", True)],
                limit=1,
            )
            configuration.currency_exchange_credit_account = income
            configuration.currency_exchange_debit_account = expense
            configuration.save()
            PaymentTerm = pool.get("account.invoice.payment_term")
            PaymentTerm.create([{"name": "Direct", "lines": [("create", [{"type": "remainder"}])]}])
            Journal = pool.get("account.journal")
            (cash_journal,) = Journal.search([("type", "=", "cash")], limit=1)
            (cash,) = Account.search(
                [
                    ("company", "=", company.id),
                    ("type.statement", "=", "balance"),
                    ("closed", "=", False),
                    ("type.receivable", "=", False),
                    ("type.payable", "=", False),
                    ("code", "=", "1.1.1"),
                ],
                limit=1,
            ) or Account.search(
                [("company", "=", company.id), ("name", "ilike", "%cash%")], limit=1
            )
            Method = pool.get("account.invoice.payment.method")
            for name, code in METHODS:
                # A journal per method: a payment line names its journal, so the method
                # reads back.
                if code == "CASH":
                    journal = cash_journal
                else:
                    (journal,) = Journal.create([{"name": name, "code": code, "type": "cash"}])
                Method.create(
                    [
                        {
                            "company": company.id,
                            "name": name,
                            "journal": journal.id,
                            "debit_account": cash.id,
                            "credit_account": cash.id,
                        }
                    ]
                )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
