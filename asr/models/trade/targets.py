"""Training targets of one utterance: LLM ids of the written text, the transducer's compact
classes, and the audio time each token is complete by (which chunk's window it is trained in).

The manifest times the *spoken* words ("nine five six four"); the written text says "9564".
Written words take the end time of the last spoken word they are said in (``written_spans``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np

from asr.data.manifest import WordTiming
from asr.vocab import CompactVocab

_KEY = re.compile(r"[^a-z0-9']")
SENTENCE_END = (".", "?", "!")


def _key(word: str) -> str:
    return _KEY.sub("", word.lower())


_DIGIT_GROUP = re.compile(r"[\d-]+[.,?!]?")


def written_spans(text: str, spoken: list[WordTiming]) -> list[tuple[int, int]]:
    """The spoken words (first, last index) each whitespace-separated word of ``text`` is said in.

    Words that match a spoken word (case and punctuation aside) take it. A run of written words
    between matches shares the spoken words between them, except that digit groups ("4970") take
    a spoken word per digit when the counts add up, as callers read ids. Needs ``spoken``."""
    written = text.split()
    matcher = difflib.SequenceMatcher(None, [_key(w) for w in written], [_key(w.word) for w in spoken],
                                      autojunk=False)
    spans: list[tuple[int, int]] = []
    a0 = b0 = 0
    for a, b, n in matcher.get_matching_blocks():  # the last block is the (len, len, 0) sentinel
        spans += _unmatched_spans(written[a0:a], b0, b)
        spans += [(b + i, b + i) for i in range(n)]
        a0, b0 = a + n, b + n
    return spans


def _unmatched_spans(words: list[str], first: int, stop: int) -> list[tuple[int, int]]:
    """Spans of written ``words`` that no spoken word matched, said in spoken ``first..stop-1``."""
    digits = [sum(c.isdigit() for c in w) if _DIGIT_GROUP.fullmatch(w) else 0 for w in words]
    if words and all(digits) and sum(digits) == stop - first:
        ends = np.cumsum(digits) + first
        return [(int(e - d), int(e - 1)) for e, d in zip(ends, digits)]
    last = max(stop - 1, 0)  # nothing spoken in the gap: the word before it
    return [(min(first, last), last)] * len(words)


def written_word_ends(text: str, spoken: list[WordTiming]) -> list[float]:
    """End time (s) of each whitespace-separated word of ``text``."""
    if not spoken:
        return [0.0] * len(text.split())
    return [float(spoken[last].end) for _, last in written_spans(text, spoken)]


@dataclass
class Targets:
    ids: list[int]  # LLM ids of " " + text (longest active match)
    end_s: list[float]  # per id: when its audio is complete
    verbal: list[int]  # indices into ids of the tokens in the transducer lattice
    classes: list[int]  # their compact classes (≥ 1)
    # per id, then for the end of the text: 1 if a sentence ends there right after a word, 0 if
    # a word is complete and no sentence ends (another word or a comma follows), -1 where the
    # question does not arise (inside a word, after punctuation). The search decides exactly this
    # at a blank after a word, with only the audio up to that word's end.
    end_labels: list[int]
    continues: bool = False  # the speaker goes on: no end-of-text target after ``ids``


def make_targets(text: str, words: list[WordTiming], vocab: CompactVocab, continues: bool = False,
                 continued_end: int = 0) -> Targets:
    """``continues``: the speaker goes on after ``text`` (a turn cut at a pause), so its end is
    not a sentence end: labelled ``continued_end``, 0 ("no sentence ends here") or -1 (not asked)."""
    text = " " + " ".join(text.split())
    ids = vocab.encode(text)
    word_ends = written_word_ends(text, words)
    # a token belongs to the word its last character is in (punctuation joins the word it ends)
    word_of_char, w = [], -1
    for i, ch in enumerate(text):
        if not ch.isspace() and (i == 0 or text[i - 1].isspace()):
            w += 1
        word_of_char.append(max(w, 0))
    end_s, pos = [], 0
    for i in ids:
        pos += len(vocab.token_text[i])
        end_s.append(word_ends[word_of_char[pos - 1]] if word_ends else 0.0)
    classes = vocab.classes_of(ids)
    verbal = [k for k, c in enumerate(classes) if c > 0]
    return Targets(ids, end_s, verbal, [classes[k] for k in verbal], end_labels(ids, vocab, continued_end if continues else 1), continues)


def end_labels(ids: list[int], vocab: CompactVocab, text_end: int = 1) -> list[int]:
    """``text_end``: the label where the text ends right after a word (1: the sentence ends)."""
    nonverbal = set(vocab.nonverbal_ids)
    out = []
    for k, i in enumerate([*ids, None]):  # None: the end of the text
        after_word = k > 0 and ids[k - 1] not in nonverbal
        text = vocab.token_text[i] if i is not None else ""
        if not after_word:
            out.append(-1)
        elif i is None:
            out.append(text_end)
        elif text.strip() in SENTENCE_END:
            out.append(1)
        elif text[:1].isspace() or i in nonverbal:
            out.append(0)
        else:
            out.append(-1)
    return out
