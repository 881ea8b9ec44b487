"""WebRTC transport (aiortc): a browser's microphone in, the bot's voice out.

``BrowserCaller`` is the input transport of a browser call: it reads the remote audio track
(Opus, decoded by aiortc at 48 kHz), converts it to 16 kHz mono and pushes 20 ms
``InputAudioRawFrame``s whose ``pts_s`` counts the samples received, starting from the call
clock's time at the first one. When the browser hangs up, the track ends and it pushes an
``EndFrame``.

``BotAudioTrack`` is the track the browser hears: ``AudioOutput`` (which already paces the bot
in real time) hands it each played chunk as its ``sink``, and aiortc pulls a 20 ms frame every
20 ms — silence when the bot is quiet, so the browser's jitter buffer never starves.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from agent.frames import EndFrame, Frame, FrameDirection, InputAudioRawFrame, StartFrame
from agent.processor import FrameProcessor
from agent.transport import CallRecorder
from asr.audio import FRAME_SAMPLES, SAMPLE_RATE

TICK_S = FRAME_SAMPLES / SAMPLE_RATE


def _pcm16_frame(audio: np.ndarray, pts: int) -> av.AudioFrame:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, pts, fractions.Fraction(1, SAMPLE_RATE)
    return frame


class BrowserCaller(FrameProcessor):
    def __init__(self, track: MediaStreamTrack, recorder: CallRecorder | None = None, **kwargs):
        super().__init__(**kwargs)
        self.track, self.recorder = track, recorder
        self.received_s = 0.0  # caller audio taken from the track so far
        self._task: asyncio.Task | None = None

    async def start(self, frame: StartFrame):
        self._task = asyncio.create_task(self._receive(), name=f"{self.name}.receive")

    async def stop(self):
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await self.push_frame(frame, direction)

    async def _receive(self):
        to_16k = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = np.zeros(0, np.float32)
        t0, n = None, 0
        while True:
            try:
                received = await self.track.recv()
            except MediaStreamError:  # the browser hung up
                break
            for piece in to_16k.resample(received):
                audio = piece.to_ndarray().reshape(-1).astype(np.float32) / 32768
                if t0 is None:
                    t0 = max(0.0, self.clock.now() - len(audio) / SAMPLE_RATE)
                pending = np.concatenate([pending, audio])
            while len(pending) >= FRAME_SAMPLES:
                chunk, pending = pending[:FRAME_SAMPLES], pending[FRAME_SAMPLES:]
                pts = t0 + n * TICK_S
                if self.recorder:
                    self.recorder.write("caller", chunk, pts)
                await self.push_frame(InputAudioRawFrame(audio=chunk, sample_rate=SAMPLE_RATE, pts_s=pts))
                n += 1
                self.received_s = n * TICK_S
        await self.push_frame(EndFrame(pts_s=self.clock.now()))


class BotAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self):
        super().__init__()
        self._pending = np.zeros(0, np.float32)
        self._start: float | None = None
        self._sent = 0  # frames handed to aiortc

    def write(self, audio: np.ndarray, t_s: float):
        """``AudioOutput``'s sink: 16 kHz float audio, played from media time ``t_s``."""
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self._sent * TICK_S - time.monotonic()))
        chunk = np.zeros(FRAME_SAMPLES, np.float32)
        take = min(FRAME_SAMPLES, len(self._pending))
        chunk[:take], self._pending = self._pending[:take], self._pending[take:]
        frame = _pcm16_frame(chunk, self._sent * FRAME_SAMPLES)
        self._sent += 1
        return frame
