"""Currencies and amounts.

Amounts are Python ``int`` in minor units, strictly between 0 and 2^63. Floats,
bools, strings and Decimals never enter the core: :func:`check_amount` refuses
them. A currency is an ISO 4217 code with its exponent, or a unit a tenant
defined for itself (chips, credits) with its own exponent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from strongroom.domain.errors import UnknownCurrency, ValidationError

MAX_AMOUNT = 2**63 - 1
"""The largest amount, and the largest running sum, that the ledger stores."""

# ISO 4217 active codes and their minor-unit exponents (amendment 176).
_ISO_4217: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2,
    "AUD": 2, "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2,
    "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2, "BSD": 2,
    "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2,
    "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2,
    "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2,
    "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2,
    "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2,
    "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2,
    "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
    "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2,
    "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2,
    "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2,
    "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2,
    "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2,
    "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2,
    "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2,
    "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2,
    "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2,
    "UGX": 0, "USD": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2,
    "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2,
    "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

_UNIT_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,15}")  # fullmatch: a "$" lets "\n" through
MAX_EXPONENT = 18


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency or a tenant-defined unit, with the exponent of its minor unit."""

    code: str
    exponent: int
    iso: bool = True


def iso_currency(code: str) -> Currency | None:
    """The ISO 4217 currency with this code, or ``None``."""
    exponent = _ISO_4217.get(code)
    return None if exponent is None else Currency(code, exponent, iso=True)


def define_unit(code: str, exponent: int) -> Currency:
    """Validate a tenant-defined unit such as ``CHIPS`` (exponent 0) or ``CREDITS``."""
    if not isinstance(code, str) or not _UNIT_CODE.fullmatch(code):
        raise ValidationError(
            "a unit code is 2 to 16 characters: an uppercase letter, then uppercase "
            "letters, digits or underscores",
            loc=("code",),
        )
    if code in _ISO_4217:
        raise ValidationError(f"{code} is an ISO 4217 currency already", loc=("code",))
    if type(exponent) is not int or not 0 <= exponent <= MAX_EXPONENT:
        raise ValidationError(
            f"exponent must be an integer from 0 to {MAX_EXPONENT}", loc=("exponent",)
        )
    return Currency(code, exponent, iso=False)


def resolve_currency(code: Any, units: dict[str, Currency]) -> Currency:
    """The currency named ``code``: ISO 4217 first, then the tenant's own units."""
    if not isinstance(code, str) or not code:
        raise ValidationError("currency must be a non-empty string", loc=("currency",))
    found = iso_currency(code) or units.get(code)
    if found is None:
        raise UnknownCurrency(f"unknown currency {code!r}", currency=code)
    return found


def check_amount(value: Any, *, loc: tuple[str | int, ...] = ("amount",)) -> int:
    """Return ``value`` if it is a valid amount: an int (not bool), 0 < value < 2^63."""
    if type(value) is not int:
        kind = type(value).__name__
        raise ValidationError(
            f"amount must be an integer number of minor units, not {kind}", loc=loc
        )
    if value <= 0:
        raise ValidationError("amount must be greater than zero", loc=loc)
    if value > MAX_AMOUNT:
        raise ValidationError("amount must be less than 2^63", loc=loc)
    return value
