"""Streaming baseline: Whisper re-decoding a growing buffer, committing by LocalAgreement-2.

The whisper_streaming method (Macháček et al., 2023): every ``chunk_ms`` the whole
uncommitted buffer is transcribed again (with the committed text before the buffer as
prompt); the words on which this hypothesis and the previous one agree, from the start, are
committed. Once the buffer is longer than ``trim_s`` it is cut after the last committed
sentence (or word), so a stream of any length holds at most ~30 s of audio. Every decode pays
Whisper's full 30 s encoder, which is why this baseline is slow and its latency is at least
two chunks.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.events import Final, Partial, SentenceEnd, StreamEvent, Word, ends_sentence
from asr.normalize import normalize
from asr.recognizer import RecognizerStream, StreamingRecognizer, register
from asr.recognizers.faster_whisper import FasterWhisperRecognizer

PROMPT_CHARS = 200  # committed text handed to Whisper as context, as whisper_streaming does
MAX_BUFFER_S = 25.0  # Whisper sees 30 s; past this, words are committed without agreement


def _same(a: Word, b: Word) -> bool:
    return normalize(a.text) == normalize(b.text)


@register("whisper-local-agreement")
class LocalAgreementRecognizer(StreamingRecognizer):
    name = "whisper-local-agreement"

    def __init__(self, chunk_ms: int = 960, trim_s: float = 15.0, whisper: FasterWhisperRecognizer | None = None,
                 **options):
        if chunk_ms < 20:
            raise ValueError(f"chunk_ms must be at least 20, got {chunk_ms}")
        self.chunk_ms, self.trim_s = chunk_ms, trim_s
        self.whisper = whisper or FasterWhisperRecognizer(word_timestamps=True, **options)

    def stream(self) -> "LocalAgreementStream":
        return LocalAgreementStream(self.whisper, self.chunk_ms, self.trim_s)

    def warmup(self):
        self.whisper.warmup()


class LocalAgreementStream(RecognizerStream):
    def __init__(self, whisper: FasterWhisperRecognizer, chunk_ms: int, trim_s: float):
        self.whisper, self.trim_s = whisper, trim_s
        self.chunk = SAMPLE_RATE * chunk_ms // 1000
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start_s = 0.0  # stream time of buffer[0]
        self.received = 0  # samples pushed so far
        self.pending = 0  # samples pushed since the last decode
        self.committed: list[Word] = []  # committed words still inside the buffer
        self.prompt = ""  # committed text before the buffer
        self.tentative: list[Word] = []  # the previous hypothesis after the committed words

    @property
    def now_s(self) -> float:
        return self.received / SAMPLE_RATE

    def _push(self, pcm: np.ndarray) -> list[StreamEvent]:
        self.buffer = np.concatenate([self.buffer, pcm])
        self.received += len(pcm)
        self.pending += len(pcm)
        if self.pending < self.chunk:
            return []
        self.pending = 0
        return self._decode()

    def finish(self) -> list[StreamEvent]:
        events = self._decode() if self.pending else []
        return events + self._commit(self.tentative)

    def _hypothesis(self) -> list[Word]:
        """Words of a fresh decode that come after what is committed, in stream time."""
        t = self.whisper.transcribe(self.buffer, prompt=self.prompt[-PROMPT_CHARS:]).shifted(self.buffer_start_s)
        last_end = self.committed[-1].end_s if self.committed else self.buffer_start_s
        words = [w for w in t.words if w.start_s > last_end - 0.1]
        # Whisper often repeats the last committed words at the head: drop a repeated n-gram
        for n in range(min(5, len(words), len(self.committed)), 0, -1):
            if all(_same(a, b) for a, b in zip(self.committed[-n:], words[:n])):
                return words[n:]
        return words

    def _decode(self) -> list[StreamEvent]:
        hyp = self._hypothesis()
        agreed = 0
        while agreed < min(len(hyp), len(self.tentative)) and _same(hyp[agreed], self.tentative[agreed]):
            agreed += 1
        events = self._commit(hyp[:agreed])
        self.tentative = hyp[agreed:]
        if len(self.buffer) > MAX_BUFFER_S * SAMPLE_RATE:  # no agreement for too long: keep the oldest
            old = [w for w in self.tentative if w.end_s < self.now_s - self.trim_s / 2]
            events += self._commit(old)
            self.tentative = self.tentative[len(old):]
        self._trim()
        if self.tentative:
            events.append(Partial(" ".join(w.text for w in self.tentative), self.now_s))
        return events

    def _commit(self, words: list[Word]) -> list[StreamEvent]:
        if not words:
            return []
        for w in words:
            w.emitted_s = self.now_s
        self.committed += words
        events: list[StreamEvent] = [Final(list(words))]
        events += [SentenceEnd(w.text[-1], w.end_s, self.now_s) for w in words
                   if ends_sentence(w.text)]
        return events

    def _trim(self):
        """Cut the buffer after the last committed sentence (else word) once it exceeds ``trim_s``;
        past ``MAX_BUFFER_S`` drop the oldest audio even if nothing was committed."""
        duration = len(self.buffer) / SAMPLE_RATE
        if duration <= self.trim_s or not self.committed and duration <= MAX_BUFFER_S:
            return
        sentence_ends = [w.end_s for w in self.committed if ends_sentence(w.text)]
        cut_s = sentence_ends[-1] if sentence_ends else self.committed[-1].end_s if self.committed else 0.0
        cut_s = max(cut_s, self.now_s - MAX_BUFFER_S)
        cut = int(round((cut_s - self.buffer_start_s) * SAMPLE_RATE))
        if cut <= 0:
            return
        gone = [w for w in self.committed if w.end_s <= cut_s]
        self.prompt = (self.prompt + " " + " ".join(w.text for w in gone)).strip()[-PROMPT_CHARS:]
        self.committed = self.committed[len(gone):]
        self.buffer, self.buffer_start_s = self.buffer[cut:], self.buffer_start_s + cut / SAMPLE_RATE
