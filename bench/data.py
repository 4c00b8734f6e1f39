"""Benchmark the knowledge and corpus floors: generating bioS(N) and rendering its stream.

Reports wall time and peak memory (RSS high-water mark of this process) of ``write_bios`` for N
people, and the rendering rate of the training stream (tokens/s of one exposure, produced by the
same iterator the training loop consumes), against a baseline in the same process: a plain
Python renderer that formats each biography as text and encodes it with the dataset's tokenizer,
the way a hand-rolled pipeline would.

    python bench/data.py --people 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from kcap.kinds.bios.data import load_bios, value_strings, write_bios
from kcap.kinds.bios.stream import BioStream
from kcap.knowledge.people import COL
from kcap.knowledge.pools import PRONOUNS, SENTENCE_ATTRIBUTES, load_pools
from kcap.knowledge.tokenizer import SEPARATOR, load_tokenizer


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def naive_render_rate(dataset, n: int) -> float:
    """Tokens/s of a straightforward text-then-tokenize renderer (the baseline)."""
    pools = load_pools()
    tok = load_tokenizer(dataset.tokenizer_path)
    vals = value_strings(pools)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    n_tok = 0
    for p in dataset.people[:n]:
        g = int(p[COL["gender"]])
        v = {"birth_date": f"{vals['month'][p[COL['month']]]} {vals['day'][p[COL['day']]]}, {vals['year'][p[COL['year']]]}",
             "birth_city": vals["birth_city"][p[COL["birth_city"]]], "university": vals["university"][p[COL["university"]]],
             "major": vals["major"][p[COL["major"]]], "employer": vals["employer"][p[COL["employer"]]],
             "working_city": pools.cities[pools.company_city[p[COL["employer"]]]]}
        name = " ".join(vals[f][p[COL[f]]] for f in ("first", "middle", "last"))
        sentences = []
        for i, a in enumerate(rng.permutation(SENTENCE_ATTRIBUTES)):
            t_ = pools.templates[a][rng.integers(50)]
            sentences.append(t_.format(subject=name if i == 0 else PRONOUNS["subject"][g], value=v[a],
                                       possessive=PRONOUNS["possessive"][g]))
        n_tok += len(tok.encode(SEPARATOR + " " + " ".join(sentences)).ids)
    return n_tok / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--baseline-people", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_bios(Path(tmp) / "d", a.people, seed=0)
        gen_s = time.perf_counter() - t
        gen_rss = peak_rss_gb()
        ds = load_bios(Path(tmp) / "d")
        stream = BioStream(ds, exposures=1)
        t = time.perf_counter()
        n_tok = sum(len(c) for c in stream.chunks())
        render_s = time.perf_counter() - t
        # counting the stream without rendering it (total_tokens, resume's fast-forward): the
        # one-time length table, then one round, in this one thread
        t = time.perf_counter()
        stream._length_table
        table_s = time.perf_counter() - t
        t = time.perf_counter()
        counted = stream.round_tokens(0)
        count_s = time.perf_counter() - t
        assert counted == n_tok, (counted, n_tok)
        base = naive_render_rate(ds, min(a.baseline_people, a.people))
    r = {"people": a.people, "generate_s": gen_s, "generate_peak_rss_gb": gen_rss,
         "stream_tokens": n_tok, "render_tokens_per_s": n_tok / render_s,
         "baseline_render_tokens_per_s": base, "ratio": n_tok / render_s / base,
         "length_table_s": table_s, "count_round_s": count_s,
         "peak_rss_gb": peak_rss_gb()}
    if a.json:
        print(json.dumps(r))
    else:
        print(f"bioS N={a.people:,}: generate {gen_s:.1f}s (peak RSS {gen_rss:.2f} GB); one exposure "
              f"{n_tok:,} tokens rendered at {r['render_tokens_per_s'] / 1e6:.1f}M tok/s vs naive "
              f"{base / 1e6:.2f}M tok/s (ratio {r['ratio']:.0f}x); counted without rendering in "
              f"{count_s:.2f}s (after a {table_s:.1f}s length table); peak RSS {r['peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
