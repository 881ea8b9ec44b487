import asyncio

import numpy as np
import pytest

from agent.frames import Frame, FrameDirection
from agent.processor import FrameProcessor


class Collector(FrameProcessor):
    """Records every frame that reaches it, in order, with the direction it travelled."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.frames: list[Frame] = []
        self.arrived = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        self.frames.append(frame)
        self.arrived.set()
        await self.push_frame(frame, direction)

    def of(self, kind):
        return [f for f in self.frames if isinstance(f, kind)]


@pytest.fixture
def collector_cls():
    return Collector


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def speech():
    """Four call-centre sentences spoken by the bundled Piper voice: (clips, texts). Piper's
    noise is off: it cannot be seeded, and a test must hear the same audio on every run."""
    from asr.voices import load_voice

    voice = load_voice("piper:joe?noise_scale=0&noise_w_scale=0")
    lines = ["I would like to change my delivery address.", "Can you send it to my office instead?",
             "My order number is four five six seven.", "Thank you, that is all for today."]
    return [voice.synthesize(t).audio for t in lines], lines


@pytest.fixture(scope="session")
def trade():
    """The shipped TRADE streaming recognizer at 640 ms chunks."""
    from asr.recognizer import create_recognizer

    return create_recognizer("trade", chunk_ms=640)


@pytest.fixture(scope="session")
def models():
    """The agent's default models (Silero, TRADE, Whisper tiny.en for the final words, SmolLM2,
    Piper joe), loaded once."""
    from agent.call import AgentModels
    from agent.config import AgentConfig

    return AgentModels.load(AgentConfig())


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto on loopback with a password file (tests/broker.py)."""
    from tests.broker import Broker

    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
