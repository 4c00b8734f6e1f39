"""The record every dataset kind gives the rest of kcap.

A kind is one package under ``kcap/kinds/`` (or a plugin module anywhere) holding its generation,
its training stream and its measurement, and one ``DatasetKind`` object that says how to reach
them. Everything outside the package reads the registry (``kcap.kinds``), never a kind's modules:
``kcap data <command>``, ``kcap train``, ``kcap measure``, ``kcap data stats``, sweep specs and
plans, and the terminal tables all go through the methods below. Recipe: docs/extending.md.

Heavy modules (torch, for measurement) are imported inside the methods that need them, so that
listing kinds, planning sweeps and ``kcap --help`` stay fast and torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

SAMPLE_PEOPLE = 20_000  # plan estimates come from the population itself up to this size, else a sample


@dataclass(frozen=True)
class Estimate:
    """What planning needs to know of a dataset's stream before it exists (exact or sampled)."""

    vocab: int  # tokenizer entries
    mean_doc: float  # tokens per document (separator included)
    longest_doc: int  # the longest a document can be: a training window must hold it
    useful_share: float = 1.0  # share of stream tokens that are measured knowledge (junk: 1 - F)


class DatasetKind:
    """One dataset kind. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]  # the value of ``kind`` in dataset.json and in sweep specs ("bioS")
    command: ClassVar[str]  # ``kcap data <command>``
    summary: ClassVar[str]  # one line, for help texts
    variants: ClassVar[tuple[str, ...]] = ("multi", "simple")  # the first is the default
    uses_pools: ClassVar[bool] = True  # built from the shipped pools (names, templates)
    spec_section: ClassVar[str | None] = None  # a sweep spec's ``data.<section>`` of kind parameters
    spec_params: ClassVar[type | None] = None  # dataclass whose option() fields are that section's keys

    # --- generation and loading ---
    def cli(self) -> Callable[..., None]:
        """The typer command function of ``kcap data <command>``."""
        raise NotImplementedError

    def write(self, out: Path, data: dict, overwrite: bool = False) -> dict:
        """Generate a dataset from a sweep spec's resolved ``data`` mapping (people, seed, variant,
        and the kind's section); returns dataset.json's content. ``out`` must be absent or empty,
        or hold a dataset and ``overwrite`` be set (``kcap.knowledge.datasets.check_out_dir``)."""
        raise NotImplementedError

    def check(self, data: dict) -> None:
        """Raise KcapError if a spec's ``data`` does not make a valid dataset (nothing written)."""

    def load(self, path: Path, verify: bool = True) -> Any:
        raise NotImplementedError

    # --- training stream ---
    def stream(self, dataset: Any, exposures: int, seed: int = 0, popularity: float = 0.0) -> Any:
        """The E-exposure training stream (see ``kcap.corpus.windows.WindowedStream``); with
        ``popularity`` s > 0, each round's documents are drawn from a Zipf law of exponent s
        (``kcap.corpus.popularity``; a kind that cannot do that raises KcapError, and a kind whose
        ``stream`` has no such parameter is only ever called without it)."""
        raise NotImplementedError

    # --- measurement ---
    def measure(self, model: Any, dataset: Any, params: dict, device: Any, batch: int, context: str) -> dict:
        """Bits stored by ``model`` (``kcap.measure.losses.summary`` fields plus the kind's own),
        each document read after another one (``context="previous"``, as in training) or alone
        (``"none"``): pass ``context`` to ``kcap.measure.losses.token_losses``."""
        raise NotImplementedError

    def documents(self, dataset: Any) -> Callable[[Any], Any]:
        """What measurement reads: a function of document indices (an int array) that renders
        them, one fixed rendering each, as a ``kcap.corpus.gather.Rendered`` (tests feed these to
        a perfect memorizer, which must score exactly bits_max)."""
        raise NotImplementedError

    def example(self) -> dict:
        """A small ``data`` mapping of this kind (people, seed, variant, its section) for tests."""
        raise NotImplementedError

    def table_rows(self, result: dict) -> list[tuple[str, str, str, str]]:
        """Rows (term, loss, accuracy, bits) of ``kcap measure``'s table for one measurement."""
        return [(k, "", "", f"{v:.0f}") for k, v in result["bits_terms"].items()]

    # --- planning and description ---
    def estimate(self, data: dict) -> Estimate:
        """Vocabulary and document lengths of the dataset a spec's ``data`` would generate."""
        raise NotImplementedError

    def name_tags(self, data: dict) -> list[str]:
        """What a planned run's name says about its data beyond N (bioS multi: nothing)."""
        tags = [self.name]
        if data.get("variant") == "simple":
            tags.append("simple")
        return tags

    def describe(self, dataset: Any) -> dict:
        """Kind-specific facts for ``kcap data stats --json`` (bioD: its spec; bioS: junk)."""
        return {}

    def describe_line(self, facts: dict) -> str:
        """Those facts as one line of ``kcap data stats`` ("" for none)."""
        return ""
