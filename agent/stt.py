"""Speech-to-text processors.

``SegmentedSTTProcessor`` pairs an offline recognizer with VAD (what pipecat calls a
segmented STT service and LiveKit a StreamAdapter): audio between VAD speech start and stop,
plus a little pre- and post-roll, is transcribed in a worker thread while audio keeps
flowing. Results are ``TranscriptionFrame``s whose word times are in media time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

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
    """The last ``max_s`` seconds of a stream, addressable by media time.

    Kept as the frames it arrived in (appending is O(1) on the 20 ms hot path); only
    ``slice`` concatenates, once per speech segment."""

    def __init__(self, max_s: float = 60.0):
        self._max_s = max_s
        self._chunks: deque[tuple[float, np.ndarray]] = deque()  # (media time of first sample, audio)
        self.end_s = 0.0
        self.changed = asyncio.Event()

    def append(self, audio: np.ndarray, pts_s: float):
        self._chunks.append((pts_s, audio))
        self.end_s = pts_s + len(audio) / SAMPLE_RATE
        while self._chunks and self._chunks[0][0] < self.end_s - self._max_s:
            self._chunks.popleft()
        self.changed.set()

    def slice(self, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        """Audio in [start_s, end_s) clipped to what is held; returns (audio, actual start)."""
        parts = [(t, a) for t, a in self._chunks if t < end_s and t + len(a) / SAMPLE_RATE > start_s]
        if not parts:
            return np.zeros(0, np.float32), start_s
        t0 = parts[0][0]
        audio = np.concatenate([a for _, a in parts])
        a = max(0, int(round((start_s - t0) * SAMPLE_RATE)))
        b = max(a, int(round((end_s - t0) * SAMPLE_RATE)))
        return audio[a:b], t0 + a / SAMPLE_RATE

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
