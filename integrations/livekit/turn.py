"""Our end-of-turn evidence as a LiveKit turn-detector plugin, for AgentSession's own
endpointing (a VAD plus ``min_delay``/``max_delay`` around ``unlikely_threshold``).

    stt = TradeSTT()
    session = AgentSession(stt=stt, vad=..., turn_handling={"turn_detection": TradeTurnDetector(stt)})

LiveKit asks ``predict_end_of_turn(chat_ctx)`` when the caller pauses. The answer is the
recognizer's own: the probability its LLM gives a sentence end after what it has heard
(read off the live ``TradeSTT`` stream, which heard the audio, not just the text), or 0 when
the transcript ends where no sentence can or a number is still being dictated (a trailing
"and", "um", an address without its domain, fewer digits than a phone number:
``turn_taking.detectors.adaptive.tail_cue``), so that LiveKit waits its ``max_delay``. With ``turn_detection="stt"``
instead, ``TradeSTT``'s own detector decides and this plugin is not needed.
"""

from __future__ import annotations

from livekit.agents import llm

from integrations.livekit.stt import TradeSTT
from turn_taking.detectors.adaptive import tail_cue


class TradeTurnDetector:
    def __init__(self, stt: TradeSTT, threshold: float = 0.5):
        self.stt, self.threshold = stt, threshold

    @property
    def model(self) -> str:
        return f"{self.stt.model}-end-probability"

    @property
    def provider(self) -> str:
        return self.stt.provider

    async def unlikely_threshold(self, language=None) -> float:
        return self.threshold

    async def supports_language(self, language=None) -> bool:
        return language is None or str(language).lower().startswith("en")

    async def predict_end_of_turn(self, chat_ctx: llm.ChatContext, *, timeout: float | None = None) -> float:
        users = [m for m in chat_ctx.messages() if m.role == "user" and m.text_content]
        text = users[-1].text_content.strip() if users else ""
        if tail_cue(text) in ("incomplete", "digits"):  # the adaptive policy's longest waits
            return 0.0
        stream = self.stt.last_stream
        p = stream.end_probability if stream else None
        if p is None:  # no recognizer evidence yet: the punctuation it wrote
            return 1.0 if text.endswith((".", "?", "!")) else self.threshold
        return p
