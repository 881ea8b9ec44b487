"""Integrations with pipecat, LiveKit Agents, MQTT and the browser (guarded imports)."""
