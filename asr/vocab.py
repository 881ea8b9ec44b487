"""TRADE's compact transducer vocabulary, derived from an LLM's own vocabulary.

Each LLM token is normalised (leading space dropped, lowercased, punctuation other than
apostrophes stripped). Tokens that normalise to nothing are *non-verbalised* (punctuation,
whitespace): they never enter the transducer lattice but the LLM may emit them at blanks. The
K most frequent normalised forms in the training text become the transducer's classes
(class 0 is blank). The pruned tokenizer keeps only *active* tokens, whose forms are kept
classes or which are non-verbalised, and tokenises by longest active match. Every kept token
keeps its LLM id, so the LLM's logits can be fused without remapping. H(c) lists the LLM ids
whose normalised form is c.

    vocab = CompactVocab.build(train_texts, tokenizer, k=2000)
    ids = vocab.encode("Hello, world.")        # LLM ids, longest active match
    classes = vocab.classes_of(ids)            # compact classes; -1 for non-verbalised
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BLANK = 0
_STRIP = re.compile(r"[^\w']+", re.UNICODE)


def normalise_token(text: str) -> str:
    return _STRIP.sub("", text.strip().lower()).replace("_", "")


@dataclass
class CompactVocab:
    classes: list[str]  # class index → normalised form; classes[0] is "<blank>"
    token_text: dict[int, str]  # active LLM id → its text
    class_of_id: dict[int, int] = field(init=False)  # LLM id → class (absent: non-verbalised)
    max_token_chars: int = field(init=False)

    def __post_init__(self):
        self._id_of_text = {t: i for i, t in self.token_text.items()}
        self.max_token_chars = max((len(t) for t in self.token_text.values()), default=0)
        index = {c: k for k, c in enumerate(self.classes)}
        self.class_of_id = {i: index[normalise_token(t)] for i, t in self.token_text.items()
                            if normalise_token(t) in index}
        self.H: dict[int, list[int]] = {}
        for i, c in self.class_of_id.items():
            self.H.setdefault(c, []).append(i)
        self.nonverbal_ids = sorted(i for i in self.token_text if i not in self.class_of_id)

    @property
    def size(self) -> int:
        """Transducer output size: blank + K classes."""
        return len(self.classes)

    @classmethod
    def build(cls, texts: list[str], tokenizer, k: int) -> "CompactVocab":
        """``tokenizer``: a ``tokenizers.Tokenizer`` or a transformers tokenizer (``encode``/``decode``)."""
        vocab_size = tokenizer.get_vocab_size() if hasattr(tokenizer, "get_vocab_size") else len(tokenizer)
        text_of = {}
        for i in range(vocab_size):
            t = tokenizer.decode([i])
            if t and "\ufffd" not in t and not (t.startswith("<|") and t.endswith("|>")):
                text_of.setdefault(t, i)  # one id per surface text, the first (most merged-early)
        token_text = {i: t for t, i in text_of.items()}
        counts: Counter[str] = Counter()
        used: set[int] = set()
        for text in texts:
            ids = _encode(tokenizer, text)
            used.update(ids)
            counts.update(f for f in (normalise_token(tokenizer.decode([i])) for i in ids) if f)
        keep = [f for f, _ in counts.most_common(k)]
        kept = set(keep)
        # single characters stay active so that any text in the training alphabet still tokenises
        chars = {ch for text in texts for ch in text}
        active = {i: t for i, t in token_text.items()
                  if (i in used and (normalise_token(t) in kept or not normalise_token(t))) or t in chars}
        return cls(["<blank>", *keep], active)

    def encode(self, text: str) -> list[int]:
        """Longest active match, left to right; raises if a character has no active token."""
        ids, pos = [], 0
        while pos < len(text):
            for n in range(min(self.max_token_chars, len(text) - pos), 0, -1):
                i = self._id_of_text.get(text[pos:pos + n])
                if i is not None:
                    ids.append(i)
                    pos += n
                    break
            else:
                raise ValueError(f"no active token for {text[pos]!r} in {text!r}: rebuild the vocabulary "
                                 "with text that contains it")
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.token_text[i] for i in ids)

    def classes_of(self, ids: list[int]) -> list[int]:
        """Compact class per LLM id; -1 for non-verbalised or classless tokens (not in the lattice)."""
        return [self.class_of_id.get(i, -1) for i in ids]

    def save(self, path: str | Path):
        Path(path).write_text(json.dumps({"classes": self.classes,
                                          "token_text": {str(i): t for i, t in self.token_text.items()}}))

    @classmethod
    def load(cls, path: str | Path) -> "CompactVocab":
        data = json.loads(Path(path).read_text())
        return cls(data["classes"], {int(i): t for i, t in data["token_text"].items()})


def _encode(tokenizer, text: str) -> list[int]:
    out = tokenizer.encode(text, add_special_tokens=False)
    return out.ids if hasattr(out, "ids") else list(out)
