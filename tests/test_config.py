import pytest

from agent.config import AgentConfig, ConfigError, load_config


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("vad:\n  stop_ms: 300\nllm:\n  max_new_tokens: 20\n")
    cfg = load_config(path, ["llm.max_new_tokens=30", "turn.allow_interruptions=false"])
    assert cfg.vad.stop_ms == 300 and cfg.llm.max_new_tokens == 30
    assert cfg.turn.allow_interruptions is False
    assert cfg.tts.voice == AgentConfig().tts.voice


def test_the_default_is_the_hybrid_and_a_segmented_recognizer_falls_back_to_the_silence_timer():
    cfg = AgentConfig()
    assert (cfg.stt.recognizer, cfg.stt.final_recognizer, cfg.turn.detector) == ("trade", "faster-whisper", "adaptive")
    baseline = load_config(None, ["stt.recognizer=faster-whisper"])
    assert (baseline.stt.final_recognizer, baseline.turn.detector) == (None, "silence")
    own_words = load_config(None, ["stt.final_recognizer=null", "turn.detector=silence", "turn.end_silence_ms=400"])
    assert (own_words.stt.recognizer, own_words.stt.final_recognizer, own_words.turn.end_silence_ms) == \
        ("trade", None, 400)
    assert cfg.stt.final().recognizer == "faster-whisper" and cfg.stt.final().final_recognizer is None


@pytest.mark.parametrize("text,override,msg", [
    ("vad:\n  stop_msec: 300\n", [], "vad.stop_msec"),  # typo: unknown keys are errors
    ("vad:\n  confidence: 3\n", [], "vad.confidence"),
    ("- a list\n", [], "mapping"),
    ("vad: [unclosed\n", [], "not valid YAML"),
    ("", ["novalue"], "key.path=value"),
    ("", ["llm.max_new_tokens=lots"], "llm.max_new_tokens"),
    ("", ["vad.pause_ms=250"], "vad.pause_ms .250. must be shorter"),
    ("", ["stt.recognizer=faster-whisper", "stt.final_recognizer=faster-whisper"], "needs a streaming stt.recognizer"),
    ("", ["stt.recognizer=faster-whisper", "turn.detector=adaptive"], "reads a streaming recognizer"),
    ("", ["turn.end_silence_ms=300"], "also set turn.detector=silence"),
    ("", ["stt.recognizer=trade", "stt.final_recognizer=trade"], "give a segmented one"),
    ("", ["stt.recognizer=trade", "stt.final_recognizer=whisper"], "unknown recognizer 'whisper'"),
])
def test_malformed_configs_give_one_clear_error(tmp_path, text, override, msg):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_config(path, override)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
