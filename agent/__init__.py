"""Real-time voice agent: event graph runtime, components, simulated calls, CLI."""
