"""Our adaptive endpointing: the silence the agent waits for depends on how finished the
caller's sentence looks to the recognizer.

At each silence the detector sorts the evidence into three states and waits ``complete_ms``,
``unknown_ms`` or ``incomplete_ms`` from the silence onset:

* *complete*: the recognizer emitted sentence-end punctuation at this pause, or its LLM gives a
  sentence end after the current text a probability of at least ``p_complete``; with
  ``final_punct``, also a final transcript heard during this pause that ends in ``.``, ``?`` or
  ``!`` (a segmented recognizer's, in the agent's hybrid: Whisper punctuates each VAD segment);
* *incomplete*: the text ends in a word a sentence cannot end on ("and", "um", "the", "my"),
  or, with no sentence-end mark after it, in a word a sentence ends on only as a verb's particle
  or elliptically ("in", "on", an auxiliary after its pronoun: "I can't log in.", "Yes, it is."
  are finished; marked, such a tail is *unknown*), an auxiliary after a noun ("My order number
  is."), a semicolon, colon, dash or ellipsis (Whisper's mark of speech trailing off), or an e-mail
  address still being given: one with no domain yet, whether spelled ("olga@mail") or only
  announced ("my email is olga"). A trailing comma is not a cue: trained not to end sentences
  at pauses, the recognizer writes one where it is unsure, at holds and ends alike (a comma cue
  cost 5 of 21 turns a 2 s wait in calls and 0.05 of F1 on the dialogues;
  turn_taking/RESULTS.md);
* *unknown*: anything else, and every pause until the recognizer has heard the pause onset
  (a probability computed before ``fresh_ms`` after the onset describes earlier speech). A
  number shorter than a full phone number (ten digits, groups and spelled-out digits counted
  together) stays unknown whatever the recognizer wrote after it: callers pause between digit
  groups, and a recognizer's period after digits is unreliable. A longer number, an amount
  ("$4,302", "2,954") and a date's year ("February 5th, 2008") are judged by the evidence, as
  words are.

The cues are general English, not the phrases of any test set.
"""

from __future__ import annotations

import re

from turn_taking.detectors.base import EndOfTurnDetector
from turn_taking.voice_end import NAME as VOICE_END

# words an English sentence does not end on: conjunctions, fillers, articles, possessives; the
# joins of a spelled address
NEVER_FINAL = frozenset("""
and or but because although whereas if unless
um uh er erm uhm hmm mm
the a an my your our their its than into onto
dot underscore
""".split())
# words a sentence ends on only as a verb's particle or elliptically ("log in.", "hang on.", "I want
# that."): finished when the recognizer marks a sentence end after them, not otherwise
OPEN_WORDS = frozenset("""
so since though while until when where which who whose that then like
this these those his her
to of for with at in on from by about over under as
""".split())
# an auxiliary ends a sentence only after its pronoun or a "not" ("Yes, it is.", "I do.", "It may not
# be."), not after a noun ("My order number is." is a segment's period, not the end)
AUXILIARIES = frozenset("""
is are was were am be been being have has had do does did will would can could should shall may might must
""".split())
SUBJECTS = frozenset("i you he she it we they that there this who not".split())
NUMBER_WORDS = frozenset("zero oh one two three four five six seven eight nine".split())
FULL_NUMBER_DIGITS = 10  # a phone number with its area code
_WORD = re.compile(r"[\w@'.-]+")
_NUMBER = re.compile(r"[\d.-]*\d")  # a digit group however it is written: 452, 4-5-2, 4.2 (Whisper)
MONTHS = "january february march april may june july august september october november december".split()
# an amount ("$4,302.", "2,954") or a date's year ("February 5th, 2008"): a whole number, not a digit group
_AMOUNT = re.compile(r"(\$\s*[\d,]*\d|\b\d{1,3}(?:,\d{3})+)(?:\.\d+)?[.?!,]?$")
_DATE = re.compile(rf"\b(?:{'|'.join(MONTHS)})\s+\d{{1,2}}(?:st|nd|rd|th)?[\s,.?]+\d{{4}}[.?!,]?$")
_LONE_MARK = re.compile(r"\s+([.,?!])")  # TRADE writes "and ." when it marks after a word
# an e-mail address being given: "my email is", "email's", "email me at", "the email on file should be"
_EMAIL = re.compile(r"\b(?:e-?)?mail(?:'s|:|(?:\s+\w+){0,3}?\s+(?:is|be|at|was)\b)")
# its domain: "@mail.com", "at mail dot com", or a top-level domain however the host was heard
_DOMAIN = re.compile(r"(@|\bat\b).*?(\.\w|\bdot\s+\w)|\b(?:com|net|org|edu|gov|io)\b")


def tail_cue(text: str) -> str | None:
    """'incomplete' when the text cannot be a finished sentence; 'digits' when it ends in a
    number shorter than a full phone number; 'open' when it ends in a word that finishes a
    sentence only as a particle or elliptically, with a sentence-end mark after it; None otherwise."""
    text = _LONE_MARK.sub(r"\1", text.strip()).lower()
    if not text:
        return None
    if text.endswith((";", ":", "-", "...", "…")):
        return "incomplete"
    words = [w.strip(".") for w in _WORD.findall(text)]
    last = words[-1] if words else ""
    after_subject = last in AUXILIARIES and len(words) > 1 and words[-2] in SUBJECTS
    open_ending = last in OPEN_WORDS or after_subject
    marked = text.endswith((".", "?", "!"))
    if last in NEVER_FINAL or (last in AUXILIARIES and not after_subject) or (open_ending and not marked):
        return "incomplete"
    if "@" in last and "." not in last.split("@")[-1]:
        return "incomplete"  # an address still being spelled
    emails = list(_EMAIL.finditer(text))
    if emails and not text.endswith("?") and not _DOMAIN.search(text, emails[-1].end()):
        return "incomplete"  # an address announced, its domain not yet said
    if open_ending:
        return "open"
    if 0 < number_digits(words) < FULL_NUMBER_DIGITS and not (_AMOUNT.search(text) or _DATE.search(text)):
        return "digits"
    return None


def number_digits(words: list[str]) -> int:
    """How many digits the number the words end with has, across its groups: "780. 628. 3-0-6-1"
    has ten. Spelled-out digits count in runs of two or more ("two three nine"), so that "the
    blue one" is not a number."""
    run: list[str] = []
    for w in reversed(words):
        if not (_NUMBER.fullmatch(w) or w in NUMBER_WORDS):
            break
        run.append(w)
    if all(w in NUMBER_WORDS for w in run) and len(run) < 2:
        return 0
    return sum(1 if w in NUMBER_WORDS else sum(c.isdigit() for c in w) for w in run)


class PauseEvidence(EndOfTurnDetector):
    """What the recognizer has said about the current pause, collected from the detector hooks:
    the base of the policies that read it (adaptive here, ``learned``). It also keeps the
    voice-end model's score of the pause (``turn_taking.voice_end``), for a policy that reads it.

    ``delta_ms``: a sentence-end mark belongs to this pause when its audio time is this close to
    the silence onset; ``fresh_ms``: an end probability computed sooner after the onset than this
    describes earlier speech and is not read."""

    turn_models = (VOICE_END,)
    reads_voice = False  # whether its decision weighs the voice-end model's score (its callers run the model then)

    def __init__(self, fresh_ms: float = 160, delta_ms: float = 500):
        self.fresh_s, self.delta_s = fresh_ms / 1000, delta_ms / 1000
        self.reset()

    def reset(self):
        self._onset: float | None = None
        self._speech_from: float | None = None  # onset of the speech before this pause
        self._text = ""
        self._p: tuple[float, float] | None = None  # (probability, when)
        self._mark: tuple[float, float] | None = None  # (audio time, when) of the latest mark
        self._text_at, self._final = 0.0, False
        self._voice: tuple[float, float, float] | None = None  # (probability, onset, when)

    def on_speech_start(self, t_s: float):
        self._onset, self._speech_from = None, t_s

    def on_speech_end(self, t_s: float):
        self._onset = t_s

    def on_transcript(self, text: str, final: bool, t_s: float):
        self._text, self._text_at, self._final = text, t_s, final

    def on_sentence_end(self, mark: str, time_s: float, t_s: float):
        self._mark = (time_s, t_s)

    def on_end_probability(self, p: float, t_s: float):
        self._p = (p, t_s)

    def on_turn_score(self, p: float, onset_s: float, heard_s: float, t_s: float):
        self._voice = (p, onset_s, t_s)

    def voice_score(self) -> tuple[float, float] | None:
        """(the voice-end model's probability, when) for this pause, if it has been scored."""
        v = self._voice
        return (v[0], v[2]) if v and self._onset is not None and abs(v[1] - self._onset) < 1e-6 else None

    def stretch_s(self) -> float | None:
        """How long the speech before this pause lasted, if its onset was heard."""
        return None if self._speech_from is None else self._onset - self._speech_from

    def heard_at(self) -> float:
        """When the latest evidence (words, a mark, an end probability) arrived."""
        return max(self._text_at, self._mark[1] if self._mark else 0.0, self._p[1] if self._p else 0.0)

    @property
    def text(self) -> str:
        """The caller's words of this turn so far."""
        return self._text

    def pause_mark(self) -> tuple[float, float] | None:
        """(audio time, when heard) of a sentence-end mark at this pause, if one was heard."""
        mark = self._mark
        return mark if mark and abs(mark[0] - self._onset) <= self.delta_s else None

    def fresh_probability(self) -> tuple[float, float] | None:
        """(end probability, when) computed after the recognizer heard this pause, if any."""
        p = self._p
        return p if p and p[1] >= self._onset + self.fresh_s else None

    def final_sentence(self) -> bool:
        """A final transcript heard during this pause ends in ``.``, ``?`` or ``!`` (a segmented
        recognizer's, in the agent's hybrid)."""
        return self._final and self._text_at >= self._onset and self._text.endswith((".", "?", "!"))


class AdaptiveDetector(PauseEvidence):
    name = "adaptive"

    def __init__(self, complete_ms: float = 200, unknown_ms: float = 800, incomplete_ms: float = 2000,
                 p_complete: float = 0.5, fresh_ms: float = 160, delta_ms: float = 500, final_punct: bool = False):
        if not 0 <= complete_ms <= unknown_ms <= incomplete_ms:
            raise ValueError("need 0 ≤ complete_ms ≤ unknown_ms ≤ incomplete_ms, got "
                             f"{complete_ms}, {unknown_ms}, {incomplete_ms}")
        if not 0 < p_complete <= 1:
            raise ValueError(f"p_complete must be in (0, 1], got {p_complete}")
        self.delay_s = {"complete": complete_ms / 1000, "unknown": unknown_ms / 1000,
                        "incomplete": incomplete_ms / 1000}
        self.p_complete, self.final_punct = p_complete, final_punct
        super().__init__(fresh_ms, delta_ms)

    def state(self) -> tuple[str, float]:
        """(state, media time the deciding evidence arrived) for the current pause."""
        cue = tail_cue(self._text)
        if cue == "incomplete":
            return "incomplete", self._text_at
        if cue in ("digits", "open"):
            return "unknown", self._text_at
        if mark := self.pause_mark():
            return "complete", mark[1]
        if self.final_punct and self.final_sentence():
            return "complete", self._text_at
        if (p := self.fresh_probability()) and p[0] >= self.p_complete:
            return "complete", p[1]
        return "unknown", self._onset

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        state, known = self.state()
        return max(known, self._onset + self.delay_s[state])
