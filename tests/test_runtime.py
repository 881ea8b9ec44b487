"""The event-graph runtime: ordering, scheduling kinds, backpressure, interruption, shutdown."""

import asyncio

import numpy as np
import pytest

from agent.frames import (
    EndFrame,
    ErrorFrame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMTextFrame,
    MetricsFrame,
)
from agent.pipeline import Pipeline
from agent.processor import FrameProcessor
from agent.runner import PipelineTask
from tests.conftest import Collector


def audio_frame(i):
    return InputAudioRawFrame(audio=np.zeros(320, np.float32), sample_rate=16000, pts_s=i * 0.02)


async def run_until(task: PipelineTask, cond, timeout=5.0):
    runner = asyncio.create_task(task.run())
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)
    return runner


async def test_frames_arrive_in_order_through_nested_pipelines():
    sink = Collector()
    inner = Pipeline([FrameProcessor(name="a"), FrameProcessor(name="b")])
    task = PipelineTask(Pipeline([FrameProcessor(name="x"), inner, sink]))
    runner = asyncio.create_task(task.run())
    for i in range(50):
        await task.queue_frame(LLMTextFrame(text=str(i)))
    await task.stop_when_done()
    await asyncio.wait_for(runner, 5)
    assert [f.text for f in sink.of(LLMTextFrame)] == [str(i) for i in range(50)]
    assert isinstance(sink.frames[-1], EndFrame)


class Slow(FrameProcessor):
    def __init__(self, delay, **kw):
        super().__init__(**kw)
        self.delay, self.handled = delay, []

    async def process_frame(self, frame, direction):
        if isinstance(frame, LLMTextFrame):
            await asyncio.sleep(self.delay)
        self.handled.append(frame)
        await self.push_frame(frame, direction)


async def test_system_frames_overtake_queued_data():
    slow = Slow(0.05)
    task = PipelineTask(Pipeline([slow]))
    runner = await run_until(task, lambda: True)
    await asyncio.sleep(0.05)  # StartFrame handled
    for i in range(5):
        await task.queue_frame(LLMTextFrame(text=str(i)))
    await task.queue_frame(MetricsFrame(metric="m", value_ms=1, turn_index=0))
    async with asyncio.timeout(2):
        while not any(isinstance(f, MetricsFrame) for f in slow.handled):
            await asyncio.sleep(0.005)
    texts_before = [f for f in slow.handled if isinstance(f, LLMTextFrame)]
    assert len(texts_before) <= 1, "the system frame waited behind queued data"
    await task.cancel()
    await asyncio.wait_for(runner, 5)


async def test_backpressure_bounds_how_far_a_producer_runs_ahead():
    slow = Slow(0.02, max_queue=2)
    task = PipelineTask(Pipeline([slow]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.05)
    produced = 0

    async def produce():
        nonlocal produced
        for i in range(40):
            await slow.queue_frame(LLMTextFrame(text=str(i)))
            produced += 1

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0.2)
    consumed = sum(isinstance(f, LLMTextFrame) for f in slow.handled)
    assert produced - consumed <= 2 + 1, (produced, consumed)  # queue size + the one in flight
    assert produced < 40
    producer.cancel()
    await task.cancel()
    await asyncio.wait_for(runner, 5)


class Busy(FrameProcessor):
    """Simulates an LLM generation: a data frame that takes 10 s unless interrupted."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.started = asyncio.Event()
        self.cancelled = False

    async def process_frame(self, frame, direction):
        if isinstance(frame, LLMTextFrame) and frame.text == "work":
            self.started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        await self.push_frame(frame, direction)


async def test_interruption_cancels_work_in_flight_and_drops_queued_data():
    busy, sink = Busy(), Collector()
    task = PipelineTask(Pipeline([busy, sink]))
    runner = asyncio.create_task(task.run())
    await task.queue_frame(LLMTextFrame(text="work"))
    for i in range(5):
        await task.queue_frame(LLMTextFrame(text=f"stale{i}"))
    await asyncio.wait_for(busy.started.wait(), 2)
    t0 = asyncio.get_running_loop().time()
    await task.queue_frame(InterruptionFrame())
    async with asyncio.timeout(2):
        while not sink.of(InterruptionFrame):
            await asyncio.sleep(0.001)
    assert asyncio.get_running_loop().time() - t0 < 0.2
    assert busy.cancelled
    await task.queue_frame(LLMTextFrame(text="fresh"))
    await task.stop_when_done()
    await asyncio.wait_for(runner, 5)
    texts = [f.text for f in sink.of(LLMTextFrame)]
    assert texts == ["fresh"], texts  # stale data dropped, later data flows again
    assert isinstance(sink.frames[-1], EndFrame)


async def test_uninterruptible_frames_survive_an_interruption():
    busy, sink = Busy(), Collector()
    task = PipelineTask(Pipeline([busy, sink]))
    runner = asyncio.create_task(task.run())
    await task.queue_frame(LLMTextFrame(text="work"))
    await task.queue_frame(LLMTextFrame(text="stale"))
    await task.stop_when_done()  # EndFrame queued behind the work
    await asyncio.wait_for(busy.started.wait(), 2)
    await task.queue_frame(InterruptionFrame())
    await asyncio.wait_for(runner, 5)  # the EndFrame was kept, so the task ends
    assert not sink.of(LLMTextFrame)


class Failing(FrameProcessor):
    async def process_frame(self, frame, direction):
        if isinstance(frame, LLMTextFrame) and frame.text == "boom":
            raise RuntimeError("boom")
        await self.push_frame(frame, direction)


async def test_a_failing_processor_reports_upstream_and_keeps_serving():
    sink = Collector()
    task = PipelineTask(Pipeline([Failing(), sink]))
    runner = asyncio.create_task(task.run())
    for text in ("a", "boom", "b"):
        await task.queue_frame(LLMTextFrame(text=text))
    async with asyncio.timeout(2):
        while not task.errors:
            await asyncio.sleep(0.005)
    await task.stop_when_done()
    await asyncio.wait_for(runner, 5)
    assert [f.text for f in sink.of(LLMTextFrame)] == ["a", "b"]
    assert len(task.errors) == 1 and "boom" in task.errors[0].error


def _leftover_tasks():
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


async def test_shutdown_leaves_no_tasks_after_end_or_cancel():
    task = PipelineTask(Pipeline([Busy(), Collector()]))
    runner = asyncio.create_task(task.run())
    await task.queue_frame(LLMTextFrame(text="x"))
    await task.stop_when_done()
    await asyncio.wait_for(runner, 5)
    assert _leftover_tasks() == []

    busy = Busy()
    task = PipelineTask(Pipeline([busy, Collector()]))
    runner = asyncio.create_task(task.run())
    await task.queue_frame(LLMTextFrame(text="work"))
    await asyncio.wait_for(busy.started.wait(), 2)
    runner.cancel()  # the caller of run() gives up: everything must still be torn down
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert _leftover_tasks() == []


async def test_fatal_error_cancels_the_task():
    task = PipelineTask(Pipeline([FrameProcessor()]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.02)
    await task.pipeline.queue_frame(ErrorFrame(error="disk on fire", fatal=True), FrameDirection.UPSTREAM)
    await asyncio.wait_for(runner, 5)
    assert task.errors and task.errors[0].fatal
