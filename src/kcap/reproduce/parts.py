"""A part of a claim: one number the paper states, what kcap measured, and the runs behind it."""

from __future__ import annotations

from dataclasses import dataclass, field

from kcap.reproduce.verdict import Measured, Paper, verdict


@dataclass
class Part:
    """One number of a claim: the paper's, kcap's (None: not run) and the runs behind kcap's."""

    label: str
    paper: Paper
    measured: Measured | None
    runs: list[str] = field(default_factory=list)
    note: str = ""
    data: dict = field(default_factory=dict)
    """Numbers behind the part that claims.json carries (e.g. C9's crossing FLOPs)."""
    untestable: bool = False
    """The runs ran, but cannot test the claim (the reference stored almost nothing, so a ratio is
    noise): the value is shown, the verdict is *not run*, and ``note`` says why."""

    @property
    def verdict(self) -> str:
        return "not run" if self.untestable else verdict(self.paper, self.measured)
