"""Sweeps: experiment specs (YAML), the size ladder, planning, and local and Ray backends.

    spec (YAML) -> validate -> expand (grid x list, ladder, paper defaults) -> plan (ids, estimates)
    -> check what this kcap can run -> datasets (once each) -> backend runs what is not done

``kcap sweep plan|run|status SPEC`` are thin wrappers over ``plan_spec``, ``run_sweep`` and
``sweep_status``.
"""

from kcap.sweep.runner import plan_spec, run_planned, run_sweep, sweep_status

__all__ = ["plan_spec", "run_planned", "run_sweep", "sweep_status"]
