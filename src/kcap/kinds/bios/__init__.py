"""bioS (SCIENCE.md §1): synthetic biographies of N people, multi or simple, with optional junk
and domain token. Generation in ``data.py`` (bits in ``bits.py``), rendering in ``render.py``, the
stream in ``stream.py`` (junk in ``junk.py``), measurement in ``measure.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kcap.errors import KcapError
from kcap.kinds.base import DatasetKind, Estimate
from kcap.kinds.bios.plan import JunkOptions, bios_tags, estimate_bios

# spec key -> write_bios keyword
_JUNK_ARGS = {"fraction": "junk_fraction", "people": "junk_people", "domain_token": "domain_token"}


class BioS(DatasetKind):
    name = "bioS"
    command = "bios"
    summary = "bioS"
    spec_section = "junk"
    spec_params = JunkOptions

    def cli(self):
        from kcap.kinds.bios.cli import data_bios

        return data_bios

    def write(self, out: Path, data: dict, overwrite: bool = False) -> dict:
        from kcap.kinds.bios.data import write_bios

        junk = {_JUNK_ARGS[k]: v for k, v in data.get("junk", {}).items()}
        return write_bios(out, data["people"], data["seed"], data["variant"], overwrite=overwrite, **junk)

    def load(self, path: Path, verify: bool = True) -> Any:
        from kcap.kinds.bios.data import load_bios

        return load_bios(path, verify)

    def stream(self, dataset: Any, exposures: int, seed: int = 0, popularity: float = 0.0) -> Any:
        from kcap.kinds.bios.stream import BioStream

        if dataset.junk and popularity:
            raise KcapError(f"{dataset.path}: a popularity law and junk data do not combine (junk windows "
                            "are spread by exposure rounds); use a dataset without junk")
        stream = BioStream(dataset, exposures, seed, popularity)
        if dataset.junk:
            from kcap.kinds.bios.junk import JunkStream

            return JunkStream(stream, seed)
        return stream

    def measure(self, model: Any, dataset: Any, params: dict, device: Any, batch: int, context: str) -> dict:
        from kcap.kinds.bios.measure import measure_bios

        return measure_bios(model, dataset, params, device, batch, context=context)

    def documents(self, dataset: Any):
        from kcap.kinds.bios.measure import measured_documents

        return measured_documents(dataset)

    def example(self) -> dict:
        return {"people": 24, "seed": 1, "variant": "multi"}

    def table_rows(self, r: dict) -> list[tuple[str, str, str, str]]:
        rows = [("name (p1)", f"{r['name_loss']:.3f}", "", f"{r['bits_terms']['name']:.0f}")]
        return rows + [(a, f"{v['loss']:.3f}", f"{v['accuracy']:.1%}", f"{v['bits']:.0f}")
                       for a, v in r["attributes"].items()]

    def estimate(self, data: dict) -> Estimate:
        return estimate_bios(data)

    def name_tags(self, data: dict) -> list[str]:
        return bios_tags(data)

    def describe(self, dataset: Any) -> dict:
        return {"junk": dataset.junk} if dataset.junk else {}

    def describe_line(self, facts: dict) -> str:
        j = facts.get("junk")
        if not j:
            return ""
        who = f"{j['people']:,} junk people" if j["people"] else "fresh junk people"
        return f"junk {j['fraction']:g} of tokens from {who}"


KIND = BioS()
