"""Barge-in: while the bot speaks, tell a real interruption from a backchannel.

Stopping only once the words are known is too slow (a 320 ms recognizer chunk alone misses a
300 ms stop target), and stopping at every VAD onset cuts the bot off at each "mhm". So, like
LiveKit's false-interruption handling, the bot's audio is *paused* at the caller's speech onset
and then either

* **interrupted** (the reply is cancelled) as soon as the caller says an interruption word
  ("wait", "stop", "no", "hold on") or has spoken longer than a backchannel lasts, or
* **resumed** once the caller has been silent for ``resume_after_s`` without either.

Backchannels are short and the recognizer often mishears them ("yeah" → "he"), so the policy
asks for positive evidence of an interruption instead of trusting that every word it cannot
place is one. ``pause_on_speech=False`` is the no-pause variant: the bot talks on until the
decision. Every decision is a pure function of what is known at its media time, so the agent
and the evaluation replay drive the same object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

# words that open an interruption in English; a general list, not tuned to any dialogue split
INTERRUPT_WORDS = frozenset({"wait", "stop", "hold", "hang", "no", "nope", "actually", "sorry", "excuse",
                             "pardon", "hey", "wrong", "cancel"})


class BargeInPolicy(BaseModel, extra="forbid"):
    pause_on_speech: bool = True  # pause bot audio at the caller's speech onset
    # the defaults are the setting chosen on the dev dialogues with the shipped recognizer
    # (turn_taking/RESULTS.md, barge-in)
    max_backchannel_s: float = Field(1.2, ge=0)  # caller speech this long is an interruption (0: any)
    keywords: bool = True  # an interruption word interrupts at once
    resume_after_s: float = Field(0.2, ge=0)  # caller silence after which a paused bot resumes


@dataclass(frozen=True)
class Action:
    kind: Literal["pause", "resume", "interrupt"]
    at: float  # media time of the decision


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower().replace("'", ""))


class BargeInClassifier:
    """Feed bot and caller events in media time; hooks return the actions they trigger at once,
    and ``advance(now)`` the timed ones (interrupt on duration, resume on silence) due by ``now``."""

    def __init__(self, policy: BargeInPolicy = BargeInPolicy()):
        self.policy = policy
        self._bot = False
        self._state: Literal["idle", "listening", "resumed", "interrupted"] = "idle"
        self._onset = 0.0
        self._speaking = False
        self._silent_since = 0.0
        self._known = 0.0  # when the last speech boundary became known: no timed decision before it

    @property
    def caller_speaking(self) -> bool:
        return self._speaking

    @property
    def deciding(self) -> bool:
        """An overlap is being classified (the bot is paused when the policy pauses)."""
        return self._state == "listening"

    def bot_started(self):
        self._bot, self._state = True, "idle"

    def bot_stopped(self):
        self._bot, self._state = False, "idle"

    def on_speech_start(self, t_s: float, now: float) -> list[Action]:
        self._speaking = True
        if not self._bot or self._state in ("listening", "interrupted"):
            return []
        self._state, self._onset, self._known = "listening", t_s, now
        return [Action("pause", now)] if self.policy.pause_on_speech else []

    def on_speech_end(self, t_s: float, now: float) -> list[Action]:
        self._speaking, self._silent_since, self._known = False, t_s, now
        return self.advance(now)

    def on_transcript(self, text: str, now: float) -> list[Action]:
        """``text``: what the recognizer heard since this overlap's speech onset."""
        late = self._state == "resumed"  # a word that arrives after the bot resumed still counts
        if (self._state == "listening" or late) and self.policy.keywords and INTERRUPT_WORDS & set(words(text)):
            return self._interrupt(now)
        return []

    def next_due(self) -> tuple[float, Literal["interrupt", "resume"]] | None:
        if self._state != "listening":
            return None
        if self._speaking:
            return max(self._known, self._onset + self.policy.max_backchannel_s), "interrupt"
        return max(self._known, self._silent_since + self.policy.resume_after_s), "resume"

    def advance(self, now: float) -> list[Action]:
        due = self.next_due()
        if due is None or due[0] > now:
            return []
        if due[1] == "interrupt":
            return self._interrupt(due[0])
        self._state = "resumed"
        return [Action("resume", due[0])] if self.policy.pause_on_speech else []

    def _interrupt(self, at: float) -> list[Action]:
        self._state = "interrupted"
        return [Action("interrupt", at)]
