"""Bot audio output and call recording.

``AudioOutput`` is the last processor of the graph: it plays bot audio in real time, paced by
the call clock, 20 ms at a time, into a ``CallRecorder`` (and optionally a sink callback, e.g.
a WebRTC track). It reports ``BotStartedSpeakingFrame`` at the first played sample and
``BotStoppedSpeakingFrame`` when the response has drained or an interruption cut it, with the
text the caller heard. Each ``TTSTextFrame`` is passed on when its sentence's first sample plays,
not when it is queued, so what follows the output sees the reply as the caller hears it. A
``BotAudioPauseFrame`` holds playback (the bot is still speaking, silently) until a
``BotAudioResumeFrame`` or an ``InterruptionFrame``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import numpy as np

from agent.frames import (
    BotAudioPauseFrame,
    BotAudioResumeFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from agent.processor import FrameProcessor
from asr.audio import FRAME_SAMPLES, SAMPLE_RATE, resample

UNDERRUN_STOP_S = 3.0  # a response whose audio stalls this long counts as finished


class CallRecorder:
    """Two time-aligned channels at 16 kHz: caller (left) and bot (right)."""

    def __init__(self):
        self._channels: dict[str, list[tuple[int, np.ndarray]]] = {"caller": [], "bot": []}

    def write(self, channel: str, audio: np.ndarray, t_s: float):
        self._channels[channel].append((int(round(t_s * SAMPLE_RATE)), audio.astype(np.float32, copy=False)))

    def channel(self, name: str) -> np.ndarray:
        pieces = self._channels[name]
        n = max((start + len(a) for start, a in pieces), default=0)
        out = np.zeros(n, np.float32)
        for start, a in pieces:
            out[start:start + len(a)] += a
        return out

    def stereo(self) -> np.ndarray:
        left, right = self.channel("caller"), self.channel("bot")
        n = max(len(left), len(right))
        return np.stack([np.pad(left, (0, n - len(left))), np.pad(right, (0, n - len(right)))], axis=1)

    def save(self, path: str | Path):
        import soundfile as sf

        sf.write(str(path), np.clip(self.stereo(), -1, 1), SAMPLE_RATE, subtype="PCM_16")


class AudioOutput(FrameProcessor):
    def __init__(self, recorder: CallRecorder | None = None,
                 sink: Callable[[np.ndarray, float], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.recorder, self.sink = recorder, sink
        self._fifo: list[np.ndarray] = []
        self._audio_arrived = asyncio.Event()
        self._speaking = False
        self._tts_done = True
        self._last_audio_s = 0.0
        self._drained = asyncio.Event()
        self._drained.set()
        self._player: asyncio.Task | None = None
        self._playing = asyncio.Event()  # cleared while paused
        self._playing.set()
        self._queued_total = self._played_total = 0  # samples queued / played since the call began
        self._sentences: list[tuple[int, TTSTextFrame]] = []  # (first sample, sentence) not yet reported stopped
        self._announced = 0  # how many of _sentences have begun to play

    @property
    def _queued(self) -> int:
        """Samples waiting in the fifo."""
        return self._queued_total - self._played_total

    async def start(self, frame: StartFrame):
        self._player = asyncio.create_task(self._play(), name=f"{self.name}.play")

    async def stop(self):
        if self._player:
            self._player.cancel()
            await asyncio.gather(self._player, return_exceptions=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, TTSAudioRawFrame):
            audio = resample(frame.audio, frame.sample_rate, SAMPLE_RATE)
            self._fifo.append(audio)
            self._queued_total += len(audio)
            self._drained.clear()
            self._audio_arrived.set()
            return
        if isinstance(frame, TTSTextFrame):
            self._sentences.append((self._queued_total, frame))
            return  # passed on when it plays
        if isinstance(frame, TTSStartedFrame):
            self._tts_done = False
            self._drained.clear()
        elif isinstance(frame, TTSStoppedFrame):
            self._tts_done = True
            self._audio_arrived.set()
        elif isinstance(frame, BotAudioPauseFrame):
            self._playing.clear()
        elif isinstance(frame, BotAudioResumeFrame):
            self._last_audio_s = self.clock.now()  # the pause is not a stalled response
            self._playing.set()
        elif isinstance(frame, InterruptionFrame):
            heard = self._heard()
            self._fifo.clear()
            self._tts_done, self._queued_total = True, self._played_total
            self._sentences, self._announced = [], 0
            self._playing.set()
            if self._speaking:
                await self._stopped(interrupted=True, text=heard)
            self._drained.set()
        elif isinstance(frame, EndFrame):
            await self._drained.wait()  # let the bot finish its last words
        await self.push_frame(frame, direction)

    async def _stopped(self, interrupted: bool, text: str | None = None):
        self._speaking = False
        if text is None:  # drained: every sentence that began has played
            text = self._heard()
            self._sentences, self._announced = self._sentences[self._announced:], 0
        await self.push_frame(BotStoppedSpeakingFrame(interrupted=interrupted, text=text, pts_s=self.clock.now()),
                              FrameDirection.UPSTREAM)

    def _heard(self) -> str:
        """The words played of the sentences that began: each whole once its last sample played,
        and of one still playing, the share of its words its played samples cover."""
        ends = [start for start, _ in self._sentences[1:]] + [self._queued_total]
        words: list[str] = []
        for (start, sentence), end in zip(self._sentences[:self._announced], ends):
            said = sentence.text.split()
            share = (self._played_total - start) / max(1, end - start)
            words += said if share >= 1 else said[:int(share * len(said))]
        return " ".join(words)

    def _take(self, n: int) -> np.ndarray:
        out, need = [], n
        while need and self._fifo:
            head = self._fifo[0]
            out.append(head[:need])
            if len(head) <= need:
                self._fifo.pop(0)
            else:
                self._fifo[0] = head[need:]
            need -= len(out[-1])
        self._played_total += n - need
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    async def _play(self):
        """Real-time playback: chunk k of a run of audio plays at cursor + k·20 ms, gapless."""
        tick = FRAME_SAMPLES / SAMPLE_RATE
        cursor: float | None = None
        while True:
            if not self._playing.is_set():
                await self._playing.wait()
                continue
            if self._queued == 0:
                if self._speaking and (self._tts_done or self.clock.now() - self._last_audio_s > UNDERRUN_STOP_S):
                    await self._stopped(interrupted=False)
                if not self._speaking and self._tts_done:
                    self._drained.set()
                self._audio_arrived.clear()
                try:  # asyncio.timeout: a cancel never gets lost if audio arrives with it (agent/turns.py)
                    async with asyncio.timeout(tick if self._speaking else None):
                        await self._audio_arrived.wait()
                except TimeoutError:
                    pass
                continue
            now = self.clock.now()
            if cursor is None or cursor < now - tick:  # idle or starved: restart the run at now
                cursor = now
            elif cursor > now:
                await asyncio.sleep(cursor - now)
                continue  # an interruption may have emptied the queue meanwhile
            chunk = self._take(FRAME_SAMPLES)
            if not self._speaking:
                self._speaking = True
                await self.push_frame(BotStartedSpeakingFrame(pts_s=cursor), FrameDirection.UPSTREAM)
            while self._announced < len(self._sentences) and self._sentences[self._announced][0] < self._played_total:
                self._announced += 1
                await self.push_frame(self._sentences[self._announced - 1][1])
            if self.recorder:
                self.recorder.write("bot", chunk, cursor)
            if self.sink:
                self.sink(chunk, cursor)
            self._last_audio_s = cursor
            cursor += tick
