"""Number formatting shared by tables, figures and the CLI: one home for SI suffixes."""

from __future__ import annotations

# Largest first: the first scale a number reaches names its unit.
SI_UNITS = (("Y", 1e24), ("Z", 1e21), ("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))


def si(x: float | None, spec: str = ".3g", small: str | None = None) -> str:
    """``x`` with an SI suffix and its mantissa formatted by ``spec``: si(2.5e7) == "25M".

    ``small`` formats numbers below 1000, which get no suffix (default: ``spec``), e.g. ".0f"
    keeps small counts whole where ``spec`` shows decimals. None prints as "-": an unknown
    quantity in a table.
    """
    if x is None:
        return "-"
    for unit, scale in SI_UNITS:
        if abs(x) >= scale:
            return f"{x / scale:{spec}}{unit}"
    return f"{x:{small or spec}}"
