"""Streaming speech recognition: audio, recognizers, voices, language models."""
