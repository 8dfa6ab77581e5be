"""``freeze_raw``: the remote payload, read-only all the way down, leaves untouched."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from invoicing_bridge.models import freeze_raw


class Text(str):
    pass


def test_every_mapping_and_list_is_frozen_and_every_leaf_kept() -> None:
    amount = Decimal("32999.9961")
    label = Text("kept as it is")
    payload: dict[str, Any] = {
        "id": "12",
        "total": amount,
        "count": 3,
        "rate": 0.15,
        "draft": False,
        "notes": None,
        "label": label,
        "items": [{"qty": Decimal("1"), "taxes": [1, 2]}, ("a", {"b": []})],
        "ordered": OrderedDict(z=1, a=[{"x": 1}]),
    }
    frozen = freeze_raw(payload)
    assert isinstance(frozen, MappingProxyType)
    assert frozen["total"] is amount and frozen["label"] is label
    assert frozen["count"] == 3 and frozen["rate"] == 0.15
    assert frozen["draft"] is False and frozen["notes"] is None
    items = frozen["items"]
    assert isinstance(items, tuple) and isinstance(items[0], MappingProxyType)
    assert items[0]["taxes"] == (1, 2)
    assert items[1] == ("a", MappingProxyType({"b": ()}))
    assert isinstance(frozen["ordered"], MappingProxyType)
    assert list(frozen["ordered"]) == ["z", "a"]
    assert isinstance(frozen["ordered"]["a"][0], MappingProxyType)
    with pytest.raises(TypeError):
        frozen["items"][0]["qty"] = 2  # type: ignore[index]
    payload["items"][0]["qty"] = 5  # the frozen copy does not follow the original
    assert items[0]["qty"] == Decimal("1")


def test_none_is_an_empty_mapping_and_a_frozen_one_is_kept() -> None:
    assert freeze_raw(None) == {}
    frozen = freeze_raw({"a": 1})
    assert freeze_raw(frozen) is frozen
