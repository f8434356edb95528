"""How the reports write numbers."""

from __future__ import annotations


def fmt_s(value: object, unit: str = " s") -> str:
    """A figure with its unit: 2 decimals under 10, 1 under 100 (none when whole), none above; "—" when it is
    not a number (None, text, a bool)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    if value == 0:
        return f"0{unit}"
    if abs(value) < 10:
        return f"{value:.2f}{unit}"
    if abs(value) < 100 and value != int(value):
        return f"{value:.1f}{unit}"
    return f"{value:.0f}{unit}"
