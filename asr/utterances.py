"""A whole call through a streaming recognizer, one stream per stretch of speech, driven by VAD.

The shipped TRADE checkpoint was trained on inputs of at most 14 s and loses its place in
longer streams (asr/RESULTS.md). A call is minutes long, so the pipecat and LiveKit adapters
use ``UtteranceStreams``, which keeps each recognizer stream to one stretch of speech:

- ``push`` feeds the current stream; the last ``HOLD_S`` of audio are always kept, because the
  VAD reports speech late;
- ``speech_started(start_s)`` (a VAD start, with the onset's call time): a fresh stream hears
  the audio from ``LEAD_S`` before the onset, but nothing the previous stream decoded;
- ``speech_paused(silence_from_s)`` (a VAD pause: a short silence inside speech,
  ``SpeechSegmenter(pause_ms)``, with the silence's onset): the stream's ``pause`` decode, whose
  sentence ends and end probability reach turn-taking before the stop; the stream goes on. Once
  a pause leaves the stream's text ending a sentence, further pauses in the same silence are not
  decoded (more silence adds nothing but cost); the next silence is decoded again, whether or not
  the stream decoded a chunk in between;
- ``speech_stopped(end_s)`` (a VAD stop): the stream is closed at once: padded with silence
  until it has decoded past ``end_s`` (the VAD says the audio since ``end_s`` is silence, so
  the padding stands in for the audio it would otherwise wait for), its words committed
  (``RecognizerStream.commit``) and its trailing punctuation flushed (a sentence end the flush
  writes goes on, as a pause decode's does). That decode hears the silence a pause decode would
  and more, so no pause decode comes first: its sentence end reaches turn-taking one decode
  sooner. The caller's next words go to a fresh stream, so no stream runs on over several
  sentences;
- ``finish()``: the call ended; whatever the recognizer still holds comes out.

Waiting for real audio instead of padding kept a stream open across pauses shorter than its
chunk and look-ahead. On 10 joined test utterances that ran sentences together in one stream
and lost the first words of the next (asr/RESULTS.md, "One stream per stretch of speech").

Silence outside speech is never decoded: decoding it costs CPU the LLM and TTS need.

Every time in the events (word spans, emission, sentence ends) is moved to call time: the call
time of the stream's first sample plus the seconds of audio it heard, and never later than the
audio received (the padding is decoded at once).

``VADUtterances`` wraps a streaming recognizer so that a whole recording goes through Silero
VAD (the agent's default hysteresis, or a shorter ``stop_ms``) and ``UtteranceStreams``, exactly
as a live call does: it is what ``asr eval --vad`` measures.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import replace

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.events import Final, Partial, SentenceEnd, StreamEvent, Word
from asr.recognizer import RecognizerStream, StreamingRecognizer
from asr.vad import PAUSE_MS, STOP_MS, SileroVAD, SpeechSegmenter, StreamingVAD

HOLD_S = 1.5  # audio kept for the next stream: covers the VAD's start delay
LEAD_S = 0.3  # audio before the speech onset a fresh stream hears
PAD_S = 0.16  # silence pushed at a time to finish a stream at a VAD stop
MAX_PAD_S = 3.0  # more than any recognizer's chunk and look-ahead


class UtteranceStreams:
    def __init__(self, recognizer: StreamingRecognizer, start_s: float = 0.0, pause_decode: bool = True):
        """``pause_decode`` off: nothing is decoded at a VAD pause (to measure what the pause
        decode is worth)."""
        self.recognizer, self.start_s, self.pause_decode = recognizer, start_s, pause_decode
        self._stream: RecognizerStream = recognizer.stream()
        self._offset_s = 0.0  # call time of the current stream's first sample
        self.received = 0  # samples pushed in the whole call
        self._listening = False  # True from a VAD start to the next stop
        self._held: deque[np.ndarray] = deque()  # the last HOLD_S of audio
        self._held_samples = 0
        self._lead: np.ndarray | None = None  # audio before a speech start, for the stream's first push
        self._heard_until_s = 0.0  # call time up to which the last stream decoded speech
        self.streams_started = 1
        self._closed_end_probability: float | None = None  # the last stream's, at its pause
        self._ended_silence_s: float | None = None  # onset of the silence a pause found a sentence ended in

    @property
    def listening(self) -> bool:
        """Whether a stream is open: from a VAD start to the next stop."""
        return self._listening

    @property
    def now_s(self) -> float:
        return self.start_s + self.received / SAMPLE_RATE

    def push(self, pcm: np.ndarray) -> list[StreamEvent]:
        """Mono float32 16 kHz caller audio; returns events in call time."""
        self.received += len(pcm)
        self._hold(pcm)
        return self._feed(pcm) if self._listening else []

    def _feed(self, pcm: np.ndarray) -> list[StreamEvent]:
        if self._lead is not None:  # the first push after a speech start: the audio before it goes first
            pcm, self._lead = np.concatenate([self._lead, pcm]), None
        return self._shift(self._stream.push(pcm)) if len(pcm) else []

    def _hold(self, pcm: np.ndarray):
        self._held.append(pcm)
        self._held_samples += len(pcm)
        while self._held_samples - len(self._held[0]) >= HOLD_S * SAMPLE_RATE:
            self._held_samples -= len(self._held.popleft())

    def speech_stopped(self, end_s: float) -> list[StreamEvent]:
        """VAD: the caller went silent at call time ``end_s``. Closes the stream
        (``_close_at``); returns its last words and sentence ends, in call time."""
        return self._close_at(end_s) if self._listening else []

    def speech_paused(self, silence_from_s: float) -> list[StreamEvent]:
        """VAD: the caller has been silent since call time ``silence_from_s``, not yet long
        enough to stop. Returns the stream's ``pause`` events, in call time, before the stop's;
        the stream goes on."""
        if not self._listening:
            return []
        events = self._feed(np.zeros(0, np.float32))
        if not self.pause_decode or silence_from_s == self._ended_silence_s:
            return events
        events += self._shift(self._stream.pause())
        if self._stream.sentence_ended():  # whether or not the pause wrote the mark
            self._ended_silence_s = silence_from_s
        return events

    def _close_at(self, end_s: float) -> list[StreamEvent]:
        """Pad the stream with silence until it has decoded past ``end_s``, then close it."""
        events: list[StreamEvent] = []
        pad = np.zeros(int(PAD_S * SAMPLE_RATE), np.float32)
        for _ in range(int(MAX_PAD_S / PAD_S)):
            decoded = self._stream.decoded_s()
            if decoded is None or self._offset_s + decoded >= end_s:
                break
            events += self._shift(self._stream.push(pad))
        self._heard_until_s = end_s
        return events + self._close()

    def _close(self) -> list[StreamEvent]:
        """Commit and finish the current stream; a fresh one waits for the next speech."""
        self._listening = False
        self._closed_end_probability = self._stream.end_probability()
        # the flush's sentence end (the LLM's mark where the stream ends) goes on, as a pause
        # decode's does: the close is the stop's decode
        events = self._shift(self._stream.commit()) + self._shift(self._stream.finish())
        self._stream = self.recognizer.stream()
        self.streams_started += 1
        return events

    def speech_started(self, start_s: float):
        """VAD: the caller started speaking at call time ``start_s``; while a stream is open
        (no stop since the last start) it goes on."""
        if self._listening:
            return
        self._listening = True
        held = np.concatenate(self._held) if self._held else np.zeros(0, np.float32)
        held_from_s = self.now_s - len(held) / SAMPLE_RATE
        self._offset_s = max(held_from_s, start_s - LEAD_S, self._heard_until_s)
        self._lead = held[int(round((self._offset_s - held_from_s) * SAMPLE_RATE)):]

    def finish(self) -> list[StreamEvent]:
        """The call is over: the words and punctuation the recognizer still holds, in call time."""
        if not self._listening:
            return []
        return self._feed(np.zeros(0, np.float32)) + self._close()

    def decoded_s(self) -> float | None:
        """Call time up to which the caller's audio is transcribed; between stretches of
        speech, all of it (silence has no words)."""
        if not self._listening:
            return self.now_s
        d = self._stream.decoded_s()
        return None if d is None else self._offset_s + d

    def end_probability(self) -> float | None:
        """The recognizer's probability that the sentence ends after its text; between
        stretches of speech, what it was when the last stream closed."""
        return self._stream.end_probability() if self._listening else self._closed_end_probability

    def _shift(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """Stream time to call time, no later than the audio received."""
        dt, now = self._offset_s, self.now_s

        def at(t: float) -> float:
            return min(t + dt, now)

        out: list[StreamEvent] = []
        for e in events:
            if isinstance(e, Final):
                out.append(Final([Word(w.text, at(w.start_s), at(w.end_s),
                                       None if w.emitted_s is None else at(w.emitted_s)) for w in e.words]))
            elif isinstance(e, Partial):
                out.append(replace(e, emitted_s=at(e.emitted_s)))
            elif isinstance(e, SentenceEnd):
                out.append(replace(e, time_s=at(e.time_s), emitted_s=at(e.emitted_s)))
        return out


class VADStream(RecognizerStream):
    """One recording through VAD and ``UtteranceStreams``; VAD decisions reach the recognizer
    after the audio that triggered them, as in the agent's graph."""

    def __init__(self, recognizer: StreamingRecognizer, vad: StreamingVAD, pause_decode: bool = True):
        self.utterances, self.vad = UtteranceStreams(recognizer, pause_decode=pause_decode), vad
        self.silences_heard_s: list[float] = []  # media time each pause or stop became known
        vad.vad.reset()

    def _push(self, pcm: np.ndarray) -> list[StreamEvent]:
        t_s = self.utterances.now_s
        events = self.utterances.push(pcm)
        for b in self.vad.push(pcm, t_s):
            if b.pause or not b.speaking:
                self.silences_heard_s.append(b.known_s)
            if b.pause:
                events += self.utterances.speech_paused(b.t_s)
            elif b.speaking:
                self.utterances.speech_started(b.t_s)
            else:
                events += self.utterances.speech_stopped(b.t_s)
        return events

    def finish(self) -> list[StreamEvent]:
        return self.utterances.finish()

    def decoded_s(self) -> float | None:
        return self.utterances.decoded_s()

    def end_probability(self) -> float | None:
        return self.utterances.end_probability()


class VADUtterances(StreamingRecognizer):
    def __init__(self, recognizer: StreamingRecognizer, vad: SileroVAD | None = None, stop_ms: float = STOP_MS,
                 pause_decode: bool = True, pause_ms: float | None = PAUSE_MS):
        """``pause_ms``: also decode at each that much silence before the stop, as the agent does by
        default (``SpeechSegmenter``); None: at the stop only."""
        self.recognizer, self.vad, self.pause_decode = recognizer, vad or SileroVAD(), pause_decode
        self.segmenter = SpeechSegmenter(stop_ms=stop_ms, pause_ms=pause_ms)  # never fed: each stream gets a fresh copy
        self.name = f"{recognizer.name}+vad" + (f"+pause{pause_ms:g}" if pause_ms else "")
        self.chunk_ms = recognizer.chunk_ms

    def stream(self) -> VADStream:
        return VADStream(self.recognizer, StreamingVAD(self.vad, copy.copy(self.segmenter)), self.pause_decode)
