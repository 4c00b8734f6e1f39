"""Benchmark: the full 4,500-start Approach 3 fit (SCIENCE.md §5) on synthetic points.

Points come from a known law with 0.5% multiplicative noise; reports the wall time of the whole
fit (the issue's bar: at most 30 s for ~250 points on 2 CPU cores) and how close it lands.

    python bench/fit_compute.py --points 250
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from kcap.laws import compute


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=250)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    E, A, B, al, be = 1.82, 482.0, 2085.0, 0.348, 0.366
    n = np.exp(rng.uniform(np.log(1e6), np.log(1e10), a.points))
    d = np.exp(rng.uniform(np.log(1e8), np.log(1e12), a.points))
    loss = (E + A / n**al + B / d**be) * np.exp(rng.normal(0, 0.005, a.points))
    t = time.perf_counter()
    fit = compute.fit_approach3(n, d, loss)
    wall = time.perf_counter() - t
    r = {"points": a.points, "starts": fit["n_starts"], "wall_s": wall, "alpha": fit["alpha"], "beta": fit["beta"],
         "E": fit["E"], "true": {"E": E, "alpha": al, "beta": be}}
    if a.json:
        print(json.dumps(r))
    else:
        print(f"Approach 3, {a.points} points x {fit['n_starts']} starts: {wall:.1f}s; "
              f"alpha {fit['alpha']:.3f} (true {al}), beta {fit['beta']:.3f} (true {be}), E {fit['E']:.3f} (true {E})")


if __name__ == "__main__":
    main()
