"""Pipeline: a chain of processors that is itself a processor, so pipelines nest."""

from __future__ import annotations

from agent.frames import Frame, FrameDirection
from agent.processor import Clock, FrameObserver, FrameProcessor


class _Edge(FrameProcessor):
    """Entry/exit of a pipeline: forwards frames across the pipeline boundary."""

    def __init__(self, pipeline: "Pipeline", outward: FrameDirection, name: str):
        super().__init__(name=name)
        self._pipeline, self._outward = pipeline, outward

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if direction is self._outward:
            await self._pipeline.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)


class Pipeline(FrameProcessor):
    def __init__(self, processors: list[FrameProcessor], *, name: str | None = None):
        super().__init__(name=name or "Pipeline")
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self._source = _Edge(self, FrameDirection.UPSTREAM, f"{self.name}.source")
        self._sink = _Edge(self, FrameDirection.DOWNSTREAM, f"{self.name}.sink")
        self._chain = [self._source, *processors, self._sink]
        for a, b in zip(self._chain, self._chain[1:]):
            a.link(b)

    def processors(self) -> list[FrameProcessor]:
        return [p for child in self._chain for p in child.processors()]

    async def setup(self, clock: Clock, observers: list[FrameObserver]):
        self.clock, self._observers = clock, observers
        for p in self._chain:
            await p.setup(clock, observers)

    async def cleanup(self):
        for p in self._chain:
            await p.cleanup()

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        """Frames leaving the pipeline; observers already saw them pushed into the edge."""
        dst = self._next if direction is FrameDirection.DOWNSTREAM else self._prev
        if dst is not None:
            await dst.queue_frame(frame, direction)

    async def queue_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        edge = self._source if direction is FrameDirection.DOWNSTREAM else self._sink
        await edge.queue_frame(frame, direction)
