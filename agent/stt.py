"""Speech-to-text processors.

``SegmentedSTTProcessor`` pairs an offline recognizer with VAD (what pipecat calls a
segmented STT service and LiveKit a StreamAdapter): audio between VAD speech start and stop,
plus a little pre- and post-roll, is transcribed in a worker thread while audio keeps
flowing. Results are ``TranscriptionFrame``s whose word times are in media time.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from agent.config import STTConfig
from agent.frames import (
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from asr.audio import SAMPLE_RATE
from asr.recognizer import Recognizer, create_recognizer

log = logging.getLogger(__name__)


class AudioHistory:
    """The last ``max_s`` seconds of a stream, addressable by media time."""

    def __init__(self, max_s: float = 60.0):
        self._max = int(max_s * SAMPLE_RATE)
        self._audio = np.zeros(0, np.float32)
        self._t0 = 0.0  # media time of _audio[0]
        self.changed = asyncio.Event()

    @property
    def end_s(self) -> float:
        return self._t0 + len(self._audio) / SAMPLE_RATE

    def append(self, audio: np.ndarray, pts_s: float):
        if len(self._audio) == 0:
            self._t0 = pts_s
        self._audio = np.concatenate([self._audio, audio])
        if len(self._audio) > self._max:
            drop = len(self._audio) - self._max
            self._audio, self._t0 = self._audio[drop:], self._t0 + drop / SAMPLE_RATE
        self.changed.set()

    def slice(self, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        """Audio in [start_s, end_s) clipped to what is held; returns (audio, actual start)."""
        a = max(0, int(round((start_s - self._t0) * SAMPLE_RATE)))
        b = max(a, int(round((end_s - self._t0) * SAMPLE_RATE)))
        return self._audio[a:b], self._t0 + a / SAMPLE_RATE

    async def wait_until(self, t_s: float, timeout_s: float):
        """Wait until audio up to ``t_s`` has arrived (or the timeout passes)."""
        async def _wait():
            while self.end_s < t_s:
                self.changed.clear()
                await self.changed.wait()
        try:
            await asyncio.wait_for(_wait(), timeout_s)
        except TimeoutError:
            pass


class SegmentedSTTProcessor(FrameProcessor):
    def __init__(self, config: STTConfig = STTConfig(), recognizer: Recognizer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.recognizer = recognizer
        self._history = AudioHistory()
        self._segment_start_s: float | None = None
        self._jobs: set[asyncio.Task] = set()
        self._order = asyncio.Lock()  # one transcription at a time, results in segment order

    async def start(self, frame: StartFrame):
        if self.recognizer is None:
            self.recognizer = await asyncio.to_thread(
                create_recognizer, self.config.recognizer, beam_size=self.config.beam_size)
            await asyncio.to_thread(self.recognizer.warmup)

    async def stop(self):
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, InputAudioRawFrame):
            self._history.append(frame.audio, frame.pts_s or 0.0)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if self._segment_start_s is None:
                self._segment_start_s = frame.speech_start_s
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._segment_start_s is not None:
            start, self._segment_start_s = self._segment_start_s, None
            job = asyncio.create_task(self._transcribe(start, frame.speech_end_s), name=f"{self.name}.job")
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        await self.push_frame(frame, direction)

    async def _transcribe(self, speech_start_s: float, speech_end_s: float):
        start_s = speech_start_s - self.config.pre_roll_ms / 1000
        end_s = speech_end_s + self.config.post_roll_ms / 1000
        await self._history.wait_until(end_s, timeout_s=2.0)
        audio, t0 = self._history.slice(start_s, end_s)
        async with self._order:
            try:
                transcript = await asyncio.to_thread(self.recognizer.transcribe, audio)
            except Exception:
                log.exception("recognizer failed on a %.2f s segment", len(audio) / SAMPLE_RATE)
                return
        emitted_s = self.clock.now()
        transcript = transcript.shifted(t0)
        for w in transcript.words:
            w.emitted_s = emitted_s
        await self.push_frame(TranscriptionFrame(text=transcript.text, words=transcript.words,
                                                 segment_end_s=speech_end_s, pts_s=speech_end_s))
