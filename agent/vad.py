"""Silero VAD as a frame processor: caller audio in, speech start/stop frames out.

Runs the real Silero model (ONNX, from ``silero-vad``) on 32 ms windows (512 samples at
16 kHz). Speech start fires after ``start_ms`` of speech and is stamped with the media time
where that speech began; speech stop fires after ``stop_ms`` of silence and is stamped with
the time the silence began, so downstream delays are measured from the true pause onset.
"""

from __future__ import annotations

import numpy as np

from agent.config import VADConfig
from agent.frames import (
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from asr.audio import SAMPLE_RATE

WINDOW = 512  # samples per Silero window at 16 kHz
WINDOW_S = WINDOW / SAMPLE_RATE


class SileroVAD:
    """Streaming speech probability, one 512-sample window at a time."""

    def __init__(self):
        import torch
        from silero_vad import load_silero_vad

        self._torch = torch
        self._model = load_silero_vad(onnx=True)

    def reset(self):
        self._model.reset_states()

    def __call__(self, window: np.ndarray) -> float:
        return float(self._model(self._torch.from_numpy(window), SAMPLE_RATE))


class VADProcessor(FrameProcessor):
    def __init__(self, config: VADConfig = VADConfig(), vad: SileroVAD | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self._vad = vad
        self._pending = np.zeros(0, np.float32)
        self._pending_t0 = 0.0  # media time of _pending[0]
        self._speaking = False
        self._run_start_s: float | None = None  # first window of the current speech/silence run
        self._run_s = 0.0

    async def start(self, frame: StartFrame):
        if self._vad is None:
            self._vad = SileroVAD()
        self._vad.reset()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if frame.sample_rate != SAMPLE_RATE:
                raise ValueError(f"VAD needs {SAMPLE_RATE} Hz audio, got {frame.sample_rate} Hz: "
                                 "resample in the input transport")
            for event in self.analyze(frame.audio, frame.pts_s or 0.0):
                await self.push_frame(event)

    def analyze(self, audio: np.ndarray, pts_s: float) -> list[Frame]:
        """Feed audio starting at media time ``pts_s``; returns start/stop frames it triggered."""
        if len(self._pending) == 0:
            self._pending_t0 = pts_s
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        events: list[Frame] = []
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            t = self._pending_t0
            self._pending_t0 += WINDOW_S
            is_speech = self._vad(window) >= self.config.confidence
            if is_speech == self._speaking:  # the current state goes on; a contrary run ends
                self._run_start_s, self._run_s = None, 0.0
                continue
            if self._run_start_s is None:
                self._run_start_s = t
            self._run_s += WINDOW_S
            needed = (self.config.start_ms if is_speech else self.config.stop_ms) / 1000.0
            if self._run_s + 1e-9 >= needed:
                self._speaking = is_speech
                ts = self._run_start_s
                self._run_start_s, self._run_s = None, 0.0
                events.append(VADUserStartedSpeakingFrame(speech_start_s=ts, pts_s=ts) if is_speech
                              else VADUserStoppedSpeakingFrame(speech_end_s=ts, pts_s=ts))
        return events
