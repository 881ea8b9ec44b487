"""Fakes for fault injection only: components that fail on purpose."""
