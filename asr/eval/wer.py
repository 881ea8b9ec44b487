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


def alignment(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None]]:
    """Minimum-edit alignment as (ref index, hyp index) pairs; None marks an insertion
    (no ref word) or a deletion (no hyp word). Ties prefer substitutions, then deletions."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                cost[i][j] = i + j
                continue
            cost[i][j] = min(cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    pairs, i, j = [], n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    return pairs[::-1]


def align_counts(ref: list[str], hyp: list[str]) -> ErrorCounts:
    pairs = alignment(ref, hyp)
    subs = sum(1 for i, j in pairs if i is not None and j is not None and ref[i] != hyp[j])
    dels = sum(1 for _, j in pairs if j is None)
    return ErrorCounts(subs, dels, sum(1 for i, _ in pairs if i is None), len(ref))


def word_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Errors of ``hypothesis`` against ``reference`` after normalising both."""
    return align_counts(normalize(reference).split(), normalize(hypothesis).split())
