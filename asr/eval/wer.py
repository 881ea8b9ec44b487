"""Word error rate over normalised text (``asr.normalize``), with the error counts kept."""

from __future__ import annotations

from dataclasses import dataclass

from asr.normalize import normalize


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.reference_words)

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.reference_words + other.reference_words)


def align_counts(ref: list[str], hyp: list[str]) -> ErrorCounts:
    """Levenshtein alignment of word lists; ties prefer substitutions, then deletions."""
    # cost[j] = (total, subs, dels, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            same = ref[i - 1] == hyp[j - 1]
            d = prev[j - 1]
            diag = (d[0] + (not same), d[1] + (not same), d[2], d[3])
            up = prev[j]
            dele = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = cur[j - 1]
            ins = (left[0] + 1, left[1], left[2], left[3] + 1)
            cur.append(min(diag, dele, ins, key=lambda c: c[0]))
        prev = cur
    total, s, d, n = prev[-1]
    return ErrorCounts(s, d, n, len(ref))


def word_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Errors of ``hypothesis`` against ``reference`` after normalising both."""
    return align_counts(normalize(reference).split(), normalize(hypothesis).split())
