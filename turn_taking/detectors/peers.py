"""The peers' end-of-turn models under their own frameworks' policies.

* ``SmartTurnDetector`` — pipecat's Smart Turn v3.2 (``LocalSmartTurnAnalyzerV3``): when the VAD
  has heard ``heard_ms`` of silence the model scores the turn's audio; above ``threshold`` the turn
  ends at once, otherwise pipecat waits for ``stop_ms`` of silence.
* ``LiveKitDetector`` — LiveKit's turn detector v1-mini (``inference.TurnDetector``): after
  ``heard_ms`` of silence the model scores the last 1.2 s; below ``threshold`` (LiveKit's English
  default 0.36) the agent waits ``max_delay_ms`` from the silence onset, otherwise ``min_delay_ms``.

Scores arrive through ``on_turn_score``: from a cached trace in the evaluation, or from the
real model on the audio given to ``on_audio`` when ``model`` is passed (a live call).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from asr.audio import SAMPLE_RATE
from turn_taking.detectors.base import EndOfTurnDetector

BUFFER_S = 10.0
PRE_SPEECH_S, SMART_TURN_MAX_S = 0.5, 8.0  # pipecat's segment: 0.5 s before speech, 8 s at most
LIVEKIT_WINDOW_S = 1.2  # the v1-mini model reads the last 1.2 s


class PeerModels:
    """The two peer models, loaded from their packages; each scores audio ending now."""

    def __init__(self):
        from livekit.local_inference import EOT
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        self._smart_turn = LocalSmartTurnAnalyzerV3(cpu_count=1)
        self._livekit = EOT()

    def smart_turn(self, audio: np.ndarray) -> float:
        """P(complete) of a turn segment, as the analyzer scores it (the last 8 s)."""
        return float(self._smart_turn._predict_endpoint(audio[-int(SMART_TURN_MAX_S * SAMPLE_RATE):])["probability"])

    def livekit(self, audio: np.ndarray) -> float:
        pcm = np.clip(audio[-int(LIVEKIT_WINDOW_S * SAMPLE_RATE):] * 32768, -32768, 32767).astype(np.int16)
        return float(self._livekit.predict(pcm))


class _PeerDetector(EndOfTurnDetector):
    def __init__(self, heard_ms: float, model: Callable[[np.ndarray], float] | None = None):
        """``model(audio)`` scores the turn's audio (from 0.5 s before its speech) ending now."""
        if heard_ms <= 0:
            raise ValueError(f"heard_ms must be > 0, got {heard_ms}")
        self.heard_s, self.model = heard_ms / 1000, model
        self._audio = np.zeros(0, np.float32)
        self._audio_end_s = 0.0
        self.reset()

    def reset(self):
        self._onset: float | None = None
        self._score: tuple[float, float] | None = None  # (p, when)
        self._speech_start: float | None = None

    def on_audio(self, pcm, t_s: float):
        self._audio = np.concatenate([self._audio, pcm])[-int(BUFFER_S * SAMPLE_RATE):]
        self._audio_end_s = t_s + len(pcm) / SAMPLE_RATE

    def on_speech_start(self, t_s: float):
        self._onset, self._score = None, None
        if self._speech_start is None:
            self._speech_start = t_s

    def on_speech_end(self, t_s: float):
        self._onset = t_s

    def on_turn_score(self, p: float, onset_s: float, heard_s: float, t_s: float):
        if self._onset is not None and abs(onset_s - self._onset) < 1e-6 and abs(heard_s - self.heard_s) < 1e-6:
            self._score = (p, t_s)

    def _scored(self) -> tuple[float, float] | None:
        heard_enough = self._audio_end_s + 0.5 / SAMPLE_RATE >= self._onset + self.heard_s
        if self._score is None and self.model is not None and heard_enough:
            keep = round((self._audio_end_s - self._onset - self.heard_s) * SAMPLE_RATE)
            audio = self._audio[:len(self._audio) - keep] if keep else self._audio
            start = self._audio_end_s - len(self._audio) / SAMPLE_RATE
            first = max(0, round(((self._speech_start or start) - PRE_SPEECH_S - start) * SAMPLE_RATE))
            p = self.model(audio[first:])
            self.on_turn_score(p, self._onset, self.heard_s, self._audio_end_s)
        return self._score


class SmartTurnDetector(_PeerDetector):
    name = "smart_turn"

    def __init__(self, threshold: float = 0.5, heard_ms: float = 200, stop_ms: float = 3000, model=None):
        super().__init__(heard_ms, model)
        self.threshold, self.stop_s = threshold, stop_ms / 1000

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        score = self._scored()
        if score and score[0] > self.threshold:
            return score[1]
        return self._onset + max(self.stop_s, self.heard_s)


class LiveKitDetector(_PeerDetector):
    name = "livekit"

    def __init__(self, threshold: float = 0.36, heard_ms: float = 200, min_delay_ms: float = 500,
                 max_delay_ms: float = 3000, model=None):
        if not 0 <= min_delay_ms <= max_delay_ms:
            raise ValueError(f"need 0 ≤ min_delay_ms ≤ max_delay_ms, got {min_delay_ms}, {max_delay_ms}")
        super().__init__(heard_ms, model)
        self.threshold, self.min_s, self.max_s = threshold, min_delay_ms / 1000, max_delay_ms / 1000

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        score = self._scored()
        if score is None:
            return self._onset + self.max_s
        return max(score[1], self._onset + (self.min_s if score[0] >= self.threshold else self.max_s))
