"""Turn events over MQTT: a versioned JSON schema, a buffering publisher, a call recorder."""

from agent.turn_events import SCHEMA_VERSION, EventError, TurnEvent, parse_event
from integrations.mqtt.publisher import MQTTConfig, TurnEventPublisher
from integrations.mqtt.recorder import CallRecorder

__all__ = ["SCHEMA_VERSION", "EventError", "TurnEvent", "parse_event", "MQTTConfig", "TurnEventPublisher",
           "CallRecorder"]
