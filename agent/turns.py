"""User turn processor: VAD + transcripts + an end-of-turn detector → user turns and barge-in.

It owns the two decisions of turn-taking in the graph:

- *end of turn*: when the detector's due time has passed and every transcription of the
  turn's speech has arrived (so a late STT final can never split a turn or start a second
  reply), it pushes ``UserStoppedSpeakingFrame`` and the turn's text as ``UserTurnFrame``;
- *barge-in*: caller speech while the bot is speaking or preparing a reply pushes an
  ``InterruptionFrame`` at once, which flushes LLM, TTS and output audio downstream.
"""

from __future__ import annotations

import asyncio
import logging

from agent.config import TurnConfig
from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from turn_taking.detectors import EndOfTurnDetector, create_detector

log = logging.getLogger(__name__)

TRANSCRIPT_WAIT_S = 5.0  # give up on a lost transcription after this long


class UserTurnProcessor(FrameProcessor):
    def __init__(self, config: TurnConfig = TurnConfig(), detector: EndOfTurnDetector | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.detector = detector or create_detector(config.detector, end_silence_ms=config.end_silence_ms)
        self.turn_index = 0
        self._turn_open = False
        self._texts: list[str] = []
        self._pending_transcripts = 0
        self._transcript_arrived = asyncio.Event()
        self._last_speech_end_s = 0.0
        self._decision: asyncio.Task | None = None
        self._bot_speaking = False
        self._reply_pending = False  # a turn was taken and its reply has not finished playing
        self._committing = False  # the decision is being pushed: too late to cancel it

    async def stop(self):
        await self._cancel_decision()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, VADUserStartedSpeakingFrame):
            await self._on_speech_start(frame)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._on_speech_end(frame)
        elif isinstance(frame, TranscriptionFrame):
            self._on_transcript(frame)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = self._reply_pending = False
        await self.push_frame(frame, direction)

    async def _on_speech_start(self, frame: VADUserStartedSpeakingFrame):
        await self._cancel_decision()
        self.detector.on_speech_start(frame.speech_start_s)
        if self._turn_open:
            return
        self._turn_open = True
        barge_in = self.config.allow_interruptions and (self._bot_speaking or self._reply_pending)
        if barge_in:
            self._bot_speaking = self._reply_pending = False
            await self.push_frame(InterruptionFrame(speech_start_s=frame.speech_start_s, pts_s=frame.speech_start_s))
        await self.push_frame(UserStartedSpeakingFrame(speech_start_s=frame.speech_start_s,
                                                       interrupted_bot=barge_in, pts_s=frame.speech_start_s))

    async def _on_speech_end(self, frame: VADUserStoppedSpeakingFrame):
        if not self._turn_open:
            return
        self._last_speech_end_s = frame.speech_end_s
        self._pending_transcripts += 1
        self.detector.on_speech_end(frame.speech_end_s)
        await self._cancel_decision()
        self._decision = asyncio.create_task(self._decide(), name=f"{self.name}.decide")

    def _on_transcript(self, frame: TranscriptionFrame):
        self._pending_transcripts = max(0, self._pending_transcripts - 1)
        if frame.text.strip():
            self._texts.append(frame.text.strip())
        self.detector.on_transcript(" ".join(self._texts), True, frame.pts_s or 0.0)
        self._transcript_arrived.set()

    async def _cancel_decision(self):
        task, self._decision = self._decision, None
        if task and not task.done() and not self._committing:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _decide(self):
        """Wait for the detector's due time and the turn's transcripts, then take the turn."""
        due = self.detector.turn_end_due_s()
        while due is not None and self.clock.now() < due:
            await asyncio.sleep(due - self.clock.now())
            due = self.detector.turn_end_due_s()
        if due is None:
            return
        deadline = self.clock.now() + TRANSCRIPT_WAIT_S
        while self._pending_transcripts > 0 and self.clock.now() < deadline:
            self._transcript_arrived.clear()
            try:
                await asyncio.wait_for(self._transcript_arrived.wait(), deadline - self.clock.now())
            except TimeoutError:
                log.warning("no transcript after %.1f s; taking the turn with what arrived", TRANSCRIPT_WAIT_S)
        self._committing = True
        try:
            await self._take_turn()
        finally:
            self._committing = False

    async def _take_turn(self):
        text = " ".join(self._texts)
        self._turn_open, self._texts, self._pending_transcripts = False, [], 0
        self.detector.reset()
        if not text:
            return  # speech without words (a cough, noise): no turn to answer
        self.turn_index += 1
        self._reply_pending = True
        end = self._last_speech_end_s
        await self.push_frame(UserStoppedSpeakingFrame(speech_end_s=end, turn_index=self.turn_index, pts_s=end))
        await self.push_frame(UserTurnFrame(text=text, turn_index=self.turn_index, speech_end_s=end, pts_s=end))
