"""CTC forced alignment (Viterbi): where each target token, and each word, sits in the frames.

SpeechLLM-XL splits transcripts into chunks with it, and Speech ReaLLM interleaves its
training sequences by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Span:
    index: int  # token or word index
    start: int  # first frame
    end: int  # one past the last frame
    score: float  # mean log-prob of the token on its frames (words: of their tokens)


def ctc_forced_align(log_probs: Tensor, targets: list[int], blank: int = 0) -> tuple[list[Span], float]:
    """log_probs (T, V) log-softmaxed; returns a span per target token and the best path's log-prob."""
    T = log_probs.shape[0]
    U = len(targets)
    if T < U + sum(a == b for a, b in zip(targets, targets[1:])):
        raise ValueError(f"{T} frames cannot hold {U} tokens (repeats need a blank between them)")
    ext = torch.full((2 * U + 1,), blank, dtype=torch.long)
    ext[1::2] = torch.tensor(targets, dtype=torch.long)
    S = len(ext)
    skip_ok = torch.zeros(S, dtype=torch.bool)  # s-2 → s allowed: a label different from the one before
    skip_ok[3::2] = ext[3::2] != ext[1:-2:2]
    neg = torch.tensor(-float("inf"))
    delta = torch.full((S,), -float("inf"))
    delta[:2] = log_probs[0, ext[:2]]
    back = torch.zeros(T, S, dtype=torch.long)
    for t in range(1, T):
        stay = delta
        step = torch.cat([neg[None], delta[:-1]])
        skip = torch.where(skip_ok, torch.cat([neg[None].expand(2), delta[:-2]]), neg)
        cand = torch.stack([stay, step, skip])  # (3, S)
        best, arg = cand.max(0)
        back[t] = arg
        delta = best + log_probs[t, ext]
    end = S - 1 if U == 0 or delta[S - 1] >= delta[S - 2] else S - 2
    score = float(delta[end])
    states = [end]
    for t in range(T - 1, 0, -1):
        states.append(states[-1] - int(back[t, states[-1]]))
    states.reverse()
    spans = []
    for u in range(U):
        frames = [t for t, s in enumerate(states) if s == 2 * u + 1]
        mean = float(log_probs[frames, targets[u]].mean())
        spans.append(Span(u, frames[0], frames[-1] + 1, mean))
    return spans, score


def word_spans(token_spans: list[Span], token_texts: list[str]) -> list[Span]:
    """Group token spans into words: a token whose text starts with a space begins a new word."""
    words: list[list[Span]] = []
    for span, text in zip(token_spans, token_texts):
        if not words or text.startswith(" "):
            words.append([])
        words[-1].append(span)
    return [Span(i, w[0].start, w[-1].end, sum(s.score for s in w) / len(w)) for i, w in enumerate(words)]
