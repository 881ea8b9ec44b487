"""Recognition results shared by every recognizer, synthesiser and evaluator.

Offline recognizers return a ``Transcript``. Streaming ones return ``StreamEvent``s from
``push``: ``Partial`` (the uncommitted tail of the hypothesis, which may still change —
pipecat's interim transcription), ``Final`` (newly committed words that will never change) and ``SentenceEnd``
(sentence-end punctuation with the audio time it belongs to: the semantic end-of-utterance
signal turn-taking fuses with VAD).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Word:
    """One word with its audio span; ``emitted_s`` is when a recognizer produced it."""

    text: str
    start_s: float
    end_s: float
    emitted_s: float | None = None


@dataclass
class Transcript:
    text: str
    words: list[Word] = field(default_factory=list)

    def shifted(self, offset_s: float) -> "Transcript":
        """The same transcript with word times moved by ``offset_s`` (segment → stream time)."""
        return Transcript(self.text, [Word(w.text, w.start_s + offset_s, w.end_s + offset_s, w.emitted_s)
                                      for w in self.words])


@dataclass
class Partial:
    """The hypothesis after the committed words; ``emitted_s`` is stream time (audio received).
    A display shows all ``Final`` words so far followed by the latest ``Partial``."""

    text: str
    emitted_s: float


@dataclass
class Final:
    """Words committed by this step, in order, each with its own ``emitted_s``."""

    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class SentenceEnd:
    """Sentence-end punctuation ("." "?" "!") ending at audio time ``time_s``, emitted at ``emitted_s``."""

    mark: str
    time_s: float
    emitted_s: float


StreamEvent = Partial | Final | SentenceEnd

SENTENCE_END_MARKS = ".?!"


def ends_sentence(text: str) -> bool:
    return text[-1:] != "" and text[-1] in SENTENCE_END_MARKS


def join_words(words: list[str]) -> str:
    """Words as text, punctuation attached to the word before it: "order ." → "order."."""
    return re.sub(r" (?=[^\w\s]+(?: |$))", "", " ".join(words))
