import re

from kcap.knowledge.pools import (
    EXPECTED_SIZES,
    SENTENCE_ATTRIBUTES,
    TEMPLATES_PER_ATTRIBUTE,
    load_pools,
)


def test_pool_sizes_and_distinctness():
    p = load_pools()
    for name, size in EXPECTED_SIZES.items():
        values = getattr(p, name)
        assert len(values) == size == len(set(values)), name
    assert len(p.company_city) == 263
    assert all(0 <= c < len(p.cities) for c in p.company_city)


def test_name_words_are_single_unique_tokens():
    p = load_pools()
    words = p.first_names + p.middle_names + p.last_names
    assert len(set(words)) == 1800
    assert all(re.fullmatch(r"[A-Z][a-z]+", w) for w in words)


def test_templates():
    p = load_pools()
    for attr in SENTENCE_ATTRIBUTES:
        ts = p.templates[attr]
        assert len(set(ts)) == TEMPLATES_PER_ATTRIBUTE
        for t in ts:
            assert t.startswith("{subject}") and t.count("{value}") == 1 and t.endswith(".")
