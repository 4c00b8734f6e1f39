"""The name and attribute pools and sentence templates of bioS, shipped as versioned package data.

Every pool is a tuple of distinct strings; a person stores an *index* into each pool, never text.
Changing any pool changes every dataset built from it, so pools are versioned by folder
(``pools/v1``) and the version is recorded in each ``dataset.json``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from kcap.errors import KcapError

POOL_VERSION = "v1"

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
DAYS = tuple(str(d) for d in range(1, 29))  # 28 days: every month has them
YEARS = tuple(str(y) for y in range(1900, 2100))  # 200 years

# The six sentences of a biography, in canonical order. Gender has no sentence of its own:
# it is carried by the pronouns (He/She, his/her).
SENTENCE_ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer", "working_city")
PRONOUNS = {"subject": ("He", "She"), "possessive": ("his", "her")}  # index = gender

# Pool sizes required by SCIENCE.md §1; checked on load so a bad edit cannot slip through.
EXPECTED_SIZES = {
    "first_names": 400, "middle_names": 400, "last_names": 1000, "cities": 200,
    "universities": 300, "majors": 100, "companies": 263,
}
TEMPLATES_PER_ATTRIBUTE = 50


@dataclass(frozen=True)
class Pools:
    version: str
    first_names: tuple[str, ...]
    middle_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    universities: tuple[str, ...]
    majors: tuple[str, ...]
    companies: tuple[str, ...]
    company_city: tuple[int, ...]  # index into ``cities`` of each company's headquarters
    templates: dict[str, tuple[str, ...]]  # sentence attribute -> templates


def _read_lines(folder, name: str) -> tuple[str, ...]:
    text = (folder / name).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


@functools.cache
def load_pools(version: str = POOL_VERSION) -> Pools:
    """Load and validate one version of the shipped pools."""
    folder = resources.files("kcap.knowledge") / "pools" / version
    if not folder.is_dir():
        raise KcapError(f"unknown pool version {version!r}")
    lists = {name: _read_lines(folder, f"{name}.txt") for name in
             ("first_names", "middle_names", "last_names", "cities", "universities", "majors")}
    companies, company_city = [], []
    city_index = {c: i for i, c in enumerate(lists["cities"])}
    for line in _read_lines(folder, "companies.tsv"):
        company, city = line.split("\t")
        companies.append(company)
        company_city.append(city_index[city])
    templates = yaml.safe_load((folder / "templates.yaml").read_text(encoding="utf-8"))
    pools = Pools(version=version, companies=tuple(companies), company_city=tuple(company_city),
                  templates={a: tuple(templates[a]) for a in SENTENCE_ATTRIBUTES}, **lists)
    for name, size in EXPECTED_SIZES.items():
        values = getattr(pools, name)
        if len(values) != size or len(set(values)) != size:
            raise KcapError(f"pool {version}/{name} must hold {size} distinct entries, has {len(set(values))}")
    for attr, ts in pools.templates.items():
        if len(ts) != TEMPLATES_PER_ATTRIBUTE:
            raise KcapError(f"pool {version}/templates.yaml: {attr} needs {TEMPLATES_PER_ATTRIBUTE} templates")
    return pools
