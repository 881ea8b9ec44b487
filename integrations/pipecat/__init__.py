"""pipecat integration: our streaming recognizer as an STT service, our end-of-turn detectors
as a user-turn stop strategy, the bundled LLM as an LLM service, and a runnable agent on a WAV
(``python -m integrations.pipecat``)."""

from integrations.pipecat.llm import LocalLLMService
from integrations.pipecat.stt import RecognizerEventsFrame, TradeSTTService
from integrations.pipecat.turn import TradeTurnStopStrategy

__all__ = ["LocalLLMService", "RecognizerEventsFrame", "TradeSTTService", "TradeTurnStopStrategy"]
