"""A whole call through a streaming recognizer, one stream per stretch of speech, driven by VAD.

The shipped TRADE checkpoint was trained on inputs of at most 14 s and loses its place in
longer streams (asr/RESULTS.md). A call is minutes long, so the pipecat and LiveKit adapters
use ``UtteranceStreams``, which keeps each recognizer stream to one stretch of speech:

- ``push`` feeds the current stream;
- ``speech_stopped(end_s)`` (a VAD stop): once the stream has decoded audio up to ``end_s``,
  its pending words are committed (``RecognizerStream.commit``), so the turn's last words come
  out without waiting for more speech; the stream is then finished (its trailing punctuation
  comes out) and a fresh one takes the audio from there on;
- ``speech_started()``: a caller who resumes before that commit stays in the same stream.

Every time in the events (word spans, emission, sentence ends) is moved to call time: seconds
of audio pushed since the call began.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.events import Final, Partial, SentenceEnd, StreamEvent, Word
from asr.recognizer import RecognizerStream, StreamingRecognizer


class UtteranceStreams:
    def __init__(self, recognizer: StreamingRecognizer):
        self.recognizer = recognizer
        self._stream: RecognizerStream = recognizer.stream()
        self._offset_s = 0.0  # call time of the current stream's first sample
        self.received = 0  # samples pushed in the whole call
        self._commit_at_s: float | None = None  # a VAD speech end not yet committed
        self.streams_started = 1

    @property
    def now_s(self) -> float:
        return self.received / SAMPLE_RATE

    def push(self, pcm: np.ndarray) -> list[StreamEvent]:
        """Mono float32 16 kHz caller audio; returns events in call time."""
        events = self._shift(self._stream.push(pcm))
        self.received += len(pcm)
        decoded = self.decoded_s()
        if self._commit_at_s is not None and (decoded is None or decoded >= self._commit_at_s):
            self._commit_at_s = None
            events += self._shift(self._stream.commit())
            # what the flush adds is trailing punctuation of audio before the pause; a sentence
            # end it forces is not the recognizer's judgement, so it is not passed on
            events += [e for e in self._shift(self._stream.finish()) if not isinstance(e, SentenceEnd)]
            self._stream, self._offset_s = self.recognizer.stream(), self.now_s
            self.streams_started += 1
        return events

    def speech_stopped(self, end_s: float):
        """VAD: the caller went silent at call time ``end_s``."""
        self._commit_at_s = end_s

    def speech_started(self):
        """VAD: the caller speaks again; a pause not yet committed is not one."""
        self._commit_at_s = None

    def decoded_s(self) -> float | None:
        d = self._stream.decoded_s()
        return None if d is None else self._offset_s + d

    def end_probability(self) -> float | None:
        return self._stream.end_probability()

    def _shift(self, events: list[StreamEvent]) -> list[StreamEvent]:
        dt = self._offset_s
        if not dt:
            return events
        out: list[StreamEvent] = []
        for e in events:
            if isinstance(e, Final):
                out.append(Final([Word(w.text, w.start_s + dt, w.end_s + dt,
                                       None if w.emitted_s is None else w.emitted_s + dt) for w in e.words]))
            elif isinstance(e, Partial):
                out.append(replace(e, emitted_s=e.emitted_s + dt))
            elif isinstance(e, SentenceEnd):
                out.append(replace(e, time_s=e.time_s + dt, emitted_s=e.emitted_s + dt))
        return out
