"""pipecat integration: our streaming recognizer as an STT service, our end-of-turn detectors
as a user-turn stop strategy."""

from integrations.pipecat.stt import RecognizerEventsFrame, TradeSTTService
from integrations.pipecat.turn import TradeTurnStopStrategy

__all__ = ["RecognizerEventsFrame", "TradeSTTService", "TradeTurnStopStrategy"]
