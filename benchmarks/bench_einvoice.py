"""E-invoice speed: building UBL 2.1 / EN 16931 documents from the Daftra emulator's seeded
invoices, validating them with the UBL XSD and with the CEN EN 16931 schematron (Saxon),
and the one-time cost of loading the schema and compiling the schematron.

    python benchmarks/bench_einvoice.py [--invoices 100] [--repeat 3]

Not part of ``run.py``'s figures: run it on its own. Milliseconds per document are
absolute (they move with the machine's load); the ratio of validating to building is the
figure that holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from _common import best_of
from invoicing_bridge_daftra.emulator import DaftraEmulator

from invoicing_bridge import InvoiceStatus, get_backend
from invoicing_bridge.einvoice import Seller, to_ubl, validate
from invoicing_bridge.einvoice.validate import _schema, _stylesheet

SELLER = Seller.from_mapping(
    {"name": "Red Sea Foods", "vat_id": "SA302233445500003", "country": "SA"}
)


def run(*, invoices: int = 100, repeat: int = 3) -> dict[str, Any]:
    with DaftraEmulator(invoices=invoices, seed=1) as emulator:
        options = dict(emulator.profile())
        with get_backend(options.pop("backend"), **options) as backend:
            issued = [i for i in backend.iter_invoices() if i.status is not InvoiceStatus.DRAFT]
    started = time.perf_counter()
    _schema("UBL-Invoice-2.1.xsd")
    schema_s = time.perf_counter() - started
    started = time.perf_counter()
    _stylesheet()
    compile_s = time.perf_counter() - started
    documents = [to_ubl(i, seller=SELLER) for i in issued]
    count = len(documents)
    build = best_of(repeat, lambda: [to_ubl(i, seller=SELLER) for i in issued]) / count
    xsd = best_of(repeat, lambda: [validate(d, schematron=False) for d in documents]) / count
    full = best_of(repeat, lambda: [validate(d) for d in documents]) / count
    fatal = sum(1 for d in documents for f in validate(d) if f.fatal)
    return {
        "einvoice_documents": count,
        "einvoice_fatal_failures": fatal,
        "einvoice_build_ms": round(build * 1000, 3),
        "einvoice_xsd_ms": round(xsd * 1000, 3),
        "einvoice_validate_ms": round(full * 1000, 3),
        "einvoice_validate_to_build_ratio": round(full / build, 1),
        "einvoice_schema_load_s": round(schema_s, 3),
        "einvoice_schematron_compile_s": round(compile_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(invoices=args.invoices, repeat=args.repeat), indent=2))


if __name__ == "__main__":
    main()
