"""PipelineTask: runs a pipeline from StartFrame to EndFrame (or cancel) and cleans up.

    task = PipelineTask(pipeline, observers=[EventLog(path)])
    await task.run()          # returns when an EndFrame or CancelFrame has crossed the pipeline

Nothing outlives ``run()``: every processor task is cancelled and awaited on the way out,
including when ``run()`` itself is cancelled.
"""

from __future__ import annotations

import asyncio
import logging

from agent.frames import CancelFrame, EndFrame, ErrorFrame, Frame, FrameDirection, StartFrame
from agent.pipeline import Pipeline
from agent.processor import Clock, FrameObserver, FrameProcessor

log = logging.getLogger(__name__)


class _TaskEdge(FrameProcessor):
    """Head and tail of a task: sees what leaves the pipeline at either end."""

    def __init__(self, task: "PipelineTask", name: str):
        super().__init__(name=name)
        self._task = task

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if direction is FrameDirection.DOWNSTREAM and self._next is not None:
            await self.push_frame(frame, direction)
        elif direction is FrameDirection.UPSTREAM and self._prev is not None:
            await self.push_frame(frame, direction)
        else:
            self._task._on_frame_out(frame, direction)


class PipelineTask:
    def __init__(self, pipeline: Pipeline | FrameProcessor, *, observers: list[FrameObserver] = (),
                 clock: Clock | None = None, sample_rate: int = 16000):
        self.pipeline = pipeline
        self.clock = clock or Clock()
        self.observers = list(observers)
        self.sample_rate = sample_rate
        self._head = _TaskEdge(self, "task.head")
        self._tail = _TaskEdge(self, "task.tail")
        self._head.link(pipeline).link(self._tail)
        self._done = asyncio.Event()
        self.errors: list[ErrorFrame] = []

    def _on_frame_out(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, (EndFrame, CancelFrame)) and direction is FrameDirection.DOWNSTREAM:
            self._done.set()
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame)
            log.error("pipeline error: %s", frame.error)
            if frame.fatal:
                asyncio.get_running_loop().create_task(self.cancel(f"fatal error: {frame.error}"))

    async def queue_frame(self, frame: Frame):
        """Inject a frame at the head, travelling downstream."""
        await self._head.queue_frame(frame, FrameDirection.DOWNSTREAM)

    async def stop_when_done(self):
        """Graceful end: an EndFrame follows everything already queued."""
        await self.queue_frame(EndFrame())

    async def cancel(self, reason: str = "cancelled"):
        await self.queue_frame(CancelFrame(reason=reason))

    async def run(self):
        parts = [self._head, self.pipeline, self._tail]
        try:
            for p in parts:
                await p.setup(self.clock, self.observers)
            await self.queue_frame(StartFrame(sample_rate=self.sample_rate))
            await self._done.wait()
        finally:
            for p in parts:
                await p.cleanup()
