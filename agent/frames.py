"""Frames: the typed messages that flow through the agent's event graph.

A frame's class decides how it is scheduled (pipecat's vocabulary):

- ``SystemFrame``: urgent. Handled out of band, ahead of queued work, never dropped on
  interruption (start, cancel, interruption, VAD and bot-speaking signals, metrics).
- ``DataFrame``: ordered payload (audio, text, transcripts). Dropped when an interruption
  flushes a processor's queue.
- ``ControlFrame``: ordered signals that travel in band with data (end of call, response
  start/end, TTS start/stop). Also dropped on interruption.
- ``UninterruptibleFrame``: mixin for data/control frames that must survive an interruption.

Times: ``pts_s`` is media time in seconds since the call started (the caller's audio
clock); observers add wall time when they see a frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from asr.events import SentenceEnd, StreamEvent, Word

_ids = itertools.count()


class FrameDirection(Enum):
    DOWNSTREAM = 1  # caller → bot
    UPSTREAM = 2  # bot → caller (errors, interruption requests, bot-speaking signals)


@dataclass(kw_only=True)
class Frame:
    id: int = field(init=False)
    name: str = field(init=False)
    pts_s: float | None = None

    def __post_init__(self):
        self.id = next(_ids)
        self.name = f"{type(self).__name__}#{self.id}"

    def describe(self) -> dict:
        """Fields worth logging (audio payloads are summarised, not dumped)."""
        return {}


class SystemFrame(Frame):
    """Urgent; processed ahead of queued frames and never dropped by an interruption."""


class DataFrame(Frame):
    """Ordered payload; dropped when an interruption flushes queues."""


class ControlFrame(Frame):
    """Ordered in-band signal; dropped when an interruption flushes queues."""


class UninterruptibleFrame:
    """Mixin: a data/control frame that an interruption must not drop."""


# ---------------------------------------------------------------- lifecycle


@dataclass(kw_only=True)
class StartFrame(SystemFrame):
    """First frame of a pipeline run; processors set up here."""

    sample_rate: int = 16000


@dataclass(kw_only=True)
class CancelFrame(SystemFrame):
    """Stop now: processors abandon queued work."""

    reason: str = ""


@dataclass(kw_only=True)
class EndFrame(ControlFrame, UninterruptibleFrame):
    """Graceful end: queued work ahead of it is finished first."""


@dataclass(kw_only=True)
class ErrorFrame(SystemFrame):
    """An error reported upstream; ``fatal`` errors end the pipeline."""

    error: str
    fatal: bool = False

    def describe(self):
        return {"error": self.error, "fatal": self.fatal}


# ---------------------------------------------------------------- audio


@dataclass(kw_only=True)
class AudioRawFrame(DataFrame):
    """Mono float32 PCM in [-1, 1]."""

    audio: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def describe(self):
        return {"sample_rate": self.sample_rate, "duration_ms": round(self.duration_s * 1000, 1)}


@dataclass(kw_only=True)
class InputAudioRawFrame(AudioRawFrame):
    """Caller audio from the input transport; ``pts_s`` is the time of its first sample."""


@dataclass(kw_only=True)
class TTSAudioRawFrame(AudioRawFrame):
    """Bot audio produced by TTS, waiting to be played by the output transport."""

    context_id: int = 0


# ---------------------------------------------------------------- VAD and turns


@dataclass(kw_only=True)
class VADUserStartedSpeakingFrame(SystemFrame):
    """Silero detected speech onset; ``speech_start_s`` is its media time."""

    speech_start_s: float

    def describe(self):
        return {"speech_start_s": round(self.speech_start_s, 3)}


@dataclass(kw_only=True)
class VADUserStoppedSpeakingFrame(SystemFrame):
    """Silero detected a pause; ``speech_end_s`` is the media time where silence began."""

    speech_end_s: float

    def describe(self):
        return {"speech_end_s": round(self.speech_end_s, 3)}


@dataclass(kw_only=True)
class VADUserPausedFrame(SystemFrame):
    """Silero has heard a short silence inside speech (``vad.pause_ms``), not yet a stop; the
    streaming recognizer decodes what it has so far. ``pause_start_s`` is the silence onset."""

    pause_start_s: float

    def describe(self):
        return {"pause_start_s": round(self.pause_start_s, 3)}


@dataclass(kw_only=True)
class UserStartedSpeakingFrame(SystemFrame):
    """The turn-taking policy opened a user turn."""

    speech_start_s: float
    interrupted_bot: bool = False

    def describe(self):
        return {"speech_start_s": round(self.speech_start_s, 3), "interrupted_bot": self.interrupted_bot}


@dataclass(kw_only=True)
class UserStoppedSpeakingFrame(SystemFrame):
    """The turn-taking policy decided the user's turn is over."""

    speech_end_s: float
    turn_index: int = 0

    def describe(self):
        return {"speech_end_s": round(self.speech_end_s, 3), "turn_index": self.turn_index}


@dataclass(kw_only=True)
class BotAudioPauseFrame(SystemFrame):
    """Caller speech during bot speech: hold the bot's audio while it is classified (LiveKit's
    paused audio output). An ``InterruptionFrame`` or a ``BotAudioResumeFrame`` follows."""

    speech_start_s: float

    def describe(self):
        return {"speech_start_s": round(self.speech_start_s, 3)}


@dataclass(kw_only=True)
class BotAudioResumeFrame(SystemFrame):
    """The caller's speech was a backchannel (a false interruption): play on where it paused."""


@dataclass(kw_only=True)
class InterruptionFrame(SystemFrame):
    """Barge-in: every processor flushes queued data/control frames and cancels work in flight.
    ``withdrawn``: the reply it cuts had not begun to play (the caller went on before it did),
    so the caller heard nothing of it."""

    speech_start_s: float | None = None
    withdrawn: bool = False

    def describe(self):
        return {"withdrawn": self.withdrawn}


# ---------------------------------------------------------------- transcripts


@dataclass(kw_only=True)
class InterimTranscriptionFrame(DataFrame):
    text: str

    def describe(self):
        return {"text": self.text}


@dataclass(kw_only=True)
class TranscriptionFrame(DataFrame):
    """A final transcript of one speech segment, with word timings in media time."""

    text: str
    words: list[Word] = field(default_factory=list)
    segment_end_s: float | None = None

    def describe(self):
        return {"text": self.text, "segment_end_s": self.segment_end_s, "n_words": len(self.words)}


@dataclass(kw_only=True)
class RecognizerEventsFrame(DataFrame):
    """What one step of a streaming recognizer produced, for the end-of-turn detector: its
    events (``asr.events``: partials, finals, sentence ends with the audio time they belong to
    and when they were emitted; media time), the LLM's probability that the sentence ends after
    the current text, and ``decoded_s``: how far decoding has got."""

    events: list[StreamEvent] = field(default_factory=list)
    end_probability: float | None = None
    decoded_s: float | None = None

    def describe(self):
        return {"sentence_ends": [[e.mark, round(e.time_s, 3)] for e in self.events if isinstance(e, SentenceEnd)],
                "end_probability": None if self.end_probability is None else round(self.end_probability, 3),
                "decoded_s": None if self.decoded_s is None else round(self.decoded_s, 3)}


@dataclass(kw_only=True)
class UserTurnFrame(DataFrame):
    """The user's finished turn: what the responder answers.

    ``continues_turn``: the index of an earlier turn this one goes on with. The caller spoke
    again before the reply to that turn played, so the reply was withdrawn unheard; ``text`` is
    the whole turn, and the responder answers it in place of the earlier one."""

    text: str
    turn_index: int
    speech_end_s: float
    continues_turn: int | None = None

    def describe(self):
        return {"text": self.text, "turn_index": self.turn_index, "speech_end_s": round(self.speech_end_s, 3),
                "continues_turn": self.continues_turn}


# ---------------------------------------------------------------- LLM and TTS


@dataclass(kw_only=True)
class LLMFullResponseStartFrame(ControlFrame):
    turn_index: int = 0

    def describe(self):
        return {"turn_index": self.turn_index}


@dataclass(kw_only=True)
class LLMTextFrame(DataFrame):
    """A streamed chunk of the responder's answer."""

    text: str

    def describe(self):
        return {"text": self.text}


@dataclass(kw_only=True)
class LLMFullResponseEndFrame(ControlFrame):
    turn_index: int = 0
    text: str = ""
    interrupted: bool = False

    def describe(self):
        return {"turn_index": self.turn_index, "text": self.text}


@dataclass(kw_only=True)
class TTSStartedFrame(ControlFrame):
    context_id: int = 0


@dataclass(kw_only=True)
class TTSTextFrame(DataFrame):
    """A sentence of the bot's reply: pushed by TTS ahead of its audio, and by the audio output
    again when its first sample plays."""

    text: str
    context_id: int = 0

    def describe(self):
        return {"text": self.text}


@dataclass(kw_only=True)
class TTSStoppedFrame(ControlFrame):
    """TTS finished the response: the output may report the bot as stopped once drained."""

    context_id: int = 0


@dataclass(kw_only=True)
class BotStartedSpeakingFrame(SystemFrame):
    """The first bot audio sample of a response was played (media time ``pts_s``)."""


@dataclass(kw_only=True)
class BotStoppedSpeakingFrame(SystemFrame):
    """Bot audio stopped: drained after TTS finished, or cut by an interruption. ``text``: what
    the caller heard since the bot started speaking (of a sentence cut midway, the share of its
    words its played audio covers), so a reply cut by a barge-in is remembered as far as it got."""

    interrupted: bool = False
    text: str = ""

    def describe(self):
        return {"interrupted": self.interrupted, "text": self.text}


# ---------------------------------------------------------------- metrics


@dataclass(kw_only=True)
class MetricsFrame(SystemFrame):
    """A measured latency (``value_ms``) for ``turn_index``; names follow LiveKit/pipecat."""

    metric: str
    value_ms: float
    turn_index: int
    processor: str = ""

    def describe(self):
        return {"metric": self.metric, "value_ms": round(self.value_ms, 1), "turn_index": self.turn_index}
