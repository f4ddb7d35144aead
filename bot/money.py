"""Money is integer fen everywhere; these helpers format it for people."""

from __future__ import annotations


def yuan(amount_fen: int) -> str:
    """Formats fen as yuan with two decimals: ``3650 -> '36.50'``, ``-5800 -> '-58.00'``."""
    sign = "-" if amount_fen < 0 else ""
    whole, fen = divmod(abs(int(amount_fen)), 100)
    return f"{sign}{whole}.{fen:02d}"


def mask_phone(phone: str) -> str:
    """Masks a mobile number for display: ``13800138000 -> '138****8000'``."""
    if len(phone) != 11 or not phone.isdigit():
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"
