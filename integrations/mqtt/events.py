"""The turn-event schema (version 1): one JSON object per MQTT message.

Every event carries ``v`` (schema version), ``call_id``, ``seq`` (1, 2, 3 … per call, so a
consumer can drop the duplicates that QoS 1 allows after a reconnect and notice gaps),
``event`` (its kind, also the last topic level), ``media_time_s`` (seconds since the call
started, the agent's clock) and ``wall_time`` (Unix seconds when it was created). Kinds and
their own fields:

- ``speech_started`` / ``speech_stopped``: the caller's voice activity (VAD)
- ``partial_transcript``: ``text`` that may still change
- ``final_transcript``: committed ``text``
- ``end_of_utterance``: the turn is over; ``text`` of the turn, ``latency_ms`` from the true or
  VAD speech end to the decision, and the ``detector`` that made it
- ``bot_reply``: ``text`` the bot says
- ``barge_in``: the caller talked over the bot; ``bot_text_heard`` is what was played so far
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SCHEMA_VERSION = 1


class EventError(ValueError):
    """A message that is not a valid turn event; the message says which field is wrong."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
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


class BotReply(_TextEvent):
    event: Literal["bot_reply"] = "bot_reply"


class BargeIn(_Event):
    event: Literal["barge_in"] = "barge_in"
    bot_text_heard: str = ""


_ALL = (SpeechStarted, SpeechStopped, PartialTranscript, FinalTranscript, EndOfUtterance, BotReply, BargeIn)
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
