"""A LiveKit ``AgentSession`` on our plugins and the bundled models, run on a WAV of a caller
without a LiveKit server.

    AgentSession(stt=TradeSTT(detector),                 VAD + streaming recognizer; our
                                                         detector ends the user's turn
                 llm=LocalLLM(), tts=LocalTTS(),         bundled SmolLM2 and Piper voice
                 turn_handling={"turn_detection": "stt"})
    session.input.audio = WavInput(...)                  the caller, 20 ms frames in real time
    session.output.audio = HeardOutput(...)              the bot, played out on the call clock

``WavInput`` and ``HeardOutput`` are LiveKit ``AudioInput``/``AudioOutput`` implementations,
the same interfaces its room and console I/O implement: playback starts, finishes, and is
cut by ``clear_buffer`` on a barge-in, on the clock of the caller's audio.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import numpy as np
from livekit import rtc
from livekit.agents import Agent, AgentSession
from livekit.agents.voice import io

from agent.config import LLMConfig
from asr.audio import SAMPLE_RATE, from_pcm16
from integrations.livekit.llm import LocalLLM
from integrations.livekit.stt import TradeSTT
from integrations.livekit.tts import LocalTTS
from integrations.wav_call import ANSWER_WAIT_S, FRAME_S, BotTimeline, CallerFeed, Clock, Line, WavCall


class WavInput(io.AudioInput):
    """A recorded caller as LiveKit audio input (``CallerFeed``), until ``close()``."""

    def __init__(self, feed: CallerFeed):
        super().__init__(label="WAV caller")
        self.feed = feed
        self._closed = False

    def close(self):
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        frame = await self.feed.next_frame()
        return rtc.AudioFrame(frame.tobytes(), self.feed.sample_rate, 1, len(frame))


class HeardOutput(io.AudioOutput):
    """The bot's audio as the caller hears it: playback of a segment finishes when the call
    clock passes its end, or is cut where the clock stands by ``clear_buffer``."""

    def __init__(self, clock: Clock):
        super().__init__(label="heard by the caller", capabilities=io.AudioOutputCapabilities(pause=False),
                         sample_rate=SAMPLE_RATE)
        self.clock, self.timeline = clock, BotTimeline()
        self._segment_start_s: float | None = None  # captured, not yet flushed
        self._playing: tuple[asyncio.Task, float] | None = None  # flushed, playing out: (task, start)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        start = self.timeline.play(from_pcm16(bytes(frame.data), frame.num_channels), self.clock.fed_s)
        if self._segment_start_s is None:
            self._segment_start_s = start
            self.on_playback_started(created_at=time.time())

    def flush(self) -> None:
        super().flush()
        if self._segment_start_s is not None:
            self._playing = (asyncio.create_task(self._play_out(self._segment_start_s)), self._segment_start_s)
            self._segment_start_s = None

    async def _play_out(self, start_s: float):
        while self.clock.fed_s < self.timeline.end_s:
            await asyncio.sleep(FRAME_S)
        self._playing = None
        self.on_playback_finished(playback_position=self.timeline.end_s - start_s, interrupted=False)

    def clear_buffer(self) -> None:
        """Barge-in: what the caller has not heard yet is never heard."""
        now = self.clock.fed_s
        self.timeline.cut(now)
        start_s = self._segment_start_s
        if self._playing:
            task, start_s = self._playing
            task.cancel()
            self._playing = None
        if start_s is not None:
            self._segment_start_s = None
            self.on_playback_finished(playback_position=max(0.0, now - start_s), interrupted=True)

    @property
    def playing(self) -> bool:
        return self._playing is not None or self._segment_start_s is not None


async def run_wav_call(pcm16: np.ndarray, sample_rate: int, *, detector: str = "adaptive",
                       stt: TradeSTT | None = None, llm: LocalLLM | None = None, tts: LocalTTS | None = None,
                       instructions: str = LLMConfig().system_prompt,
                       on_line: Callable[[Line], None] = lambda line: None) -> WavCall:
    """Play int16 mono ``pcm16`` into an ``AgentSession`` in real time, then silence until the
    agent has answered the last turn; returns the call."""
    clock = Clock()
    stt, llm, tts = stt or TradeSTT(detector=detector), llm or LocalLLM(), tts or LocalTTS()
    await asyncio.gather(asyncio.to_thread(stt.prewarm), llm.lm())  # models load before the caller speaks
    session = AgentSession(stt=stt, llm=llm, tts=tts, turn_handling={"turn_detection": "stt"})
    caller, heard = CallerFeed(pcm16, sample_rate, clock), HeardOutput(clock)
    wav_input = WavInput(caller)
    session.input.audio, session.output.audio = wav_input, heard
    lines: list[Line] = []
    unanswered = {"turn": False}  # a caller turn has ended and the agent has not answered it yet

    @session.on("user_state_changed")
    def _user(event):
        if event.old_state == "speaking" and event.new_state != "speaking":
            unanswered["turn"] = True

    @session.on("conversation_item_added")
    def _said(event):
        item = event.item
        if item.type == "message" and item.role == "assistant":
            unanswered["turn"] = False
        if item.type == "message" and item.role in ("user", "assistant") and item.text_content:
            lines.append(line := Line(round(clock.fed_s, 2), "caller" if item.role == "user" else "bot",
                                      item.text_content.strip()))
            on_line(line)

    await session.start(Agent(instructions=instructions), record=False)
    while not caller.done or (session.user_state == "speaking" or unanswered["turn"] or heard.playing
                              or session.agent_state != "listening") and clock.fed_s < caller.end_s + ANSWER_WAIT_S:
        await asyncio.sleep(FRAME_S)
    wav_input.close()
    await session.aclose()
    messages = [{"role": m.role, "content": m.text_content} for m in session.history.messages()
                if m.role in ("user", "assistant")]
    audio = caller.audio()
    return WavCall(audio, heard.timeline.audio(len(audio)), lines, messages)
