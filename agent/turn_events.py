"""Turn events: what happened in a caller's turn, as versioned JSON for anyone watching a call.

``TurnEventObserver`` watches the agent's frames and makes them; the same events go to an MQTT
broker (``integrations.mqtt``) and to the browser page of ``python -m agent serve``.

Schema version 3. Every event carries ``v`` (schema version), ``call_id``, ``seq`` (1, 2, 3 …
per call, so a consumer can drop duplicates, e.g. those MQTT's QoS 1 allows after a reconnect, and notice gaps),
``event`` (its kind, also the last topic level), ``media_time_s`` (seconds since the call
started, the agent's clock) and ``wall_time`` (Unix seconds when it was created). Kinds and
their own fields:

- ``speech_started`` / ``speech_stopped``: the caller's voice activity (VAD)
- ``partial_transcript``: ``text`` that may still change
- ``final_transcript``: committed ``text``
- ``sentence_end``: a streaming recognizer emitted sentence-end punctuation ``mark`` ("." "?"
  "!") for the audio up to ``audio_time_s``; ``media_time_s`` is when it was emitted
- ``end_probability``: the recognizer LLM's probability ``p`` that the caller's sentence ends
  after the words so far (sent when it moves by ``END_PROBABILITY_STEP`` or more)
- ``end_of_utterance``: the turn is over; ``text`` of the turn, ``latency_ms`` from the true or
  VAD speech end to the decision, and the ``detector`` that made it. ``continues_previous``:
  the caller went on speaking before the reply to the previous ``end_of_utterance`` played, so
  that reply was withdrawn unheard; this ``text`` is the whole turn and replaces it
- ``bot_reply``: ``text`` the bot says
- ``bot_started_speaking`` / ``bot_stopped_speaking``: the bot's audio began / ended playing;
  ``interrupted`` says whether a barge-in cut it
- ``barge_in``: the caller talked over the bot; ``bot_text_heard`` is what was played so far
  (of a sentence cut midway, the share of its words its played audio covers)

Version 3 added ``continues_previous``. Version 2 added the bot-speaking, ``sentence_end`` and
``end_probability`` kinds (version 1 had the others, unchanged). The last two come only with a
streaming recognizer: they are the semantic signal the end-of-turn detectors read.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal, Protocol, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    RecognizerEventsFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from asr.events import SentenceEnd

SCHEMA_VERSION = 3
END_PROBABILITY_STEP = 0.05


class EventError(ValueError):
    """A message that is not a valid turn event; the message says which field is wrong."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[3] = SCHEMA_VERSION
    call_id: str = Field(min_length=1, pattern=r"^[^/#+]+$")
    seq: int = Field(ge=1)
    media_time_s: float = Field(ge=0)
    wall_time: float


class _TextEvent(_Event):
    text: str


class SpeechStarted(_Event):
    event: Literal["speech_started"] = "speech_started"


class SpeechStopped(_Event):
    event: Literal["speech_stopped"] = "speech_stopped"


class PartialTranscript(_TextEvent):
    event: Literal["partial_transcript"] = "partial_transcript"


class FinalTranscript(_TextEvent):
    event: Literal["final_transcript"] = "final_transcript"


class EndOfUtterance(_TextEvent):
    event: Literal["end_of_utterance"] = "end_of_utterance"
    latency_ms: float | None = None
    detector: str
    continues_previous: bool = False


class SentenceEndEvent(_Event):
    event: Literal["sentence_end"] = "sentence_end"
    mark: str = Field(min_length=1, max_length=3)
    audio_time_s: float = Field(ge=0)


class EndProbability(_Event):
    event: Literal["end_probability"] = "end_probability"
    p: float = Field(ge=0, le=1)


class BotReply(_TextEvent):
    event: Literal["bot_reply"] = "bot_reply"


class BotStartedSpeaking(_Event):
    event: Literal["bot_started_speaking"] = "bot_started_speaking"


class BotStoppedSpeaking(_Event):
    event: Literal["bot_stopped_speaking"] = "bot_stopped_speaking"
    interrupted: bool = False


class BargeIn(_Event):
    event: Literal["barge_in"] = "barge_in"
    bot_text_heard: str = ""


_ALL = (SpeechStarted, SpeechStopped, PartialTranscript, FinalTranscript, SentenceEndEvent, EndProbability,
        EndOfUtterance, BotReply, BotStartedSpeaking, BotStoppedSpeaking, BargeIn)
TurnEvent = Annotated[Union[_ALL], Field(discriminator="event")]
KINDS = {cls.model_fields["event"].default: cls for cls in _ALL}
_ADAPTER = TypeAdapter(TurnEvent)


def make_event(kind: str, **fields) -> TurnEvent:
    if kind not in KINDS:
        raise EventError(f"unknown turn event {kind!r}: one of {', '.join(KINDS)}")
    try:
        return KINDS[kind](**fields)
    except ValidationError as e:
        raise EventError(f"invalid {kind} event: {e}") from None


def parse_event(payload: bytes | str) -> TurnEvent:
    try:
        return _ADAPTER.validate_json(payload)
    except ValidationError as e:
        raise EventError(f"not a v{SCHEMA_VERSION} turn event: {e}") from None


def new_call_id() -> str:
    """A call id that sorts by start time and is safe as an MQTT topic level: call-<time>-<random>."""
    return f"call-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


class EventStamper:
    """Gives one call's events their call id, wall time and the next ``seq``."""

    def __init__(self, call_id: str):
        self.call_id, self.seq = call_id, 0

    def __call__(self, kind: str, media_time_s: float, **fields) -> TurnEvent:
        event = make_event(kind, call_id=self.call_id, seq=self.seq + 1, media_time_s=media_time_s,
                           wall_time=time.time(), **fields)
        self.seq += 1
        return event


class TurnEventSink(Protocol):
    def emit(self, kind: str, media_time_s: float, **fields) -> TurnEvent:
        """Take one event; must not block the call."""


class TurnEventObserver:
    """Turns the agent's frames into turn events as the call happens.

    A frame observer (``agent.processor.FrameObserver``): it sees every frame pushed anywhere
    in the graph, keeps each frame once (a frame crosses several processors), and hands the
    ones that mean something to a caller's turn to ``sink.emit``:

    =================================  =====================================================
    agent frame                        turn event
    =================================  =====================================================
    VADUserStartedSpeakingFrame        speech_started  (media time of the speech onset)
    VADUserStoppedSpeakingFrame        speech_stopped  (media time of the silence onset)
    InterimTranscriptionFrame          partial_transcript
    TranscriptionFrame                 final_transcript
    RecognizerEventsFrame              sentence_end (each mark), end_probability (on a change)
    UserStoppedSpeakingFrame +         end_of_utterance, ``latency_ms`` from the VAD speech end
    UserTurnFrame                      to the decision, ``text`` of the whole turn,
                                       ``continues_previous`` for a turn that goes on
    LLMFullResponseEndFrame            bot_reply
    BotStarted/StoppedSpeakingFrame    bot_started_speaking / bot_stopped_speaking
    InterruptionFrame of a reply       barge_in (sent with the bot_stopped_speaking it causes),
    that played                        ``bot_text_heard``: what the caller heard of the reply
    =================================  =====================================================
    """

    def __init__(self, sink: TurnEventSink, detector: str):
        self.sink, self.detector = sink, detector
        self._seen: set[int] = set()
        self._decided_s: dict[int, float] = {}  # turn index → decision time
        self._barge_in_s: float | None = None  # when the caller cut the bot, until its audio stops
        self._p: float | None = None  # the last end probability sent

    def on_push_frame(self, src, dst, frame: Frame, direction: FrameDirection, wall_s: float):
        if frame.id in self._seen:
            return
        self._seen.add(frame.id)
        emit = self.sink.emit
        if isinstance(frame, VADUserStartedSpeakingFrame):
            emit("speech_started", frame.speech_start_s)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            emit("speech_stopped", frame.speech_end_s)
        elif isinstance(frame, InterimTranscriptionFrame) and frame.text:
            emit("partial_transcript", wall_s, text=frame.text)
        elif isinstance(frame, TranscriptionFrame) and frame.text:
            emit("final_transcript", wall_s, text=frame.text)
        elif isinstance(frame, RecognizerEventsFrame):
            for e in frame.events:
                if isinstance(e, SentenceEnd):
                    emit("sentence_end", wall_s, mark=e.mark, audio_time_s=max(0.0, e.time_s))
            p = frame.end_probability
            if p is not None and (self._p is None or abs(p - self._p) >= END_PROBABILITY_STEP):
                self._p = p
                emit("end_probability", wall_s, p=round(min(1.0, max(0.0, p)), 3))
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._decided_s[frame.turn_index] = wall_s
        elif isinstance(frame, UserTurnFrame):
            decided = self._decided_s.pop(frame.turn_index, wall_s)
            emit("end_of_utterance", decided, text=frame.text, detector=self.detector,
                 latency_ms=round(max(0.0, decided - frame.speech_end_s) * 1000, 1),
                 continues_previous=frame.continues_turn is not None)
        elif isinstance(frame, LLMFullResponseEndFrame) and frame.text:
            emit("bot_reply", wall_s, text=frame.text)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._barge_in_s = None
            emit("bot_started_speaking", frame.pts_s if frame.pts_s is not None else wall_s)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if frame.interrupted and self._barge_in_s is not None:  # the output says what was heard
                emit("barge_in", self._barge_in_s, bot_text_heard=frame.text)
            self._barge_in_s = None
            emit("bot_stopped_speaking", frame.pts_s if frame.pts_s is not None else wall_s,
                 interrupted=frame.interrupted)
        elif isinstance(frame, InterruptionFrame) and not frame.withdrawn and self._barge_in_s is None:
            self._barge_in_s = wall_s
