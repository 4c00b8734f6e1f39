"""What a dataset holds and what its training stream will be: ``kcap data stats``.

Kind-specific facts come from the kind (``describe``); the stream figures from the stream itself
(``stream_stats``): a bioS stream with junk measures its junk share and the windows that mix
useful and junk tokens by a real pass over the training batches (kinds/bios/junk.py).
"""

from __future__ import annotations

from pathlib import Path

from kcap.kinds import get_kind, load_dataset, make_stream


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
    out.update(get_kind(ds.kind).describe(ds))
    out["domain_token"] = ds.domain_token
    if exposures is not None:
        out["stream"] = stream.stream_stats(exposures, seq)
    return out


def format_stats(s: dict) -> list[str]:
    lines = [f"{s['path']}: {s['kind']}-{s['variant']}, {s['people']:,} people"
             + (", domain token" if s["domain_token"] else "")]
    line = get_kind(s["kind"]).describe_line(s)
    if line:
        lines.append(f"  {line}")
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
