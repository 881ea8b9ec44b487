"""Silero VAD and the hysteresis that turns its per-window speech probabilities into speech
start/stop events.

One ``SpeechSegmenter`` serves the live agent and ``asr eval --vad`` (fed window by window) and
the turn-taking evaluation (fed a cached probability track), so all see the same speech
boundaries. A start is stamped with the
media time where the speech began and a stop with the time the silence began, so downstream
delays are measured from the true onsets; each becomes *known* only ``start_ms``/``stop_ms`` later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.audio import SAMPLE_RATE

WINDOW = 512  # samples per Silero window at 16 kHz
WINDOW_S = WINDOW / SAMPLE_RATE


class SileroVAD:
    """Streaming speech probability, one 512-sample window at a time (the real Silero ONNX model)."""

    def __init__(self):
        import torch
        from silero_vad import load_silero_vad

        self._torch = torch
        self._model = load_silero_vad(onnx=True)

    def reset(self):
        self._model.reset_states()

    def __call__(self, window: np.ndarray) -> float:
        return float(self._model(self._torch.from_numpy(window), SAMPLE_RATE))

    def track(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of every whole window of a clip, from a fresh state."""
        self.reset()
        n = len(audio) // WINDOW
        return np.array([self(audio[i * WINDOW:(i + 1) * WINDOW]) for i in range(n)], np.float32)


@dataclass(frozen=True)
class SpeechBoundary:
    """``speaking`` began (True) or ended (False) at media time ``t_s``; known at ``known_s``.
    A ``pause`` (speaking goes on) is silence since ``t_s`` that has not yet lasted a stop."""

    speaking: bool
    t_s: float
    known_s: float
    pause: bool = False


STOP_MS = 200  # silence before a speech stop fires, unless configured: the agent's default
# silence after which, and again after each further PAUSE_MS, a streaming recognizer also decodes
# what it has, so sentence-end marks come before the stop: the agent's default. Silero scores 32 ms
# windows, so 64 ms decodes at 64, 128 and 192 ms of silence (80 ms would at 96 and 160); chosen on
# dev (asr/RESULTS.md, "Decoding at every 64 ms of silence")
PAUSE_MS = 64
# audio a segmented recognizer hears around each VAD segment (the agent's default): the VAD hears
# speech start late and cuts trailing sounds
PRE_ROLL_MS, POST_ROLL_MS = 300, 150


class SpeechSegmenter:
    """Hysteresis over speech probabilities: a state changes after ``start_ms`` of speech or
    ``stop_ms`` of silence in a row; with ``pause_ms``, a run of silence inside speech is
    reported as a pause each time it has lasted another ``pause_ms``, until it stops: a streaming
    recognizer decodes at each, so a sentence end it writes only after more silence comes out
    at the next pause rather than at the stop."""

    def __init__(self, confidence: float = 0.5, start_ms: float = 200, stop_ms: float = STOP_MS,
                 pause_ms: float | None = None):
        if pause_ms is not None and not 0 < pause_ms < stop_ms:
            raise ValueError(f"pause_ms must lie between 0 and stop_ms ({stop_ms}), got {pause_ms}")
        self.confidence, self.start_s, self.stop_s = confidence, start_ms / 1000, stop_ms / 1000
        self.pause_s = None if pause_ms is None else pause_ms / 1000
        self.speaking = False
        self._run_start_s: float | None = None  # first window of a run contrary to the state
        self._run_s = 0.0

    def update(self, prob: float, t_s: float) -> SpeechBoundary | None:
        """Feed the probability of the window starting at ``t_s``."""
        is_speech = prob >= self.confidence
        if is_speech == self.speaking:  # the current state goes on; a contrary run ends
            self._run_start_s, self._run_s = None, 0.0
            return None
        if self._run_start_s is None:
            self._run_start_s = t_s
        self._run_s += WINDOW_S
        if self._run_s + 1e-9 < (self.start_s if is_speech else self.stop_s):
            if not is_speech and self.pause_s is not None and \
                    self._pauses_in(self._run_s - WINDOW_S) < self._pauses_in(self._run_s):  # another pause_ms
                return SpeechBoundary(True, self._run_start_s, t_s + WINDOW_S, pause=True)
            return None
        self.speaking = is_speech
        boundary = SpeechBoundary(is_speech, self._run_start_s, t_s + WINDOW_S)
        self._run_start_s, self._run_s = None, 0.0
        return boundary

    def _pauses_in(self, silence_s: float) -> int:
        return int((silence_s + 1e-9) / self.pause_s)


class StreamingVAD:
    """Silero and the hysteresis over live audio in chunks of any size: each whole window is
    scored as it fills; the boundaries it triggers come back."""

    def __init__(self, vad: SileroVAD, segmenter: SpeechSegmenter):
        self.vad, self.segmenter = vad, segmenter
        self._pending = np.zeros(0, np.float32)
        self._pending_t0 = 0.0  # media time of _pending[0]

    def push(self, audio: np.ndarray, pts_s: float) -> list[SpeechBoundary]:
        """Mono float32 16 kHz audio starting at media time ``pts_s``."""
        if len(self._pending) == 0:
            self._pending_t0 = pts_s
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        boundaries = []
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            if b := self.segmenter.update(self.vad(window), self._pending_t0):
                boundaries.append(b)
            self._pending_t0 += WINDOW_S
        return boundaries


def speech_boundaries(probs: np.ndarray, confidence: float = 0.5, start_ms: float = 200,
                      stop_ms: float = STOP_MS) -> list[SpeechBoundary]:
    """Every boundary of a probability track (window ``i`` starts at ``i * WINDOW_S``)."""
    seg = SpeechSegmenter(confidence, start_ms, stop_ms)
    return [b for i, p in enumerate(probs) if (b := seg.update(float(p), i * WINDOW_S))]
