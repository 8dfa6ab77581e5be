"""Perfex's ``tblcountries`` ids (``country``, ``billing_country``, ``shipping_country``).

The table ships with every Perfex install (250 rows, ``country_id`` 1-250, in the order
below); ``"0"`` means no country. Only the ISO 3166-1 alpha-2 code is kept here.
"""

from __future__ import annotations

__all__ = ["country_code", "country_id"]

# fmt: off
_ISO2_BY_ID = (
    "AF", "AX", "AL", "DZ", "AS", "AD", "AO", "AI", "AQ", "AG", "AR", "AM", "AW", "AU", "AT", "AZ",
    "BS", "BH", "BD", "BB", "BY", "BE", "BZ", "BJ", "BM", "BT", "BO", "BQ", "BA", "BW", "BV", "BR",
    "IO", "BN", "BG", "BF", "BI", "KH", "CM", "CA", "CV", "KY", "CF", "TD", "CL", "CN", "CX", "CC",
    "CO", "KM", "CG", "CK", "CR", "CI", "HR", "CU", "CW", "CY", "CZ", "CD", "DK", "DJ", "DM", "DO",
    "EC", "EG", "SV", "GQ", "ER", "EE", "ET", "FK", "FO", "FJ", "FI", "FR", "GF", "PF", "TF", "GA",
    "GM", "GE", "DE", "GH", "GI", "GR", "GL", "GD", "GP", "GU", "GT", "GG", "GN", "GW", "GY", "HT",
    "HM", "HN", "HK", "HU", "IS", "IN", "ID", "IR", "IQ", "IE", "IM", "IL", "IT", "JM", "JP", "JE",
    "JO", "KZ", "KE", "KI", "XK", "KW", "KG", "LA", "LV", "LB", "LS", "LR", "LY", "LI", "LT", "LU",
    "MO", "MK", "MG", "MW", "MY", "MV", "ML", "MT", "MH", "MQ", "MR", "MU", "YT", "MX", "FM", "MD",
    "MC", "MN", "ME", "MS", "MA", "MZ", "MM", "NA", "NR", "NP", "NL", "NC", "NZ", "NI", "NE", "NG",
    "NU", "NF", "KP", "MP", "NO", "OM", "PK", "PW", "PS", "PA", "PG", "PY", "PE", "PH", "PN", "PL",
    "PT", "PR", "QA", "RE", "RO", "RU", "RW", "BL", "SH", "KN", "LC", "MF", "PM", "VC", "WS", "SM",
    "ST", "SA", "SN", "RS", "SC", "SL", "SG", "SX", "SK", "SI", "SB", "SO", "ZA", "GS", "KR", "SS",
    "ES", "LK", "SD", "SR", "SJ", "SZ", "SE", "CH", "SY", "TW", "TJ", "TZ", "TH", "TL", "TG", "TK",
    "TO", "TT", "TN", "TR", "TM", "TC", "TV", "UG", "UA", "AE", "GB", "US", "UM", "UY", "UZ", "VU",
    "VA", "VE", "VN", "VG", "VI", "WF", "EH", "YE", "ZM", "ZW",
)
# fmt: on

_ID_BY_ISO2 = {code: str(index) for index, code in enumerate(_ISO2_BY_ID, start=1)}


def country_code(country_id: object) -> str | None:
    """ISO alpha-2 code of a Perfex country id (``"66"`` → ``"EG"``); None for 0 or unknown."""
    try:
        index = int(str(country_id))
    except ValueError:
        return None
    if 1 <= index <= len(_ISO2_BY_ID):
        return _ISO2_BY_ID[index - 1]
    return None


def country_id(code: str | None) -> str | None:
    """Perfex country id of an ISO alpha-2 code (``"EG"`` → ``"66"``); None when unknown."""
    if not code:
        return None
    return _ID_BY_ISO2.get(code.strip().upper())
