"""What a dataset holds and what its training stream will be: ``kcap data stats``.

The stream figures for junk datasets come from a real pass over the training batches, with junk
tokens tagged (``PROVENANCE_BIT``) on their way through the same windowing code the loop uses: the
junk share and the count of windows that mix useful and junk tokens are measured, not assumed.
"""

from __future__ import annotations

from pathlib import Path

from kcap.corpus.stream import make_stream
from kcap.knowledge.datasets import load_dataset


def dataset_stats(path: Path, exposures: int | None = None, seq: int = 512, seed: int = 0) -> dict:
    ds = load_dataset(path)
    meta = ds.meta
    stream = make_stream(ds, exposures or 1, seed)
    lengths = stream.doc_lengths()
    out = {
        "path": str(Path(path)), "kind": ds.kind, "variant": ds.variant, "people": ds.n_people,
        "files": {n: (Path(path) / n).stat().st_size for n in [*meta["files"], "dataset.json"]},
        "vocab_size": meta["vocab_size"], "used_tokens": stream.used_tokens(),
        "bits_max": meta["bits_max"], "bits_max_terms": meta["bits_max_terms"],
        "bits_max_per_person": meta["bits_max"] / ds.n_people,
        "tokens_per_doc": {"mean": float(lengths.mean()), "min": int(lengths.min()), "max": int(lengths.max())},
    }
    if ds.kind == "bioD":
        out["spec"] = meta["spec"]
    if ds.junk:
        out["junk"] = ds.junk
    out["domain_token"] = ds.domain_token
    if exposures is not None:
        out["stream"] = stream_stats(stream, exposures, seq)
    return out


def stream_stats(stream, exposures: int, seq: int, batch: int = 256) -> dict:
    """Useful and junk tokens (as training targets), junk share, windows, mixed windows."""
    if not stream.dataset.junk:
        useful = stream.total_tokens() - 1
        return {"exposures": exposures, "seq": seq, "windows": stream.n_windows(seq), "useful_tokens": useful,
                "junk_tokens": 0, "junk_fraction": 0.0, "mixed_windows": 0}
    from kcap.corpus.junk import PROVENANCE_BIT

    useful = junk = mixed = windows = junk_windows = 0
    for x, y in stream.batches(seq, batch, provenance=True):
        is_junk = (x & PROVENANCE_BIT) != 0
        target = y >= 0
        useful += int((~is_junk & target).sum())
        junk += int((is_junk & target).sum())
        row_junk = is_junk.any(axis=1)
        mixed += int((row_junk & (~is_junk & target).any(axis=1)).sum())
        windows += len(x)
        junk_windows += int(row_junk.sum())
    return {"exposures": exposures, "seq": seq, "windows": windows, "junk_windows": junk_windows,
            "useful_tokens": useful, "junk_tokens": junk, "junk_fraction": junk / (useful + junk),
            "mixed_windows": mixed}


def format_stats(s: dict) -> list[str]:
    lines = [f"{s['path']}: {s['kind']}-{s['variant']}, {s['people']:,} people"
             + (f", junk {s['junk']['fraction']:g} of tokens from "
                + (f"{s['junk']['people']:,} junk people" if s['junk']['people'] else "fresh junk people")
                if s.get("junk") else "")
             + (", domain token" if s["domain_token"] else "")]
    if "spec" in s:
        sp = s["spec"]
        lines.append(f"  bioD K={sp['attributes']} C={sp['chunks']} D={sp['diversity']} L={sp['chunk_len']} "
                     f"T={sp['alphabet']}")
    lines.append("  files: " + ", ".join(f"{n} {b:,} B" for n, b in s["files"].items()))
    lines.append(f"  vocabulary {s['vocab_size']:,} tokens ({s['used_tokens']:,} used)")
    terms = ", ".join(f"{k} {v:,.0f}" for k, v in s["bits_max_terms"].items())
    lines.append(f"  bits_max {s['bits_max']:,.0f} ({terms}); {s['bits_max_per_person']:.2f} per person")
    t = s["tokens_per_doc"]
    lines.append(f"  tokens per biography: mean {t['mean']:.1f}, min {t['min']}, max {t['max']}")
    if "stream" in s:
        st = s["stream"]
        lines.append(f"  stream of {st['exposures']} exposures (seq {st['seq']}): {st['windows']:,} windows, "
                     f"{st['useful_tokens']:,} useful + {st['junk_tokens']:,} junk tokens "
                     f"(junk {st['junk_fraction']:.2%}), {st['mixed_windows']} mixed windows")
    return lines
