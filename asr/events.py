"""Recognition results shared by every recognizer, synthesiser and evaluator."""

from __future__ import annotations

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
