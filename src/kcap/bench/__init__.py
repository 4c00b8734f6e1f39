"""Benchmarks as code: ``kcap bench train`` (kcap's training step vs a plain nanoGPT-style step)."""
