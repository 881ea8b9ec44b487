"""The simulated caller: the input transport of a scripted call.

It streams the caller's audio into the graph in real time — a 20 ms frame every 20 ms of the
call clock, silence between turns — so every latency the call measures includes real compute.
It listens to the bot (``BotStarted/StoppedSpeakingFrame`` arriving upstream) to decide when
to speak, and records the ground truth of each turn: where its speech really starts and ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import numpy as np

from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
)
from agent.processor import FrameProcessor
from agent.scenario import TurnAudio
from agent.transport import CallRecorder
from asr.audio import FRAME_SAMPLES, SAMPLE_RATE

log = logging.getLogger(__name__)
TICK_S = FRAME_SAMPLES / SAMPLE_RATE


@dataclass
class CallerTurnRecord:
    index: int
    text: str
    start: str  # after_bot | barge_in
    start_s: float  # media time of the first speech sample
    end_s: float  # media time of the last speech sample
    spans: list[tuple[float, float]] = field(default_factory=list)
    bot_speaking_at_start: bool = False


class ScriptedCaller(FrameProcessor):
    def __init__(self, turns: list[TurnAudio], recorder: CallRecorder | None = None, *,
                 expect_greeting: bool = True, wait_timeout_s: float = 30.0, tail_s: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.turns, self.recorder = turns, recorder
        self.expect_greeting, self.wait_timeout_s, self.tail_s = expect_greeting, wait_timeout_s, tail_s
        self.records: list[CallerTurnRecord] = []
        self.finished = asyncio.Event()
        self._voice: np.ndarray | None = None  # audio of the turn being spoken
        self._voice_pos = 0
        self._voice_t0 = 0.0
        self._voice_started = asyncio.Event()
        self._voice_done = asyncio.Event()
        self._bot_speaking = False
        self._bot_started_s = -1.0
        self._bot_stopped_s = -1.0
        self._bot_changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self, frame: StartFrame):
        self._tasks = [asyncio.create_task(self._stream(), name=f"{self.name}.stream"),
                       asyncio.create_task(self._script(), name=f"{self.name}.script")]

    async def stop(self):
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking, self._bot_started_s = True, frame.pts_s
            self._bot_changed.set()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking, self._bot_stopped_s = False, frame.pts_s
            self._bot_changed.set()
        await self.push_frame(frame, direction)

    # ------------------------------------------------------------ audio clock

    async def _stream(self):
        n = 0
        while True:
            await asyncio.sleep(max(0.0, (n + 1) * TICK_S - self.clock.now()))  # frame n is complete
            chunk = np.zeros(FRAME_SAMPLES, np.float32)
            if self._voice is not None:
                if self._voice_pos == 0:
                    self._voice_t0 = n * TICK_S
                    self._voice_started.set()
                piece = self._voice[self._voice_pos:self._voice_pos + FRAME_SAMPLES]
                chunk[:len(piece)] = piece
                self._voice_pos += FRAME_SAMPLES
                if self._voice_pos >= len(self._voice):
                    self._voice = None
                    self._voice_done.set()
            if self.recorder:
                self.recorder.write("caller", chunk, n * TICK_S)
            await self.push_frame(InputAudioRawFrame(audio=chunk, sample_rate=SAMPLE_RATE, pts_s=n * TICK_S))
            n += 1

    # ------------------------------------------------------------ script

    async def _wait_bot(self, condition, what: str) -> bool:
        try:
            async with asyncio.timeout(self.wait_timeout_s):
                while not condition():
                    self._bot_changed.clear()
                    await self._bot_changed.wait()
            return True
        except TimeoutError:
            log.warning("caller: no %s within %.0f s; going on", what, self.wait_timeout_s)
            return False

    async def _say(self, index: int, turn: TurnAudio):
        self._voice_started.clear()
        self._voice_done.clear()
        self._voice, self._voice_pos = turn.audio, 0
        await self._voice_started.wait()  # the stream picked it up at its next frame
        t0 = self._voice_t0
        spans = [(t0 + a, t0 + b) for a, b in turn.speech_spans]
        self.records.append(CallerTurnRecord(index, turn.text, turn.start, spans[0][0], spans[-1][1], spans,
                                             self._bot_speaking))
        await self._voice_done.wait()

    async def _script(self):
        prev_end = 0.0
        for i, turn in enumerate(self.turns):
            if turn.start == "barge_in":
                await self._wait_bot(lambda: self._bot_started_s > prev_end, "bot reply to barge in on")
            elif i > 0 or self.expect_greeting:
                await self._wait_bot(lambda: self._bot_stopped_s > prev_end and not self._bot_speaking,
                                     "end of bot reply")
            await asyncio.sleep(turn.delay_ms / 1000)
            await self._say(i, turn)
            prev_end = self.records[-1].end_s
        await self._wait_bot(lambda: self._bot_stopped_s > prev_end and not self._bot_speaking, "final bot reply")
        await asyncio.sleep(self.tail_s)
        self._tasks[0].cancel()  # stop the audio clock, then end the call behind the last frame
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        self.finished.set()
        await self.push_frame(EndFrame(pts_s=self.clock.now()))
