"""Silero VAD as a frame processor: caller audio in, speech start/pause/stop frames out.

The model and the start/stop hysteresis live in ``asr.vad`` (the evaluation replays the
same segmenter over cached probabilities). Speech start is stamped with the media time where that
speech began, speech stop with the time the silence began, so downstream delays are measured from
the true pause onset.
"""

from __future__ import annotations

import numpy as np

from agent.config import VADConfig
from agent.frames import (
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
    VADUserPausedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from asr.audio import SAMPLE_RATE
from asr.vad import SileroVAD, SpeechSegmenter, StreamingVAD


class VADProcessor(FrameProcessor):
    def __init__(self, config: VADConfig = VADConfig(), vad: SileroVAD | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self._stream = self._streaming(vad) if vad else None  # loaded at start otherwise

    def _streaming(self, vad: SileroVAD) -> StreamingVAD:
        c = self.config
        return StreamingVAD(vad, SpeechSegmenter(c.confidence, c.start_ms, c.stop_ms, c.pause_ms))

    async def start(self, frame: StartFrame):
        if self._stream is None:
            self._stream = self._streaming(SileroVAD())
        self._stream.vad.reset()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if frame.sample_rate != SAMPLE_RATE:
                raise ValueError(f"VAD needs {SAMPLE_RATE} Hz audio, got {frame.sample_rate} Hz: "
                                 "resample in the input transport")
            for event in self.analyze(frame.audio, frame.pts_s or 0.0):
                await self.push_frame(event)

    def analyze(self, audio: np.ndarray, pts_s: float) -> list[Frame]:
        """Feed audio starting at media time ``pts_s``; returns the start, pause and stop frames it
        triggered."""
        return [VADUserPausedFrame(pause_start_s=b.t_s, pts_s=b.t_s) if b.pause
                else VADUserStartedSpeakingFrame(speech_start_s=b.t_s, pts_s=b.t_s) if b.speaking
                else VADUserStoppedSpeakingFrame(speech_end_s=b.t_s, pts_s=b.t_s)
                for b in self._stream.push(audio, pts_s)]
