"""FrameProcessor: the one place that owns queues, pushing and interruption.

Each processor runs two tasks:

- a *system* task that handles ``SystemFrame``s as soon as they arrive, ahead of queued work;
- a *data* task that handles ``DataFrame``/``ControlFrame``s in order from a bounded queue
  (``max_queue``): a producer that outruns a slow consumer waits on ``queue_frame``
  (backpressure) instead of buffering without limit.

An ``InterruptionFrame`` cancels whatever the data task is doing (an LLM generation, a TTS
synthesis), drops queued data/control frames except ``UninterruptibleFrame``s, and then
reaches ``process_frame`` like any other frame. Subclasses implement only ``process_frame``
(and optionally ``start``/``stop``); blocking work belongs in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from agent.frames import (
    CancelFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    StartFrame,
    SystemFrame,
    UninterruptibleFrame,
)

log = logging.getLogger(__name__)


class FrameObserver(Protocol):
    def on_push_frame(self, src: "FrameProcessor", dst: "FrameProcessor | None", frame: Frame,
                      direction: FrameDirection, wall_s: float) -> None: ...


class Clock:
    """Seconds since the call started; shared by every processor and observer of a run."""

    def __init__(self):
        self._t0 = time.monotonic()

    def reset(self):
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0


class FrameProcessor:
    def __init__(self, *, name: str | None = None, max_queue: int = 256):
        self.name = name or type(self).__name__
        self._prev: FrameProcessor | None = None
        self._next: FrameProcessor | None = None
        self.clock = Clock()
        self._observers: list[FrameObserver] = []
        self._system_queue: asyncio.Queue = asyncio.Queue()
        self._data_queue: asyncio.Queue = asyncio.Queue(maxsize=max_queue)
        self._started = asyncio.Event()  # data waits until the StartFrame has been handled
        self._system_task: asyncio.Task | None = None
        self._data_task: asyncio.Task | None = None

    def __repr__(self):
        return self.name

    # ------------------------------------------------------------ wiring and lifecycle

    def link(self, nxt: "FrameProcessor") -> "FrameProcessor":
        self._next, nxt._prev = nxt, self
        return nxt

    def processors(self) -> list["FrameProcessor"]:
        """This processor and everything inside it (pipelines override)."""
        return [self]

    async def setup(self, clock: Clock, observers: list[FrameObserver]):
        self.clock, self._observers = clock, observers
        self._system_task = asyncio.create_task(self._system_loop(), name=f"{self.name}.system")
        self._data_task = asyncio.create_task(self._data_loop(), name=f"{self.name}.data")

    async def cleanup(self):
        """Cancel both tasks and wait for them; safe to call twice."""
        tasks = [t for t in (self._system_task, self._data_task) if t and not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.stop()

    async def start(self, frame: StartFrame):
        """Load models, open devices. Called when the StartFrame arrives."""

    async def stop(self):
        """Release resources. Called once at cleanup."""

    # ------------------------------------------------------------ frames in

    async def queue_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, SystemFrame):
            self._system_queue.put_nowait((frame, direction))
        else:
            await self._data_queue.put((frame, direction))  # backpressure: waits when full

    async def _system_loop(self):
        while True:
            frame, direction = await self._system_queue.get()
            if isinstance(frame, InterruptionFrame):
                await self._flush_data()
            await self._handle(frame, direction)

    async def _data_loop(self):
        await self._started.wait()
        while True:
            frame, direction = await self._data_queue.get()
            await self._handle(frame, direction)

    async def _handle(self, frame: Frame, direction: FrameDirection):
        try:
            if isinstance(frame, StartFrame):
                try:
                    await self.start(frame)
                finally:
                    self._started.set()
            await self.process_frame(frame, direction)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failing processor reports upstream and keeps serving
            log.exception("%s failed on %s", self.name, frame.name)
            if not isinstance(frame, (ErrorFrame, CancelFrame)):
                await self.push_frame(ErrorFrame(error=f"{self.name}: {e!r}"), FrameDirection.UPSTREAM)

    async def _flush_data(self):
        """Cancel in-flight data work and drop queued interruptible frames."""
        if self._data_task and not self._data_task.done():
            self._data_task.cancel()
            await asyncio.gather(self._data_task, return_exceptions=True)
        kept = []
        while not self._data_queue.empty():
            item = self._data_queue.get_nowait()
            if isinstance(item[0], UninterruptibleFrame):
                kept.append(item)
        for item in kept:
            self._data_queue.put_nowait(item)
        self._data_task = asyncio.create_task(self._data_loop(), name=f"{self.name}.data")

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        """Override to transform frames; the default passes everything on."""
        await self.push_frame(frame, direction)

    # ------------------------------------------------------------ frames out

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        dst = self._next if direction is FrameDirection.DOWNSTREAM else self._prev
        wall_s = self.clock.now()
        for obs in self._observers:
            obs.on_push_frame(self, dst, frame, direction, wall_s)
        if dst is not None:
            await dst.queue_frame(frame, direction)
