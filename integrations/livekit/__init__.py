"""LiveKit Agents integration: our streaming recognizer and end-of-turn detector as an STT
plugin, our end-of-turn evidence as a turn-detector plugin, the bundled LLM and voice as LLM
and TTS plugins, a WAV call without a server and a worker for real rooms
(``python -m integrations.livekit``)."""

from integrations.livekit.llm import LocalLLM
from integrations.livekit.stt import TradeSTT
from integrations.livekit.tts import LocalTTS
from integrations.livekit.turn import TradeTurnDetector

__all__ = ["LocalLLM", "LocalTTS", "TradeSTT", "TradeTurnDetector"]
