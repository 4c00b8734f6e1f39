"""Benchmark ``kcap measure``'s evaluation: batched vs one biography per forward, demo sizes.

Times ``measure_model`` (render the fixed biographies, forward, token losses, span sums, bits) of
a freshly initialized model of each demo shape on bioS(N), with the default batching and with one
biography per forward (the unbatched reference), in the same process; checks both give the same
bits. Weights do not change the work, so random initialization times a trained model's measure.

    python bench/measure.py --people 1000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from kcap.demo import DEMO_SIZES
from kcap.device import resolve_device
from kcap.kinds.bios.data import load_bios, write_bios
from kcap.kinds.bios.stream import BioStream
from kcap.measure.evaluate import measure_model
from kcap.measure.losses import default_batch
from kcap.model.gpt import GPT, GPTConfig
from kcap.model.params import param_breakdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--unbatched", action="store_true", help="also time one biography per forward")
    a = p.parse_args()
    dev = resolve_device(a.device)
    with tempfile.TemporaryDirectory() as tmp:
        write_bios(Path(tmp) / "d", a.people, seed=0)
        dataset = load_bios(Path(tmp) / "d")
        used = BioStream(dataset, 1).used_tokens()
        for layers, d_model, heads in DEMO_SIZES:
            torch.manual_seed(0)
            model = GPT(GPTConfig(vocab_size=len(dataset.vocab()), n_layer=layers, n_head=heads,
                                  d_model=d_model, max_seq=256))
            params = param_breakdown(model, used_tokens=used)
            row = {"shape": f"{layers}x{d_model}x{heads}", "people": a.people, "device": str(dev),
                   "threads": torch.get_num_threads(), "batch": default_batch(dev)}
            t = time.perf_counter()
            r = measure_model(model, dataset, params, dev)
            row["batched_s"] = time.perf_counter() - t
            if a.unbatched:
                t = time.perf_counter()
                r1 = measure_model(model, dataset, params, dev, batch=1)
                row["unbatched_s"] = time.perf_counter() - t
                row["speedup"] = row["unbatched_s"] / row["batched_s"]
                row["bits_differ_by"] = abs(r["bits"] - r1["bits"])
            print(json.dumps(row))


if __name__ == "__main__":
    main()
