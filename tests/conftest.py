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
