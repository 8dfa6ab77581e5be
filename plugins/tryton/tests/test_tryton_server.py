"""The test server itself: it runs the invoicing modules and answers a JSON-RPC login,
with the company, chart, taxes and payment methods the other tests rely on."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.timeout(1200)  # the first run builds the cached database


def _rpc(server: dict[str, Any], method: str, *params: Any, session: Any = None) -> Any:
    headers = {}
    if session is not None:
        token = f"{server['login']}:{session[0]}:{session[1]}"
        headers["Authorization"] = "Session " + base64.b64encode(token.encode()).decode()
    answer = requests.post(
        f"{server['base_url']}/{server['database']}/rpc/",
        json={"id": 1, "method": method, "params": list(params)},
        headers=headers,
        timeout=60,
    ).json()
    assert "result" in answer, answer
    return answer["result"]


def test_server_answers_a_login_and_has_the_invoicing_setup(
    tryton_server: dict[str, Any],
) -> None:
    session = _rpc(
        tryton_server, "common.db.login", "admin", {"password": tryton_server["password"]}
    )
    assert isinstance(session[0], int) and session[1]
    context = _rpc(tryton_server, "model.res.user.get_preferences", True, {}, session=session)
    assert context["company"]
    taxes = _rpc(
        tryton_server,
        "model.account.tax.search_read",
        [],
        0,
        None,
        [["name", "ASC"]],
        ["name", "rate"],
        context,
        session=session,
    )
    rates = {t["name"]: Decimal(t["rate"]["decimal"]) for t in taxes}
    assert rates["VAT"] == Decimal("0.15") and rates["ضريبة القيمة المضافة"] == Decimal("0.14")
    methods = _rpc(
        tryton_server,
        "model.account.invoice.payment.method.search_read",
        [],
        0,
        None,
        [["name", "ASC"]],
        ["name"],
        context,
        session=session,
    )
    assert [m["name"] for m in methods] == ["Bank transfer", "Card", "Cash", "Cheque"]


def test_wrong_password_is_refused(tryton_server: dict[str, Any]) -> None:
    answer = requests.post(
        f"{tryton_server['base_url']}/{tryton_server['database']}/rpc/",
        json={"id": 1, "method": "common.db.login", "params": ["admin", {"password": "no"}]},
        timeout=60,
    )
    assert answer.status_code == 401
