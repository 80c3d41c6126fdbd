"""Every number in the report is formatted here, and only here.

Templates receive strings made by these functions from the result objects
(:class:`myotrial.stats.EstimateResult`, :class:`myotrial.stats.TestResult`, ...), never raw
numbers to round themselves; the report's tests parse the HTML and compare each cell with the
result object it came from. Conventions:

* risk differences are shown in percentage points (estimate x 100), one decimal;
* odds ratios and mean differences: :data:`DIGITS` by effect (2 decimals);
* confidence intervals as ``lower to upper`` (no hyphen that could be read as a minus sign);
* negative numbers with a true minus sign (U+2212);
* p-values: ``<0.0001``, four decimals below 0.001, three otherwise, ``>0.999`` at the top;
* a median that was not reached is ``NR``; any other missing value is an en dash;
* an empty group is ``no patients`` (never ``0/0 (0.0%)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type only: formatting a number loads no statistics stack
    from myotrial.stats import EstimateResult

__all__ = [
    "DIGITS",
    "MINUS",
    "MISSING",
    "NOT_REACHED",
    "NO_PATIENTS",
    "estimate_scale",
    "format_ci",
    "format_count_pct",
    "format_estimate",
    "format_mean_sd",
    "format_median",
    "format_number",
    "format_p_equals",
    "format_p_value",
    "format_pct",
    "parse_number",
]

MINUS = "\u2212"
MISSING = "\u2013"
NOT_REACHED = "NR"

#: Decimals of an effect by its kind (risk differences are shown x 100, in percentage points).
DIGITS: Mapping[str, int] = {
    "risk_difference": 1,
    "odds_ratio": 2,
    "mean_difference": 2,
}


def _missing(value: float | int | None) -> bool:
    return value is None or math.isnan(float(value))


def format_number(value: float | int | None, digits: int = 1) -> str:
    """``value`` rounded to ``digits`` decimals, with a true minus sign; missing -> en dash.

    >>> format_number(-1.25, 2)
    '\u22121.25'
    """
    if value is None or math.isnan(float(value)):
        return MISSING
    text = f"{float(value):.{digits}f}"
    if text.startswith("-"):
        # -0.0 is shown as 0.0
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def parse_number(text: str) -> float:
    """Inverse of :func:`format_number` for tests and tools (``NR``/en dash -> NaN)."""
    t = text.strip().replace(MINUS, "-").rstrip("%")
    if t in (MISSING, NOT_REACHED, ""):
        return math.nan
    return float(t.lstrip("<>"))


def estimate_scale(effect: str) -> float:
    """Display scale of an effect: 100 for risk differences (percentage points), else 1."""
    return 100.0 if effect == "risk_difference" else 1.0


def format_ci(lower: float | None, upper: float | None, digits: int = 1) -> str:
    """``lower to upper``."""
    return f"{format_number(lower, digits)} to {format_number(upper, digits)}"


def format_estimate(est: EstimateResult, *, digits: int | None = None) -> str:
    """``estimate (lower to upper)`` of a result, on the display scale of its effect.

    >>> from myotrial.stats import risk_difference
    >>> format_estimate(risk_difference(x1=37, n1=47, x2=21, n2=48))
    '35.0 (16.7 to 53.2)'
    """
    scale = estimate_scale(est.effect)
    d = DIGITS.get(est.effect, 2) if digits is None else digits
    return (
        f"{format_number(est.estimate * scale, d)} "
        f"({format_ci(est.lower * scale, est.upper * scale, d)})"
    )


def format_p_value(p: float | None) -> str:
    """A p-value: ``<0.0001``, ``0.0007``, ``0.042``, ``>0.999``; missing -> en dash."""
    if p is None or math.isnan(float(p)):
        return MISSING
    if p < 0.0001:
        return "<0.0001"
    if p < 0.001:
        return f"{p:.4f}"
    if p > 0.999:
        return ">0.999"
    return f"{p:.3f}"


def format_p_equals(p: float | None) -> str:
    """``p = 0.012`` or ``p < 0.0001`` (for running text and figure labels)."""
    text = format_p_value(p)
    return f"p {text[0]} {text[1:]}" if text[:1] in "<>" else f"p = {text}"


def format_pct(x: int | float, n: int | float, digits: int = 1) -> str:
    """``100 x / n`` with a percent sign; n = 0 -> en dash."""
    if not n:
        return MISSING
    return f"{format_number(100.0 * x / n, digits)}%"


#: Text for a count of an empty group (never ``0/0 (0.0%)``).
NO_PATIENTS = "no patients"


def format_count_pct(x: int | float, n: int | float, digits: int = 1) -> str:
    """``x/n (p%)``, e.g. ``37/47 (78.7%)``; ``no patients`` when n = 0."""
    if not n:
        return NO_PATIENTS
    return f"{int(x)}/{int(n)} ({format_pct(x, n, digits)})"


def format_mean_sd(mean: float | None, sd: float | None, digits: int = 1) -> str:
    """``mean (SD)``."""
    return f"{format_number(mean, digits)} ({format_number(sd, digits)})"


def format_median(value: float | None, digits: int = 0) -> str:
    """A median time: ``NR`` when not reached (NaN)."""
    if _missing(value):
        return NOT_REACHED
    return format_number(value, digits)
