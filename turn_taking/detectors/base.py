"""The streaming interface every end-of-turn detector implements.

Feed it what is known about the caller, in media time (seconds since the call started), at the
moment it becomes known; ask it when the turn should be taken. All detectors — VAD silence
timer, punctuation, fusion, adaptive and the peer models — answer the same question, so the
agent and the evaluation can swap them. Each hook is optional: a detector ignores what it
does not use.
"""

from __future__ import annotations


class EndOfTurnDetector:
    name = ""
    turn_models: tuple[str, ...] = ()  # whose turn scores it reads besides its own name's (``on_turn_score``)

    def reset(self):
        """Forget the current turn (called after the turn is taken)."""

    def on_audio(self, pcm, t_s: float):
        """Caller audio (mono float32, 16 kHz) starting at media time ``t_s``, for detectors
        that run an acoustic model."""

    def on_speech_start(self, t_s: float):
        """Speech onset at media time ``t_s``."""

    def on_speech_end(self, t_s: float):
        """Silence onset at media time ``t_s``."""

    def on_transcript(self, text: str, final: bool, t_s: float):
        """The recognizer's text of the current turn so far (``final``: nothing in it can change
        any more), available at media time ``t_s``."""

    def on_sentence_end(self, mark: str, time_s: float, t_s: float):
        """Sentence-end punctuation belonging to audio time ``time_s``, emitted at ``t_s``."""

    def on_end_probability(self, p: float, t_s: float):
        """The recognizer LLM's probability that the sentence ends after the current text."""

    def on_turn_score(self, p: float, onset_s: float, heard_s: float, t_s: float):
        """A turn model's probability that the turn is complete, having heard ``heard_s`` of
        the silence that began at ``onset_s``."""

    def turn_end_due_s(self) -> float | None:
        """Media time at which the turn should be taken if nothing else happens, or None
        while the caller is speaking or the detector is still undecided."""
        raise NotImplementedError

    def turn_end_at_s(self) -> float | None:
        """Audio time at which this detector places the end of the turn it is taking (the
        predicted end that the TRADE protocol scores), or None for the onset of the current
        silence. Only a detector with its own timing, such as a punctuation stamp, overrides it."""
        return None
