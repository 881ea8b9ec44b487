"""Publish a call's turn events to ``<prefix>/<call_id>/<event>`` at QoS 1, losing nothing.

``emit`` never blocks the call: it validates the event, gives it the next ``seq`` and appends
it to an in-memory buffer. One background task connects (username/password), publishes the
buffer head, and removes it only once the broker has acknowledged it (PUBACK), so events are
sent one at a time in order. If the broker goes away the task reconnects with backoff and
carries on from the same event. An event the broker received but whose PUBACK was lost is
sent again; consumers drop it by ``seq`` (``CallRecorder`` does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from urllib.parse import unquote, urlsplit

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agent.turn_events import EventStamper, TurnEvent

log = logging.getLogger(__name__)


class MQTTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    prefix: str = Field("trade/calls", min_length=1, pattern=r"^[^#+]*[^#+/]$")
    keepalive_s: int = Field(15, ge=5)
    reconnect_min_s: float = Field(0.1, gt=0)
    reconnect_max_s: float = Field(5.0, gt=0)
    max_buffered: int = Field(100_000, ge=1)  # events held while the broker is unreachable
    ack_timeout_s: float = Field(2.0, gt=0)  # no PUBACK by then: the connection is treated as lost

    @classmethod
    def from_url(cls, url: str, **fields) -> "MQTTConfig":
        """``mqtt://[user[:password]@]host[:port][/prefix]``; the password may instead come from
        the ``MQTT_PASSWORD`` environment variable, which keeps it out of process listings."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname or "#" in url or parts.query:
            raise ValueError(f"broker {url!r}: expected mqtt://[user[:password]@]host[:port][/prefix], "
                             "e.g. mqtt://agent@localhost:1883/acme/calls")
        password = unquote(parts.password) if parts.password else os.environ.get("MQTT_PASSWORD")
        prefix = unquote(parts.path.strip("/"))
        return cls(host=parts.hostname, port=parts.port or 1883,
                   username=unquote(parts.username) if parts.username else None, password=password,
                   **({"prefix": prefix} if prefix else {}), **fields)

    def client(self, identifier: str | None = None, clean_session: bool | None = None) -> aiomqtt.Client:
        return aiomqtt.Client(self.host, self.port, username=self.username,
                              password=self.password.get_secret_value() if self.password else None,
                              identifier=identifier, clean_session=clean_session,
                              keepalive=self.keepalive_s, timeout=10)


class BufferFull(RuntimeError):
    pass


class TurnEventPublisher:
    def __init__(self, config: MQTTConfig, call_id: str):
        self.config, self.call_id = config, call_id
        self._buffer: deque[TurnEvent] = deque()
        self._stamp = EventStamper(call_id)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()
        self.delivered = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def topic(self, event: TurnEvent) -> str:
        return f"{self.config.prefix}/{event.call_id}/{event.event}"

    def emit(self, kind: str, media_time_s: float, **fields) -> TurnEvent:
        """Queue one event (see ``agent.turn_events`` for kinds and fields)."""
        if len(self._buffer) >= self.config.max_buffered:
            raise BufferFull(f"{len(self._buffer)} turn events are waiting for the MQTT broker at "
                             f"{self.config.host}:{self.config.port}; is it reachable?")
        event = self._stamp(kind, media_time_s, **fields)
        self._buffer.append(event)
        self._wakeup.set()
        return event

    async def start(self):
        self._task = asyncio.create_task(self._run(), name=f"mqtt-publisher-{self.call_id}")

    async def close(self, timeout_s: float = 5.0) -> int:
        """Wait up to ``timeout_s`` for the buffer to drain, then stop; returns events left undelivered."""
        deadline = time.monotonic() + timeout_s
        while self._buffer and time.monotonic() < deadline and self._task and not self._task.done():
            await asyncio.sleep(0.02)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._buffer:
            log.error("%d turn events of call %s were not delivered to %s:%d", len(self._buffer), self.call_id,
                      self.config.host, self.config.port)
        return len(self._buffer)

    async def _run(self):
        delay = self.config.reconnect_min_s
        while True:
            try:
                async with self.config.client() as client:
                    self.connected.set()
                    delay = self.config.reconnect_min_s
                    while True:
                        while self._buffer:
                            event = self._buffer[0]
                            await client.publish(self.topic(event), event.model_dump_json(), qos=1,
                                                 timeout=self.config.ack_timeout_s)
                            self._buffer.popleft()  # acknowledged by the broker
                            self.delivered += 1
                        self._wakeup.clear()
                        if not self._buffer:
                            await self._wakeup.wait()
            except aiomqtt.MqttError as e:
                if self.connected.is_set():
                    log.warning("MQTT broker %s:%d lost (%s); buffering turn events", self.config.host,
                                self.config.port, e)
                self.connected.clear()
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.config.reconnect_max_s)
