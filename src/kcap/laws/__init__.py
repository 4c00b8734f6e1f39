"""Scaling laws fitted to runs: the Chinchilla compute law and the knowledge-capacity law.

Pure numpy/scipy, no torch: fits can be redone from a run store on any machine.
"""

from kcap.laws.capacity import bits_for_params, fit_capacity
from kcap.laws.compute import (
    approach3_loss,
    bootstrap_approach3,
    fit_approach1,
    fit_approach2,
    fit_approach3,
    fit_compute_law,
)
from kcap.laws.optimal import (
    CHINCHILLA,
    CHINCHILLA_REFIT,
    PAPER_CAPACITY,
    frontier,
    optimal_allocation,
    tokens_for_params,
)

__all__ = [
    "CHINCHILLA",
    "CHINCHILLA_REFIT",
    "PAPER_CAPACITY",
    "approach3_loss",
    "bits_for_params",
    "bootstrap_approach3",
    "fit_approach1",
    "fit_approach2",
    "fit_approach3",
    "fit_capacity",
    "fit_compute_law",
    "frontier",
    "optimal_allocation",
    "tokens_for_params",
]
