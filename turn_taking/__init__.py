"""End-of-turn detection: detectors, policies and their evaluation. Never imports ``agent``."""
