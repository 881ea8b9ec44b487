import itertools
import random

from asr.eval.wer import align_counts, alignment, word_errors


def _brute_force(ref, hyp):
    """Minimum edits by trying every subsequence of hyp matched in order against ref."""
    best = len(ref) + len(hyp)
    for k in range(len(hyp) + 1):
        for kept in itertools.combinations(range(len(hyp)), k):
            sub = [hyp[i] for i in kept]
            # pair kept hyp words with ref words in order (substitutions/matches), rest del/ins
            for ref_idx in itertools.combinations(range(len(ref)), min(k, len(ref))):
                if len(ref_idx) != k:
                    continue
                subs = sum(ref[r] != h for r, h in zip(ref_idx, sub))
                best = min(best, subs + (len(ref) - k) + (len(hyp) - k))
    return best


def test_alignment_is_minimal_against_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        ref = [rng.choice("abc") for _ in range(rng.randint(0, 5))]
        hyp = [rng.choice("abcd") for _ in range(rng.randint(0, 5))]
        counts = align_counts(ref, hyp)
        assert counts.errors == _brute_force(ref, hyp)
        assert counts.reference_words == len(ref)
        # the pairs behind the counts cover both sides once, in order
        pairs = alignment(ref, hyp)
        assert [i for i, _ in pairs if i is not None] == list(range(len(ref)))
        assert [j for _, j in pairs if j is not None] == list(range(len(hyp)))


def test_wer_uses_the_normaliser():
    assert word_errors("My number is 555-0123.", "my number is five five five zero one two three").errors == 0
    c = word_errors("the cat sat", "the bat sat down")
    assert (c.substitutions, c.deletions, c.insertions, c.wer) == (1, 0, 1, 2 / 3)
