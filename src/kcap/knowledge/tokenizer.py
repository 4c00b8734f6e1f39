"""Word-level tokenizer built with HF ``tokenizers``.

Every word and every punctuation mark is one token, and pool entries are made of whole words, so a
token never crosses the boundary of a name or an attribute value: every value span is exact. The
vocabulary holds only the tokens a dataset can emit, so each embedding row is a used token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

SEPARATOR = "<|endoftext|>"  # precedes every biography in the stream
UNKNOWN = "<unk>"  # required by WordLevel; never emitted by kcap's data
DOMAIN = "<|domain|>"  # optional: prepended to every useful biography (the paper's junk remedy)
SPECIAL_TOKENS = (SEPARATOR, UNKNOWN)

# Same split as tokenizers' ``Whitespace`` pre-tokenizer, so our ids equal tokenizer.encode(text).
_WORD = re.compile(r"\w+|[^\w\s]+")


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def build_tokenizer(words: Iterable[str], extra_specials: tuple[str, ...] = ()) -> Tokenizer:
    """A WordLevel tokenizer over the special tokens then ``words`` in sorted order (deterministic)."""
    specials = SPECIAL_TOKENS + tuple(extra_specials)
    vocab = {tok: i for i, tok in enumerate(specials)}
    for w in sorted(set(words) - set(specials)):
        vocab[w] = len(vocab)
    tok = Tokenizer(WordLevel(vocab, unk_token=UNKNOWN))
    tok.pre_tokenizer = Whitespace()
    tok.add_special_tokens(list(specials))
    return tok


def load_tokenizer(path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))
