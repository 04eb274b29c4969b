"""Currencies' minor units (ISO 4217 exponents): rounding and validating money amounts.

A yen has no minor unit, a Kuwaiti dinar has three (fils): an amount is exact in its currency
when it has no more decimal places than the currency's exponent. Codes not listed have two.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

#: ISO 4217 exponents that differ from 2 (the list maintained by SIX, the ISO 4217 agency).
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    # no minor unit
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # thousandths
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}
DEFAULT_EXPONENT = 2


def exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (JPY 0, EUR 2, KWD 3)."""
    return MINOR_UNIT_EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``1``, ``0.01`` or ``0.001``."""
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal, currency: str, *, half_even: bool = False) -> Decimal:
    """``amount`` rounded to ``currency``'s minor unit: half up (commercial rounding, as
    shops total orders) unless ``half_even`` (bankers' rounding, as Tryton rounds)."""
    return amount.quantize(minor_unit(currency), ROUND_HALF_EVEN if half_even else ROUND_HALF_UP)


def is_exact(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` is a whole number of ``currency``'s minor units (``1500.0`` JPY is,
    ``19.999`` EUR is not)."""
    if not amount.is_finite():
        return False
    return amount == amount.quantize(minor_unit(currency), ROUND_HALF_EVEN)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` as an integer count of minor units; ValueError unless it is exact."""
    if not is_exact(amount, currency):
        raise ValueError(f"{amount} is not a whole number of {currency} minor units")
    return int(amount.scaleb(exponent(currency)))


def from_minor_units(units: int, currency: str) -> Decimal:
    """An integer count of minor units as a Decimal amount of ``currency``."""
    return Decimal(units).scaleb(-exponent(currency)).quantize(minor_unit(currency))
