"""Random strings (Morris et al. 2025): N sequences of S symbols uniform over V, a capacity
measurement with no names and no templates. Generation in ``data.py`` (bits in ``bits.py``), the
stream in ``stream.py``, measurement in ``measure.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kcap.kinds.base import DatasetKind, Estimate
from kcap.kinds.random_strings.data import RandomShape


class RandomStrings(DatasetKind):
    name = "random"
    command = "random"
    summary = "random strings"
    variants = ("plain",)
    uses_pools = False
    spec_section = "random"
    spec_params = RandomShape

    def cli(self):
        from kcap.kinds.random_strings.cli import data_random

        return data_random

    def check(self, data: dict) -> None:
        from kcap.kinds.random_strings.data import check_random_args

        check_random_args(data["people"], data["random"]["length"], data["random"]["alphabet"])

    def write(self, out: Path, data: dict, overwrite: bool = False) -> dict:
        from kcap.kinds.random_strings.data import write_random

        return write_random(out, data["people"], data["random"]["length"], data["random"]["alphabet"], data["seed"],
                            overwrite=overwrite)

    def load(self, path: Path, verify: bool = True) -> Any:
        from kcap.kinds.random_strings.data import load_random

        return load_random(path, verify)

    def stream(self, dataset: Any, exposures: int, seed: int = 0, popularity: float = 0.0) -> Any:
        from kcap.kinds.random_strings.stream import RandomStream

        return RandomStream(dataset, exposures, seed, popularity)

    def measure(self, model: Any, dataset: Any, params: dict, device: Any, batch: int, context: str) -> dict:
        from kcap.kinds.random_strings.measure import measure_random

        return measure_random(model, dataset, params, device, batch, context=context)

    def documents(self, dataset: Any):
        from kcap.kinds.random_strings.measure import measured_documents

        return measured_documents(dataset)

    def example(self) -> dict:
        return {"people": 24, "seed": 1, "variant": "plain", "random": {"length": 8, "alphabet": 6}}

    def table_rows(self, r: dict) -> list[tuple[str, str, str, str]]:
        return [("symbols (loss per sequence)", f"{r['value_loss']:.3f}", f"{r['symbol_accuracy']:.1%}",
                 f"{r['bits_terms']['values']:.0f}")]

    def estimate(self, data: dict) -> Estimate:
        length, alphabet = data["random"]["length"], data["random"]["alphabet"]
        return Estimate(min(alphabet, data["people"] * length) + 2, length + 1.0, length + 1)

    def name_tags(self, data: dict) -> list[str]:
        return ["random"]


KIND = RandomStrings()
