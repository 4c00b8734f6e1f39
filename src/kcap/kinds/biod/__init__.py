"""bioD(N, K, C, D, L, T) (SCIENCE.md §1): the paper's knowledge dial. Generation in ``data.py``
(bits in ``bits.py``), rendering and the stream in ``stream.py``, measurement in ``measure.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kcap.kinds.base import DatasetKind, Estimate
from kcap.kinds.biod.data import BioDParams


class BioD(DatasetKind):
    name = "bioD"
    command = "biod"
    summary = "bioD"
    spec_section = "biod"
    spec_params = BioDParams  # its option() fields; people is a top-level data key

    def cli(self):
        from kcap.kinds.biod.cli import data_biod

        return data_biod

    def _spec(self, data: dict) -> BioDParams:
        return BioDParams(people=data["people"], **data["biod"])

    def check(self, data: dict) -> None:
        self._spec(data)

    def write(self, out: Path, data: dict, overwrite: bool = False) -> dict:
        from kcap.kinds.biod.data import write_biod

        return write_biod(out, self._spec(data), data["seed"], data["variant"], overwrite=overwrite)

    def load(self, path: Path, verify: bool = True) -> Any:
        from kcap.kinds.biod.data import load_biod

        return load_biod(path, verify)

    def stream(self, dataset: Any, exposures: int, seed: int = 0, popularity: float = 0.0) -> Any:
        from kcap.kinds.biod.stream import BioDStream

        return BioDStream(dataset, exposures, seed, popularity)

    def measure(self, model: Any, dataset: Any, params: dict, device: Any, batch: int, context: str) -> dict:
        from kcap.kinds.biod.measure import measure_biod

        return measure_biod(model, dataset, params, device, batch, context=context)

    def documents(self, dataset: Any):
        from kcap.kinds.biod.measure import measured_documents

        return measured_documents(dataset)

    def example(self) -> dict:
        return {"people": 24, "seed": 1, "variant": "multi",
                "biod": {"attributes": 2, "chunks": 2, "diversity": 6, "chunk_len": 2, "alphabet": 5}}

    def table_rows(self, r: dict) -> list[tuple[str, str, str, str]]:
        t = r["bits_terms"]
        rows = [("name (p1)", f"{r['name_loss']:.3f}", "", f"{t['name']:.0f}")]
        rows += [(a, f"{v['loss']:.3f}", f"{v['accuracy']:.1%}", "") for a, v in r["attributes"].items()]
        return rows + [("values (p2')", f"{r['value_loss']:.3f}", "", f"{t['values']:.0f}"),
                       ("diversity (p3)", f"{r['first_chunk_loss']:.3f}", "", f"{t['diversity']:.0f}")]

    def estimate(self, data: dict) -> Estimate:
        from kcap.kinds.biod.plan import estimate_biod

        return estimate_biod(data)

    def describe(self, dataset: Any) -> dict:
        return {"spec": dataset.meta["spec"]}

    def describe_line(self, facts: dict) -> str:
        sp = facts["spec"]
        return (f"bioD K={sp['attributes']} C={sp['chunks']} D={sp['diversity']} L={sp['chunk_len']} "
                f"T={sp['alphabet']}")


KIND = BioD()
