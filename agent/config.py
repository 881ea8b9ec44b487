"""Agent configuration: pydantic models, loadable from YAML, overridable on the command line.

    cfg = load_config("my.yaml", overrides=["llm.max_new_tokens=40", "vad.stop_ms=150"])

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asr.recognizer import available, capabilities
from asr.vad import PAUSE_MS, POST_ROLL_MS, PRE_ROLL_MS, STOP_MS
from turn_taking.bargein import BargeInPolicy
from turn_taking.detectors import create_detector

SEMANTIC_DETECTORS = ("punct", "fusion", "adaptive", "learned")
FRAMEWORK_DETECTORS = ("smart_turn", "livekit")  # acoustic turn models, run by the integrations


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VADConfig(_Strict):
    """Silero VAD on 32 ms windows; times mirror pipecat's VADParams."""

    confidence: float = Field(0.5, gt=0, lt=1, description="speech probability threshold")
    start_ms: int = Field(200, ge=0, le=2000, description="speech needed before speech start fires")
    stop_ms: int = Field(STOP_MS, ge=32, le=3000, description="silence needed before speech stop fires")
    pause_ms: int | None = Field(PAUSE_MS, ge=32, description="silence after which (and again after each further "
                                 "pause_ms) a streaming recognizer also decodes what it has heard, so its "
                                 "sentence-end marks come before the stop (asr/RESULTS.md, decoding again as "
                                 "the silence grows); null: at the stop only")

    @model_validator(mode="after")
    def _pause_before_stop(self):
        if self.pause_ms is not None and self.pause_ms >= self.stop_ms:
            raise ValueError(f"vad.pause_ms ({self.pause_ms}) must be shorter than vad.stop_ms ({self.stop_ms}): "
                             "set a shorter vad.pause_ms, or vad.pause_ms=null to decode at the stop only")
        return self


def _streams(recognizer) -> bool:
    """Whether a recognizer name streams; an unknown name counts as streaming here and is refused
    by the field's own check."""
    return recognizer not in available() or capabilities(recognizer).streaming


def _given(section, field: str) -> bool:
    """Whether a config section (a mapping or a model) sets ``field`` itself."""
    return field in (section.model_fields_set if isinstance(section, BaseModel) else section)


class STTConfig(_Strict):
    """By default TRADE streams (partials, sentence-end marks, end probability: the turn) and
    faster-whisper transcribes each VAD segment (the words): fewer cut-offs and lower WER than
    either alone in simulated calls (turn_taking/RESULTS.md)."""

    recognizer: str = Field("trade", description="registered recognizer: a streaming one (trade, "
                            "whisper-local-agreement) or faster-whisper (transcribes each VAD segment)")
    options: dict[str, int | float | str] = Field(
        default_factory=dict, description="recognizer options, e.g. {chunk_ms: 320} for trade or "
        "{beam_size: 5} for faster-whisper")

    pre_roll_ms: int = Field(PRE_ROLL_MS, ge=0, le=2000, description="audio kept before VAD speech start")
    post_roll_ms: int = Field(POST_ROLL_MS, ge=0, le=1000, description="audio kept after VAD speech stop")
    final_recognizer: str | None = Field(
        "faster-whisper", description="with a streaming recognizer: a segmented one whose transcript of each "
        "VAD segment is the turn's words, while the streaming one's partials, marks and end probability still "
        "drive turn-taking; null: the streaming recognizer's own words. Left unset with a segmented "
        "recognizer, it is null: that recognizer's transcripts are final")

    @model_validator(mode="before")
    @classmethod
    def _a_segmented_recognizer_gives_its_own_finals(cls, data):
        if isinstance(data, dict) and not _given(data, "final_recognizer") \
                and not _streams(data.get("recognizer", cls.model_fields["recognizer"].default)):
            data = {**data, "final_recognizer": None}
        return data

    @field_validator("recognizer", "final_recognizer")
    @classmethod
    def _known(cls, name: str | None) -> str | None:
        if name is not None and name not in available():
            raise ValueError(f"unknown recognizer {name!r}: choose one of {', '.join(available())}")
        return name

    @model_validator(mode="after")
    def _final_after_a_streaming_recognizer(self):
        final = self.final_recognizer
        if final is not None and not capabilities(self.recognizer).streaming:
            raise ValueError(f"stt.final_recognizer needs a streaming stt.recognizer; {self.recognizer} "
                             "already transcribes each segment")
        if final is not None and capabilities(final).streaming:
            raise ValueError(f"stt.final_recognizer transcribes each VAD segment: give a segmented one "
                             f"(faster-whisper), not the streaming {final}")
        return self

    def final(self) -> "STTConfig | None":
        """The segmented recognizer's own settings, with ``final_recognizer``."""
        if self.final_recognizer is None:
            return None
        return STTConfig(recognizer=self.final_recognizer, pre_roll_ms=self.pre_roll_ms,
                         post_roll_ms=self.post_roll_ms)


class TurnConfig(_Strict):
    detector: str = Field("adaptive", description="end-of-turn detector (turn_taking.detectors): adaptive (waits by "
                          "how finished the recognizer's sentence looks), learned (the same evidence weighed by a "
                          "model fit on training dialogues), punct or fusion, which need a streaming recognizer, or "
                          "silence (a VAD timer). Left unset with a segmented recognizer, it is silence")
    end_silence_ms: int = Field(600, ge=0, le=5000,
                                description="the silence detector's wait after speech end before the turn is taken")
    detector_options: dict[str, float] = Field(
        default_factory=dict, description="options of the other detectors, e.g. {complete_ms: 300, "
        "unknown_ms: 400} for adaptive (turn_taking/RESULTS.md has tuned ones)")
    allow_interruptions: bool = Field(True, description="caller speech during bot speech interrupts it")
    barge_in: BargeInPolicy = Field(
        BargeInPolicy(), description="how caller speech during bot speech is told from a backchannel "
        "(turn_taking.bargein); max_backchannel_s=0, pause_on_speech=false: cut the bot at every onset")

    def detector_settings(self) -> dict:
        timer = {"end_silence_ms": self.end_silence_ms} if self.detector in ("silence", "vad") else {}
        return {**timer, **self.detector_options}

    @model_validator(mode="after")
    def _detector_exists(self):
        if _given(self, "end_silence_ms") and self.detector not in ("silence", "vad"):
            raise ValueError(f"turn.end_silence_ms is the silence detector's wait, and the detector is "
                             f"{self.detector}: also set turn.detector=silence, or tune it with turn.detector_options "
                             "(turn_taking/RESULTS.md)")
        if self.detector in FRAMEWORK_DETECTORS:
            raise ValueError(f"{self.detector} runs in its framework's pipeline, not the agent's: see "
                             "integrations/pipecat and integrations/livekit")
        try:
            create_detector(self.detector, **self.detector_settings())
        except (TypeError, ValueError) as e:
            raise ValueError(f"detector {self.detector!r}: {e}") from None
        return self


class LLMConfig(_Strict):
    model: str = Field("smollm2-135m-instruct", description="bundled LM name or a local HF directory")
    system_prompt: str = (
        "You are Sam, a customer-service agent for Northwind Outfitters, an online clothing store. "
        "You can look up orders, change delivery addresses before an order ships, and explain "
        "shipping and returns. Shipping is free over fifty dollars. Reply in one or two short "
        "sentences, friendly and helpful."
    )
    greeting: str = Field("Thanks for calling Northwind Outfitters. How can I help you today?",
                          description="the bot's first words; empty for none")
    max_new_tokens: int = Field(48, ge=1, le=512)
    max_sentences: int = Field(2, ge=1, le=20, description="stop the reply after this many sentences")
    repetition_penalty: float = Field(1.2, ge=1.0, le=3.0,
                                      description="on tokens of this reply and the previous one")
    max_history_messages: int = Field(8, ge=0, le=64, description="earlier messages kept in context")
    threads: int = Field(2, ge=1, le=64)


class TTSConfig(_Strict):
    voice: str = Field("piper:joe", description="bot voice, e.g. piper:joe or espeak:en-us")
    fallback_text: str = "Sorry, I had a problem on my side. Could you say that again?"


class AgentConfig(_Strict):
    vad: VADConfig = VADConfig()
    stt: STTConfig = STTConfig()
    turn: TurnConfig = TurnConfig()
    llm: LLMConfig = LLMConfig()
    tts: TTSConfig = TTSConfig()

    @model_validator(mode="before")
    @classmethod
    def _a_segmented_recognizer_takes_turns_by_silence(cls, data):
        stt, turn = (data.get(k) or {} for k in ("stt", "turn")) if isinstance(data, dict) else (None, None)
        if not (isinstance(stt, (dict, STTConfig)) and isinstance(turn, (dict, TurnConfig))):
            return data  # not a config at all: the fields' own checks say so
        recognizer = stt.recognizer if isinstance(stt, STTConfig) else \
            stt.get("recognizer", STTConfig.model_fields["recognizer"].default)
        if not _given(turn, "detector") and not _streams(recognizer):
            turn = turn.model_copy(update={"detector": "silence"}) if isinstance(turn, TurnConfig) \
                else {**turn, "detector": "silence"}
            data = {**data, "turn": turn}
        return data

    @model_validator(mode="after")
    def _semantic_detectors_need_a_streaming_recognizer(self):
        if self.turn.detector in SEMANTIC_DETECTORS and not capabilities(self.stt.recognizer).streaming:
            raise ValueError(f"turn.detector {self.turn.detector} reads a streaming recognizer's punctuation; "
                             f"{self.stt.recognizer} does not stream: set stt.recognizer=trade")
        return self


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "function-after", "literal"}


def explain(e: ValidationError) -> str:
    """One line for a pydantic error: the most specific failing field and why.

    Unions report one error per member; the deepest location is the one the user meant."""
    first = max(e.errors(), key=lambda err: len(err["loc"]))
    parts = [str(p) for p in first["loc"]
             if not (isinstance(p, str) and (p in _TYPE_TAGS or "[" in p or p[:1].isupper()))]
    return f"{'.'.join(parts) or '(top level)'}: {first['msg']}"


def _apply_override(data: dict, item: str):
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r}: expected key.path=value, e.g. llm.max_new_tokens=40")
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw) if raw else ""


def read_yaml_mapping(path: str | Path, what: str, error: type[ValueError]) -> dict:
    """A YAML file that must hold a mapping; every failure is one ``error`` line naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a mapping, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] = (), model=AgentConfig):
    """``model`` from an optional YAML file plus ``key.path=value`` overrides."""
    data = {} if path is None else read_yaml_mapping(path, "config", ConfigError)
    for item in overrides:
        _apply_override(data, item)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path or 'config'}: {explain(e)}") from None
