import itertools

import pytest
import torch

from asr.align import ctc_forced_align, word_spans


def best_path_brute_force(lp, target, blank=0):
    T, V = lp.shape
    best = -float("inf")
    for path in itertools.product(range(V), repeat=T):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == target:
            best = max(best, float(sum(lp[t, k] for t, k in enumerate(path))))
    return best


@pytest.mark.parametrize("seed,target", [(0, [1, 2]), (1, [2, 2]), (2, [1]), (3, [2, 1, 2])])
def test_viterbi_score_is_the_best_path(seed, target):
    lp = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed)).log_softmax(-1)
    spans, score = ctc_forced_align(lp, target)
    assert score == pytest.approx(best_path_brute_force(lp, target), abs=1e-5)
    assert [s.start < s.end for s in spans] == [True] * len(target)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_recovers_a_known_alignment_and_words():
    T, V = 20, 5
    truth = [(1, 2, 5), (3, 6, 8), (4, 12, 16)]  # token, start, end
    lp = torch.full((T, V), -8.0)
    lp[:, 0] = -0.01
    for tok, a, b in truth:
        lp[a:b, tok], lp[a:b, 0] = -0.01, -8.0
    spans, _ = ctc_forced_align(lp.log_softmax(-1), [1, 3, 4])
    assert [(s.start, s.end) for s in spans] == [(a, b) for _, a, b in truth]
    words = word_spans(spans, [" hel", "lo", " world"])
    assert [(w.start, w.end) for w in words] == [(2, 8), (12, 16)]


def test_too_few_frames_is_an_error():
    with pytest.raises(ValueError, match="cannot hold"):
        ctc_forced_align(torch.zeros(2, 3).log_softmax(-1), [1, 1])
