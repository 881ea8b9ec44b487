"""Record calls' turn events from MQTT to JSONL, exactly once each and in order.

Subscribes to ``<prefix>/<call_id>/#`` at QoS 1 with a persistent session (fixed client id,
``clean_session=False``), so a broker that keeps sessions (mosquitto with persistence) holds
events for the recorder while it reconnects. Duplicates (same call and ``seq``) are dropped;
messages that are not valid turn events are counted and logged, never written.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiomqtt

from agent.turn_events import EventError, TurnEvent, parse_event
from integrations.mqtt.publisher import MQTTConfig

log = logging.getLogger(__name__)


class CallRecorder:
    def __init__(self, config: MQTTConfig, out: str | Path, call_id: str = "+", client_id: str = "trade-recorder"):
        self.config, self.out, self.call_id, self.client_id = config, Path(out), call_id, client_id
        self.last_seq: dict[str, int] = {}
        self.duplicates = self.invalid = self.gaps = 0
        self.subscribed = asyncio.Event()
        self.received = asyncio.Event()  # set on every recorded event

    def accept(self, event: TurnEvent) -> bool:
        """Write the event unless it is a duplicate; True if written."""
        last = self.last_seq.get(event.call_id, 0)
        if event.seq <= last:
            self.duplicates += 1
            return False
        if event.seq != last + 1:
            self.gaps += 1
            log.error("call %s: events %d..%d are missing", event.call_id, last + 1, event.seq - 1)
        self.last_seq[event.call_id] = event.seq
        with open(self.out, "a") as f:
            f.write(event.model_dump_json() + "\n")
        self.received.set()
        return True

    async def run(self):
        """Record until cancelled, reconnecting whenever the broker goes away."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        topic = f"{self.config.prefix}/{self.call_id}/#"
        while True:
            try:
                async with self.config.client(self.client_id, clean_session=False) as client:
                    await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        try:
                            self.accept(parse_event(message.payload))
                        except EventError as e:
                            self.invalid += 1
                            log.warning("ignoring a message on %s: %s", message.topic, e)
            except aiomqtt.MqttError as e:
                self.subscribed.clear()
                log.warning("recorder lost the MQTT broker (%s); reconnecting", e)
                await asyncio.sleep(self.config.reconnect_min_s)
