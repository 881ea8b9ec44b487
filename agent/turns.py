"""User turn processor: VAD + transcripts + an end-of-turn detector → user turns and barge-in.

It owns the two decisions of turn-taking in the graph:

- *end of turn*: when the detector's due time has passed and the turn's speech is
  transcribed up to its last VAD speech end (so a late STT final can never split a turn or
  start a second reply), it pushes ``UserStoppedSpeakingFrame`` and the turn's text as
  ``UserTurnFrame``. The detector hears VAD, transcripts and, from a streaming recognizer,
  sentence-end punctuation and the LLM's sentence-end probability; new evidence during a
  pause re-decides when the turn ends;
- *barge-in*: caller speech while the bot is speaking goes to a ``BargeInClassifier``: the
  bot's audio is paused at the onset (``BotAudioPauseFrame``), then either resumed
  (``BotAudioResumeFrame``: a backchannel, whose words never become a user turn) or cut
  (``InterruptionFrame``, which flushes LLM, TTS and output audio downstream, and the caller's
  speech opens a turn). Speech while a reply is being prepared, before its audio plays, cuts it
  at once: the caller was not finished. The caller never heard that reply, so the turn goes
  on: its words so far open the new turn, whose ``UserTurnFrame`` says which turn it continues
  (the responder answers the whole turn in its place).

A detector that weighs how finished the caller's voice sounds (``reads_voice``: the learned
policy fit with ``--voice``) gets the voice-end model's score of each pause once ``HEARD_S`` of it
has arrived; the processor keeps the last seconds of caller audio for it.
"""

from __future__ import annotations

import asyncio
import logging

from agent.config import TurnConfig
from agent.frames import (
    BotAudioPauseFrame,
    BotAudioResumeFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    RecognizerEventsFrame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from asr.events import SentenceEnd
from turn_taking.bargein import Action, BargeInClassifier
from turn_taking.detectors import EndOfTurnDetector, create_detector
from turn_taking.voice_end import HEARD_S, PauseAudio, VoiceEndModel

log = logging.getLogger(__name__)

TRANSCRIPT_WAIT_S = 5.0  # give up on a lost transcription after this long


class UserTurnProcessor(FrameProcessor):
    def __init__(self, config: TurnConfig = TurnConfig(), detector: EndOfTurnDetector | None = None,
                 voice: VoiceEndModel | None = None, **kwargs):
        """``voice``: the voice-end model, for a detector that reads it (loaded at start otherwise)."""
        super().__init__(**kwargs)
        self.config = config
        self.detector = detector or create_detector(config.detector, **config.detector_settings())
        self._voice = voice
        self._pause_audio = PauseAudio()  # the caller's last seconds, for the voice-end model
        self._voice_job: asyncio.Task | None = None
        self.turn_index = 0
        self._turn_open = False
        self._texts: list[str] = []
        self._transcribed_s = 0.0  # the latest speech end whose transcript has arrived
        self._transcript_arrived = asyncio.Event()
        self._last_speech_end_s = 0.0
        self._paused = False  # the caller is silent inside an open turn: a decision is pending
        self._decision: asyncio.Task | None = None
        self._bot_speaking = False
        self._reply_pending = False  # a turn was taken and its reply has not finished playing
        self._committing = False  # the decision is being pushed: too late to cancel it
        self._taken: tuple[int, list[str]] | None = None  # the last turn taken: its index and texts
        self._continues: int | None = None  # the open turn goes on with this taken turn
        self._barge_in = BargeInClassifier(config.barge_in)
        self._overlap_start_s: float | None = None  # onset of caller speech heard over the bot
        self._overlap_texts: list[str] = []
        self._barge_timer: asyncio.Task | None = None

    async def start(self, frame: StartFrame):
        if getattr(self.detector, "reads_voice", False) and self._voice is None:
            self._voice = await asyncio.to_thread(VoiceEndModel)

    async def stop(self):
        await self._cancel_decision()
        if self._voice_job:
            self._voice_job.cancel()
        if self._barge_timer:
            self._barge_timer.cancel()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await self.push_frame(frame, direction)  # VAD and bot frames first, then what they caused
        if isinstance(frame, InputAudioRawFrame):
            await self._on_audio(frame)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._on_speech_start(frame)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._on_speech_end(frame)
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            await self._on_transcript(frame)
        elif isinstance(frame, RecognizerEventsFrame):
            await self._on_recognizer(frame)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._barge_in.bot_started()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = self._reply_pending = False
            deciding = self._barge_in.deciding
            self._barge_in.bot_stopped()
            if deciding:  # the bot finished while the caller was talking over it: the caller's turn
                await self._open_turn_from_overlap(interrupted=False)
            self._overlap_start_s = None

    # ------------------------------------------------------------ caller speech

    async def _on_audio(self, frame: InputAudioRawFrame):
        if self._voice is None:
            return
        self._pause_audio.push(frame.audio, frame.pts_s or 0.0)
        if due := self._pause_audio.due():
            self._voice_job = asyncio.create_task(self._score_voice(*due), name=f"{self.name}.voice")

    async def _score_voice(self, onset: float, audio):
        """The voice-end model's score of the pause at ``onset``, off the frame loop (tens of ms)."""
        p = await asyncio.to_thread(self._voice, audio)
        self.detector.on_turn_score(p, onset, HEARD_S, self.clock.now())  # ignored if the caller spoke meanwhile
        await self._reconsider()

    async def _on_speech_start(self, frame: VADUserStartedSpeakingFrame):
        await self._cancel_decision()
        self._paused = False
        self._pause_audio.speech_started()
        t = frame.speech_start_s
        if not self._turn_open and self.config.allow_interruptions and self._bot_speaking:
            if not self._barge_in.deciding:
                self._overlap_start_s, self._overlap_texts = t, []
            await self._apply(self._barge_in.on_speech_start(t, self.clock.now()))
            return
        self.detector.on_speech_start(t)
        if self._turn_open:
            return
        cut_reply = self.config.allow_interruptions and self._reply_pending
        self._turn_open = True
        if cut_reply:  # its audio has not played: withdraw it, and the turn goes on
            self._reply_pending = False
            self._continues, texts = self._taken  # before any await: a transcript may arrive meanwhile
            self._texts = list(texts)
            self.detector.on_transcript(" ".join(self._texts), True, self.clock.now())
            await self.push_frame(InterruptionFrame(speech_start_s=t, withdrawn=True, pts_s=t))
        await self.push_frame(UserStartedSpeakingFrame(speech_start_s=t, pts_s=t))

    async def _on_speech_end(self, frame: VADUserStoppedSpeakingFrame):
        self._last_speech_end_s = frame.speech_end_s
        if not self._turn_open:
            if self._overlap_start_s is not None and self._barge_in.caller_speaking:
                await self._apply(self._barge_in.on_speech_end(frame.speech_end_s, self.clock.now()))
            return
        self._paused = True
        self._pause_audio.speech_stopped(frame.speech_end_s)
        self.detector.on_speech_end(frame.speech_end_s)
        await self._schedule_decision()

    async def _on_transcript(self, frame: TranscriptionFrame | InterimTranscriptionFrame):
        final = isinstance(frame, TranscriptionFrame)
        text = frame.text.strip()
        if final:
            covered = frame.segment_end_s if frame.segment_end_s is not None else self._last_speech_end_s
            self._transcribed_s = max(self._transcribed_s, covered)
        if not self._turn_open and self._overlap_start_s is not None:  # words heard over the bot
            if final:
                self._overlap_texts += [text] if text else []
            heard = " ".join(self._overlap_texts + ([] if final else [text]))
            await self._apply(self._barge_in.on_transcript(heard, self.clock.now()))
            return
        if not self._turn_open:  # a late transcript of speech that opened no turn (a backchannel)
            if final:
                log.debug("dropped a transcript outside any turn: %r", text)
            return
        if not final:  # a streaming recognizer's words so far: the detector reads their tail
            self.detector.on_transcript(" ".join([*self._texts, text]), False, self.clock.now())
            await self._reconsider()
            return
        if text:
            self._texts.append(text)
        self.detector.on_transcript(" ".join(self._texts), True, self.clock.now())
        self._transcript_arrived.set()
        await self._reconsider()  # the final words may read differently from the live ones

    async def _on_recognizer(self, frame: RecognizerEventsFrame):
        now = self.clock.now()
        for e in frame.events:
            if isinstance(e, SentenceEnd):
                self.detector.on_sentence_end(e.mark, e.time_s, now)
        if frame.end_probability is not None:
            self.detector.on_end_probability(frame.end_probability, now)
        await self._reconsider()

    async def _reconsider(self):
        """New evidence during a pause may move the turn's end: decide again."""
        if self._turn_open and self._paused and not self._committing:
            await self._schedule_decision()

    # ------------------------------------------------------------ barge-in

    async def _apply(self, actions: list[Action]):
        """Carry out the classifier's decisions, then wake up for its next timed one."""
        for a in actions:
            if a.kind == "pause":
                await self.push_frame(BotAudioPauseFrame(speech_start_s=self._overlap_start_s, pts_s=a.at))
            elif a.kind == "resume":
                await self.push_frame(BotAudioResumeFrame(pts_s=a.at))
            else:
                self._bot_speaking = self._reply_pending = False
                await self.push_frame(InterruptionFrame(speech_start_s=self._overlap_start_s, pts_s=a.at))
                await self._open_turn_from_overlap(interrupted=True)
        if self._barge_timer and self._barge_timer is not asyncio.current_task():
            self._barge_timer.cancel()
        due = self._barge_in.next_due()
        self._barge_timer = due and asyncio.create_task(self._wake_at(due[0]), name=f"{self.name}.barge_in")

    async def _wake_at(self, t: float):
        await asyncio.sleep(max(0.0, t - self.clock.now()))
        await self._apply(self._barge_in.advance(self.clock.now()))

    async def _open_turn_from_overlap(self, interrupted: bool):
        """The speech heard over the bot becomes the start of the caller's turn."""
        onset, self._overlap_start_s = self._overlap_start_s, None
        if onset is None or self._turn_open:
            return
        self._turn_open, self._texts = True, list(self._overlap_texts)
        self.detector.on_speech_start(onset)
        await self.push_frame(UserStartedSpeakingFrame(speech_start_s=onset, interrupted_bot=interrupted, pts_s=onset))
        if self._texts:
            self.detector.on_transcript(" ".join(self._texts), True, self.clock.now())
        if not self._barge_in.caller_speaking:  # already silent: decide as after any speech end
            self._paused = True
            self.detector.on_speech_end(self._last_speech_end_s)
            await self._schedule_decision()

    # ------------------------------------------------------------ end of turn

    async def _schedule_decision(self):
        await self._cancel_decision()
        self._decision = asyncio.create_task(self._decide(), name=f"{self.name}.decide")

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
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that comes as
        # the awaited transcript arrives, and this decision is cancelled exactly then (the
        # transcript re-decides the pause); the frame loop would wait out the whole deadline
        try:
            async with asyncio.timeout(TRANSCRIPT_WAIT_S):
                while self._transcribed_s < self._last_speech_end_s:
                    self._transcript_arrived.clear()
                    await self._transcript_arrived.wait()
        except TimeoutError:
            log.warning("no transcript after %.1f s; taking the turn with what arrived", TRANSCRIPT_WAIT_S)
        self._committing = True
        try:
            await self._take_turn()
        finally:
            self._committing = False

    async def _take_turn(self):
        texts, continues = self._texts, self._continues
        self._turn_open, self._texts, self._paused, self._continues = False, [], False, None
        self.detector.reset()
        text = " ".join(texts)
        if not text:
            return  # speech without words (a cough, noise): no turn to answer
        self.turn_index += 1
        self._reply_pending, self._taken = True, (self.turn_index, texts)
        end = self._last_speech_end_s
        await self.push_frame(UserStoppedSpeakingFrame(speech_end_s=end, turn_index=self.turn_index, pts_s=end))
        await self.push_frame(UserTurnFrame(text=text, turn_index=self.turn_index, speech_end_s=end,
                                            continues_turn=continues, pts_s=end))
