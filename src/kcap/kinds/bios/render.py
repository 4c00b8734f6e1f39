"""Render bioS biographies straight into token ids, many at once, with exact value spans.

A biography is a fixed sequence of 49 *segments*, each a (start, length) slice of one flat token
array, the atlas, that holds every template piece and pool entry once:

    [sep] + 6 sentences x [subj0 subj1 subj2 | pre | val0 val1 val2 | post]

Unused segments have length 0 (a pronoun subject uses subj0 only; only a birth date uses three
value segments: month, "day ,", year). Rendering B biographies is then one vectorized gather
over B*49 slices, with no per-token Python, and every span (name, each value, first pronoun) is
known exactly from the segment lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kcap.corpus.gather import Rendered, gather_ranges
from kcap.kinds.bios.data import value_strings
from kcap.knowledge.people import COL
from kcap.knowledge.pools import PRONOUNS, SENTENCE_ATTRIBUTES, Pools
from kcap.knowledge.tokenizer import DOMAIN, SEPARATOR, UNKNOWN, split_words

N_ATTR = len(SENTENCE_ATTRIBUTES)
SEG_PER_SENTENCE = 8
SEGMENTS = 1 + N_ATTR * SEG_PER_SENTENCE  # 49
A = {a: i for i, a in enumerate(SENTENCE_ATTRIBUTES)}
# Offsets of a sentence's segments.
SUBJ, PRE, VAL, POST = 0, 3, 4, 7


class _AtlasBuilder:
    def __init__(self, vocab: dict[str, int]):
        self.vocab, self.unk = vocab, vocab[UNKNOWN]
        self.pieces: list[list[int]] = []
        self.n = 0

    def add(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """Append each text's tokens; return their (start, length) arrays. Texts whose words are
        not in this dataset's vocabulary (pool entries no person uses) map to <unk>: never rendered."""
        starts, lens = [], []
        for text in texts:
            ids = [self.vocab.get(w, self.unk) for w in split_words(text)]
            starts.append(self.n)
            lens.append(len(ids))
            self.pieces.append(ids)
            self.n += len(ids)
        return np.asarray(starts, np.int64), np.asarray(lens, np.int64)


def _split_template(t: str) -> tuple[str, str]:
    """'{subject} was born on {value}.' -> (' was born on ', '.')."""
    assert t.startswith("{subject}") and t.count("{value}") == 1, t
    pre, post = t[len("{subject}"):].split("{value}")
    return pre, post


@dataclass
class Atlas:
    """All token pieces of bioS in one array, plus (start, length) tables to index them."""

    tokens: np.ndarray  # int32
    start: dict[str, np.ndarray]
    length: dict[str, np.ndarray]
    pre_possessive: np.ndarray  # (6, T) token offset of {possessive} in the pre piece, or -1
    post_possessive: np.ndarray  # (6, T) same in the post piece
    sep: int  # start of the lead piece: the separator, then the domain token if the dataset has one
    lead_len: int = 1

    @classmethod
    def build(cls, pools: Pools, vocab: dict[str, int], domain: bool = False) -> "Atlas":
        b = _AtlasBuilder(vocab)
        start, length = {}, {}

        def put(key, texts):
            start[key], length[key] = b.add(texts)

        for field, texts in value_strings(pools).items():
            put(field, [t + " ," if field == "day" else t for t in texts])
        put("working_city", [pools.cities[c] for c in pools.company_city])  # indexed by employer
        put("pronoun", PRONOUNS["subject"])
        n_t = len(pools.templates[SENTENCE_ATTRIBUTES[0]])
        pre_poss = np.full((N_ATTR, n_t), -1, np.int64)
        post_poss = np.full((N_ATTR, n_t), -1, np.int64)
        pre_texts, post_texts = [], []  # ordered (attribute, template, gender)
        for ai, attr in enumerate(SENTENCE_ATTRIBUTES):
            for ti, t in enumerate(pools.templates[attr]):
                pre, post = _split_template(t)
                for part, table in ((pre, pre_poss), (post, post_poss)):
                    if "{possessive}" in part:
                        table[ai, ti] = len(split_words(part.split("{possessive}")[0]))
                for g in (0, 1):
                    poss = PRONOUNS["possessive"][g]
                    pre_texts.append(pre.replace("{possessive}", poss))
                    post_texts.append(post.replace("{possessive}", poss))
        put("pre", pre_texts)
        put("post", post_texts)
        for k in ("pre", "post"):
            start[k], length[k] = start[k].reshape(N_ATTR, n_t, 2), length[k].reshape(N_ATTR, n_t, 2)
        # the separator is a special token: it has no text to split, so it gets a piece of its own
        sep = b.n
        lead = [vocab[SEPARATOR]] + ([vocab[DOMAIN]] if domain else [])
        b.pieces.append(lead)
        tokens = np.asarray([i for p in b.pieces for i in p], np.int32)
        return cls(tokens, start, length, pre_poss, post_poss, sep, len(lead))

    @property
    def n_templates(self) -> int:
        return self.start["pre"].shape[1]

    def max_bio_tokens(self) -> int:
        """An upper bound on a biography's length (separator included), over all renderings."""
        templates = (self.length["pre"] + self.length["post"]).max(axis=(1, 2)).sum()
        values = (self.length["month"].max() + self.length["day"].max() + self.length["year"].max()
                  + sum(self.length[k].max() for k in ("birth_city", "university", "major", "employer",
                                                        "working_city")))
        names = sum(self.length[k].max() for k in ("first", "middle", "last"))
        return int(self.lead_len + templates + values + names + (N_ATTR - 1) * self.length["pronoun"].max())


def draw_templates(rng: np.random.Generator, count: int, n_templates: int) -> np.ndarray:
    """The template of every sentence of ``count`` biographies: the first draw of ``draw_choices``
    (so the stream's lengths can be counted from it alone, without drawing sentence orders)."""
    return rng.integers(0, n_templates, size=(count, N_ATTR), dtype=np.int64)


def draw_choices(rng: np.random.Generator, count: int, n_templates: int,
                 employer_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random template per sentence and random sentence order for ``count`` biographies.

    ``order[b, s]`` is the attribute of sentence slot s. With ``employer_first`` the employer
    sentence always precedes the working-city sentence: measurement uses such renderings, since a
    working city seen before the employer would reveal most of the employer for free.
    """
    templates = draw_templates(rng, count, n_templates)
    order = np.argsort(rng.random((count, N_ATTR)), axis=1)
    if employer_first:
        pos = np.argsort(order, axis=1)  # slot of each attribute
        swap = pos[:, A["working_city"]] < pos[:, A["employer"]]
        rows = np.nonzero(swap)[0]
        e, w = pos[rows, A["employer"]], pos[rows, A["working_city"]]
        order[rows, e], order[rows, w] = A["working_city"], A["employer"]
    return templates, order


def _segments(atlas: Atlas, people: np.ndarray, templates: np.ndarray, order: np.ndarray):
    """(B, 49) start and length of every segment of every biography."""
    B = len(people)
    p = people.astype(np.int64)
    g = p[:, COL["gender"]]
    st = np.zeros((B, N_ATTR, SEG_PER_SENTENCE), np.int64)
    ln = np.zeros_like(st)
    # subjects: pronouns everywhere for now; slot 0 gets the full name below
    st[:, :, SUBJ] = atlas.start["pronoun"][g][:, None]
    ln[:, :, SUBJ] = atlas.length["pronoun"][g][:, None]
    ai = np.arange(N_ATTR)[None, :]
    for k, off in (("pre", PRE), ("post", POST)):
        st[:, :, off] = atlas.start[k][ai, templates, g[:, None]]
        ln[:, :, off] = atlas.length[k][ai, templates, g[:, None]]
    values = {
        "birth_date": ("month", "day", "year"), "birth_city": ("birth_city",),
        "university": ("university",), "major": ("major",), "employer": ("employer",),
    }
    for attr, fields in values.items():
        for j, f in enumerate(fields):
            idx = p[:, COL[f]]
            st[:, A[attr], VAL + j] = atlas.start[f][idx]
            ln[:, A[attr], VAL + j] = atlas.length[f][idx]
    emp = p[:, COL["employer"]]
    st[:, A["working_city"], VAL] = atlas.start["working_city"][emp]
    ln[:, A["working_city"], VAL] = atlas.length["working_city"][emp]
    # put sentences in their slots, then give slot 0 the full name as its subject
    st = np.take_along_axis(st, order[:, :, None], axis=1)
    ln = np.take_along_axis(ln, order[:, :, None], axis=1)
    for j, f in enumerate(("first", "middle", "last")):
        st[:, 0, SUBJ + j] = atlas.start[f][p[:, COL[f]]]
        ln[:, 0, SUBJ + j] = atlas.length[f][p[:, COL[f]]]
    st = np.concatenate([np.full((B, 1), atlas.sep), st.reshape(B, -1)], axis=1)
    ln = np.concatenate([np.full((B, 1), atlas.lead_len, np.int64), ln.reshape(B, -1)], axis=1)
    return st, ln


def bio_lengths(atlas: Atlas, people: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Token count of each biography (separator included), without rendering it.

    Sentence order does not change a biography's length, so only the templates matter.
    """
    order = np.broadcast_to(np.arange(N_ATTR), templates.shape)
    return _segments(atlas, people, templates, np.ascontiguousarray(order))[1].sum(axis=1)


@dataclass
class LengthTable:
    """Biography lengths in two parts, for counting a stream's tokens without rendering it.

    A biography's length is its lead piece, a pronoun in five sentences, the full name, its values
    (all fixed per person) plus the text of its six templates (which depend on the draw and the
    gender): ``length = fixed[p] + sum_a template[a, t_a, gender_p]``. ``bio_lengths`` computes the
    same from all 49 segments; the decomposition is checked against it in tests."""

    fixed: np.ndarray  # (N,) int32: the template-independent part of every person's biography
    gender: np.ndarray  # (N,) int8
    template: np.ndarray  # (N_ATTR, n_templates, genders) int64: pre + post text of each template

    @classmethod
    def build(cls, atlas: Atlas, people: np.ndarray, chunk: int = 1 << 20) -> LengthTable:
        template = atlas.length["pre"] + atlas.length["post"]
        gender = people[:, COL["gender"]].astype(np.int8)
        fixed = np.empty(len(people), np.int32)
        fields = ("first", "middle", "last", "month", "day", "year", "birth_city", "university", "major", "employer")
        for lo in range(0, len(people), chunk):  # a chunk at a time: a few int64 columns in memory
            p = people[lo:lo + chunk].astype(np.int64)
            # as _segments lays them out: the lead piece, a pronoun subject in all sentences but the
            # first (whose subject is the full name), every value, the employer's city
            n = atlas.lead_len + (N_ATTR - 1) * atlas.length["pronoun"][p[:, COL["gender"]]]
            for f in fields:
                n = n + atlas.length[f][p[:, COL[f]]]
            fixed[lo:lo + chunk] = n + atlas.length["working_city"][p[:, COL["employer"]]]
        return cls(fixed, gender, template)

    def lengths(self, idx: np.ndarray, templates: np.ndarray) -> np.ndarray:
        """Lengths of the biographies of people ``idx`` rendered with ``templates`` (B, N_ATTR)."""
        g = self.gender[idx].astype(np.int64)[:, None]
        return self.fixed[idx] + self.template[np.arange(N_ATTR)[None, :], templates, g].sum(axis=1)


def render(atlas: Atlas, people: np.ndarray, templates: np.ndarray, order: np.ndarray,
           spans: bool = False) -> Rendered:
    """Render one biography per row of ``people`` with the given template and order choices."""
    st, ln = _segments(atlas, people, templates, order)
    bio_len = ln.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(bio_len)])
    out = Rendered(tokens=gather_ranges(atlas.tokens, st, ln), offsets=offsets)
    if spans:
        seg_pos = np.cumsum(ln, axis=1) - ln  # position of each segment within its biography
        B = len(people)
        rows = np.arange(B)
        out.name_span = np.stack([seg_pos[:, 1 + SUBJ], ln[:, 1 + SUBJ:1 + PRE].sum(axis=1)], axis=1)
        slot_of = np.argsort(order, axis=1)  # (B, 6): slot of each attribute
        first = 1 + slot_of * SEG_PER_SENTENCE + VAL  # (B, 6) index of val0
        vstart = np.take_along_axis(seg_pos, first, axis=1)
        vlen = sum(np.take_along_axis(ln, first + j, axis=1) for j in range(3))
        out.value_spans = np.stack([vstart, vlen], axis=2)
        # gender: the first possessive in sentence 0 if it has one, else the pronoun subject of slot 1
        a0 = order[:, 0]
        t0 = templates[rows, a0]
        pre_p, post_p = atlas.pre_possessive[a0, t0], atlas.post_possessive[a0, t0]
        out.gender_pos = np.where(
            pre_p >= 0, seg_pos[:, 1 + PRE] + pre_p,
            np.where(post_p >= 0, seg_pos[:, 1 + POST] + post_p, seg_pos[:, 1 + SEG_PER_SENTENCE + SUBJ]))
    return out
