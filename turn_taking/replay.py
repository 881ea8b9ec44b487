"""Replay a cached caller trace through an end-of-turn detector, as a live call would drive it.

Every signal reaches the detector at the media time it becomes known (a VAD stop ``stop_ms``
after the silence onset, a recognizer event when its compute finished). Between signals the
detector's due time is checked; once it passes, the turn is taken and the detector reset, as
``agent.turns.UserTurnProcessor`` does. The replay is cheap, so detectors can be swept.

Each take has two times: when the turn is taken (what the caller waits for: eot-bench) and
where in the audio the detector puts the end (what the TRADE protocol scores: the silence
onset, or a detector's own stamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from turn_taking.detectors.base import EndOfTurnDetector
from turn_taking.trace import VAD_PARAMS, CallerTrace
from asr.vad import speech_boundaries


@dataclass(frozen=True)
class Signal:
    at: float
    kind: str  # speech_start speech_end transcript sentence_end end_prob turn_score:<model>
    args: tuple


class Take(NamedTuple):
    at: float  # media time the turn is taken
    ends_at: float  # audio time the detector places the end of the turn at


def signals(trace: CallerTrace) -> list[Signal]:
    """The trace's signals in the order they become known. A transcript is (text nothing can
    change, text that may): the stream's committed words and partial; in the hybrid (segment
    finals), the finals so far and the stream's words of the stretch it has not closed, as
    ``agent.turns`` joins them."""
    out = [Signal(b.known_s, "speech_start" if b.speaking else "speech_end", (b.t_s,))
           for b in speech_boundaries(np.asarray(trace.vad), **VAD_PARAMS)]
    hybrid = trace.final_recognizer is not None
    committed, stretch, partial = "", "", ""  # hybrid: the stream's words of its open stretch
    for e in trace.events:
        if e.kind == "sentence_end":
            out.append(Signal(e.at, "sentence_end", (e.text, e.time)))
            continue
        if e.kind == "end_prob":
            out.append(Signal(e.at, "end_prob", (e.p,)))
            continue
        if e.kind == "segment_final":
            committed = f"{committed} {e.text}".strip()
            out.append(Signal(e.at, "transcript", (committed, "")))
            continue
        if e.kind == "closed":  # the stream's words of its stretch are the segment final's to give
            stretch = partial = ""
            continue
        if hybrid and e.closing:  # as in the agent, the close sends no live words
            continue
        if e.kind == "final":
            if hybrid:
                stretch = f"{stretch} {e.text}".strip()
            else:
                committed = f"{committed} {e.text}".strip()
            partial = ""
        else:
            partial = e.text
        out.append(Signal(e.at, "transcript", (committed, f"{stretch} {partial}".strip())))
    for model, scores in trace.peers.items():
        out += [Signal(s.onset + s.offset + s.compute_s, f"turn_score:{model}", (s.p, s.onset, s.offset))
                for s in scores]
    return sorted(out, key=lambda s: s.at)


class Listener:
    """Hands a detector each signal as the agent's turn processor would: the text it reads is
    the caller's words since the last turn was taken."""

    def __init__(self, detector: EndOfTurnDetector):
        self.detector = detector
        self.committed, self.turn_from = "", 0  # the text so far; where the current turn's part of it begins
        self.onset: float | None = None  # the current silence's onset
        self.models = {f"turn_score:{m}" for m in (detector.name, *detector.turn_models)}
        detector.reset()

    def hear(self, s: Signal):
        d = self.detector
        if s.kind == "speech_start":
            self.onset = None
            d.on_speech_start(*s.args)
        elif s.kind == "speech_end":
            self.onset = s.args[0]
            d.on_speech_end(*s.args)
        elif s.kind == "transcript":
            self.committed, partial = s.args
            d.on_transcript(f"{self.committed[self.turn_from:]} {partial}".strip(), not partial, s.at)
        elif s.kind == "sentence_end":
            d.on_sentence_end(s.args[0], s.args[1], s.at)
        elif s.kind == "end_prob":
            d.on_end_probability(s.args[0], s.at)
        elif s.kind in self.models:
            d.on_turn_score(s.args[0], s.args[1], s.args[2], s.at)

    def turn_taken(self):
        self.detector.reset()
        self.turn_from, self.onset = len(self.committed), None


def replay(sigs: list[Signal], detector: EndOfTurnDetector) -> list[Take]:
    """The detector's takes of the turn."""
    takes: list[Take] = []
    listener = Listener(detector)
    last = 0.0  # the last signal's time

    def take(due: float):
        at = max(due, last)
        ends_at = detector.turn_end_at_s()
        if ends_at is None:
            ends_at = at if listener.onset is None else listener.onset
        takes.append(Take(at, ends_at))

    for s in sigs:
        due = detector.turn_end_due_s()
        if due is not None and due <= s.at:
            take(due)
            listener.turn_taken()
        last = s.at
        listener.hear(s)
    due = detector.turn_end_due_s()
    if due is not None:
        take(due)
    return takes
