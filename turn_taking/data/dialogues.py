"""Synthesise labelled customer-service calls for turn-taking evaluation.

A call alternates bot prompts (Piper joe, the product's bot voice) and caller turns (a voice of
the split from ``asr.data.catalogue``, so test callers are voices training never heard). A caller
turn is a plan of segments separated by pauses at incomplete points — between digit groups,
while spelling an e-mail, after "um", after a trailing "and", mid-clause — each labelled
``hold``; the silence after the turn is ``eot``. The caller reads the whole turn in one piece and
the pauses are cut in (``speak_turn``), so the voice does not fall at a hold as it does at the
end. Pauses the voice itself makes (at commas) are found from its word timings and labelled
``hold``/``pause``. During bot turns the
caller sometimes backchannels ("mhm") or barges in ("wait, that's wrong"), which cuts the bot.

What dialogue ``i`` of a split says, in which voices, with which pauses, is a pure function of
(seed, split, i), so builds resume and repeat their plan. The audio does not repeat to the sample:
Piper samples its noise inside its ONNX graph and espeak keeps state between calls, so timings
move by a few tens of milliseconds between builds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from asr import augment
from asr.audio import SAMPLE_RATE
from asr.data import verbalize as V
from asr.data.catalogue import sample_voice
from asr.data.text import FIRST, LAST, DOMAINS, Sentence
from asr.voices import VoiceError, Word as VoiceWord, last_words, load_voice, say_with_pauses
from turn_taking.data.labels import MIN_SILENCE_S, Dialogue, Overlap, Silence, Turn, Word

BOT_VOICE = "piper:joe"

# Phrase lists alternate between splits: even items for train/dev, odd items for test, so test
# dialogues use phrasings training never saw.
DIGIT_LEADS = ["My phone number is", "The number is", "You can reach me at", "My account number is",
               "It's", "The best number to call is", "Sure, it's", "My callback number is"]
EMAIL_LEADS = ["My email is", "The email address is", "It's", "You can email me at",
               "Sure, my email is", "The email on file should be"]
HESITANT_STARTS = ["I'd like to", "I was hoping to", "I need to", "I want to", "Could you", "I'm trying to",
                   "Can I", "I'd really like to"]
COMPLETIONS = ["change the address on my account.", "cancel my subscription.", "check on my order.",
               "get a refund for the charge.", "update my payment method.", "speak to someone about my bill.",
               "book an appointment for next week.", "return the jacket I bought.",
               "reset my password.", "upgrade my plan.", "report a problem with my internet.",
               "move my delivery to Friday."]
AND_CLAUSES = ["I ordered a laptop last week", "I called yesterday", "my card was charged twice",
               "the package never arrived", "I moved to a new apartment", "my router keeps restarting",
               "I got an email about my account", "the technician didn't show up"]
AND_FOLLOWUPS = ["nobody has called me back.", "I still haven't heard anything.", "I want to know why.",
                 "I'd like a refund.", "now I can't log in.", "I need it fixed today.",
                 "the app shows an error.", "I'm really frustrated."]
MID_CLAUSE = [("I was wondering if", "you could check my order status."),
              ("The reason I'm calling is", "my bill went up this month."),
              ("Can you tell me", "when my package will arrive?"),
              ("I think the problem is that", "the payment didn't go through."),
              ("What I need is", "a copy of my last invoice."),
              ("I'm calling because", "my internet has been down since Monday."),
              ("Could you check whether", "my refund was processed?"),
              ("The last time I called", "they said it would be fixed."),
              ("I'm not sure if", "I have the right account."),
              ("My sister told me that", "you have a discount for students.")]
AFFIRMATIONS = ["Yes.", "Yeah.", "No.", "No, thanks.", "That's right.", "Okay.", "Sure.", "Yep.",
                "Correct.", "Yes, please.", "Nope.", "That's all, thanks.", "Sounds good.", "Right."]
BACKCHANNELS = ["Mhm.", "Okay.", "Right.", "Uh-huh.", "Yeah.", "I see.", "Sure.", "Mm-hmm."]
INTERRUPTIONS = ["Wait, that's wrong.", "No, stop.", "Hold on, that's not my address.", "Sorry, wait.",
                 "No no, that's not what I said.", "Wait, wait.", "Actually, hang on.", "Stop, that's the wrong order."]
BOT_PROMPTS = {
    "digits": ["Could I have your phone number, please?", "What's the account number?",
               "What number can we reach you at?"],
    "email": ["What's the best email address for you?", "Could you spell your email address for me?"],
    "affirmation": ["Is that correct?", "Would you like me to go ahead with that?", "Is there anything else?"],
    "other": ["Thanks for calling. How can I help you today?", "How can I help?",
              "I can help with that. What seems to be the problem?", "Got it. What else can I do for you?"],
}
BOT_STATEMENTS = ["Thanks for waiting. I've pulled up your account, and I can see the last order we "
                  "shipped to you went out on Tuesday.",
                  "Okay, I have your details here. Your balance is forty two dollars, and the next "
                  "payment is due on the fifth.",
                  "Let me check that for you. It looks like the technician visit was scheduled for "
                  "Monday morning between nine and eleven.",
                  "I understand. I'm going to open a ticket for this, and someone from our team will "
                  "follow up within two business days."]
CATEGORY_WEIGHTS = {"digits": 0.15, "email": 0.1, "hesitation": 0.12, "trailing_and": 0.1,
                    "mid_clause": 0.13, "affirmation": 0.15, "statement": 0.1, "question": 0.07,
                    "continuation": 0.08}


def _pick(items: list, split: str, rng: random.Random):
    """Even-indexed items for train/dev, odd-indexed for test (see module docstring)."""
    half = items[1::2] if split == "test" else items[0::2]
    return rng.choice(half or items)


@dataclass
class Segment:
    spoken: str
    written: str
    hold_after: str | None = None  # hold category of the pause after this segment


def _pause_s(rng: random.Random) -> float:
    """Hold pauses 200–2000 ms, log-uniform: short pauses are common, long ones happen."""
    return float(np.exp(rng.uniform(np.log(0.2), np.log(2.0))))


def plan_turn(category: str, split: str, rng: random.Random, sentences: list[Sentence]) -> list[Segment]:
    """The caller's segments for a turn of ``category``."""
    if category == "digits":
        lead = _pick(DIGIT_LEADS, split, rng)
        written, spoken = (V.phone_number if rng.random() < 0.6 else V.account_number)(rng)
        groups = spoken.split(", ")
        wgroups = written.replace("-", " ").split()
        segs = [Segment(lead, lead, "digits")] if rng.random() < 0.4 else []
        for k, (g, w) in enumerate(zip(groups, wgroups)):
            last = k == len(groups) - 1
            text = (lead + " " if k == 0 and not segs else "") + g
            wtext = (lead + " " if k == 0 and not segs else "") + w
            segs.append(Segment(text + ("." if last else ","), wtext + ("." if last else ""),
                                None if last else "digits"))
        return segs
    if category == "email":
        first, last = rng.choice(FIRST), rng.choice(LAST)
        written, spoken = V.email(rng, first, last, DOMAINS)
        user, _, host = spoken.partition(" at ")
        lead = _pick(EMAIL_LEADS, split, rng)
        pieces = [p.strip() for p in user.replace(" dot ", " | dot ").split(" | ")]
        segs = [Segment(f"{lead} {pieces[0]}", f"{lead} {pieces[0]}", "email")]
        segs += [Segment(p, p, "email") for p in pieces[1:]]
        segs.append(Segment(f"at {host}.", f"at {host}."))
        segs[-1].written = f"{lead} {written}."  # the whole turn's written form, kept on the last
        return segs
    if category == "hesitation":
        start, filler = _pick(HESITANT_STARTS, split, rng), rng.choice(["um", "uh"])
        done = _pick(COMPLETIONS, split, rng)
        return [Segment(f"{start}, {filler},", f"{start}, {filler},", "hesitation"), Segment(done, done)]
    if category == "trailing_and":
        clause, follow = _pick(AND_CLAUSES, split, rng), _pick(AND_FOLLOWUPS, split, rng)
        return [Segment(f"{clause} and", f"{clause} and", "trailing_and"), Segment(follow, follow)]
    if category == "mid_clause":
        head, tail = _pick(MID_CLAUSE, split, rng)
        return [Segment(head, head, "mid_clause"), Segment(tail, tail)]
    if category == "affirmation":
        a = _pick(AFFIRMATIONS, split, rng)
        return [Segment(a, a)]
    if category in ("statement", "question"):
        pool = [s for s in sentences if s.spoken.endswith("?") == (category == "question")] or sentences
        s = rng.choice(pool)
        return [Segment(s.spoken, s.written)]
    if category == "continuation":  # a complete sentence, a pause, then more: the hardest hold
        a, b = rng.choice(sentences), rng.choice(sentences)
        return [Segment(a.spoken, a.written, "continuation"), Segment(b.spoken, b.written)]
    raise ValueError(f"unknown turn category {category!r}")


@dataclass
class _Timeline:
    caller: list[tuple[int, np.ndarray]] = field(default_factory=list)
    bot: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def render(self, n: int) -> np.ndarray:
        out = np.zeros((n, 2), np.float32)
        for ch, items in enumerate((self.caller, self.bot)):
            for at, audio in items:
                end = min(n, at + len(audio))
                out[at:end, ch] += audio[: end - at]
        return out


def _s(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)


class NoWordTimings(RuntimeError):
    """The caller's voice could not time some words of a segment (its word count disagreed)."""


def build_dialogue(seed: int, split: str, index: int, sentences: list[Sentence], *,
                   long_bot_p: float = 0.5, backchannel_p: float = 0.45,
                   interrupt_p: float = 0.25) -> tuple[np.ndarray, Dialogue]:
    """(stereo audio, labels) of dialogue ``index`` of ``split``. A bot turn is a long statement
    with probability ``long_bot_p``; during one the caller backchannels with ``backchannel_p``
    or barges in with ``interrupt_p``. A draw whose segments cannot be timed is redrawn."""
    for attempt in range(8):
        try:
            return _build(random.Random(f"{seed}/{split}/dialogue/{index}" + (f"/{attempt}" if attempt else "")),
                          split, index, sentences, long_bot_p, backchannel_p, interrupt_p)
        except NoWordTimings:
            continue
    raise NoWordTimings(f"dialogue {split}/{index}: no timeable draw in 8 attempts")


def _build(rng: random.Random, split: str, index: int, sentences: list[Sentence], long_bot_p: float,
           backchannel_p: float, interrupt_p: float) -> tuple[np.ndarray, Dialogue]:
    caller_spec = sample_voice(split, rng)
    caller = load_voice(caller_spec)
    tl, turns, silences, overlaps, words = _Timeline(), [], [], [], []
    t = int(0.3 * SAMPLE_RATE)
    categories = list(CATEGORY_WEIGHTS)
    for exchange in range(rng.randint(2, 4)):
        category = rng.choices(categories, list(CATEGORY_WEIGHTS.values()))[0]
        # ---- bot turn (sometimes a long statement first, where callers backchannel or barge in)
        long_turn = rng.random() < long_bot_p
        prompt = rng.choice(BOT_STATEMENTS) if long_turn else rng.choice(
            BOT_PROMPTS.get(category if category in BOT_PROMPTS else "other", BOT_PROMPTS["other"]))
        speech = _bot_says(prompt)
        bot_audio, bot_index = speech.audio, len(turns)
        turns.append(Turn(speaker="bot", start=_s(t), end=_s(t + len(bot_audio)), text=prompt, spoken=prompt))
        interrupted = False
        if long_turn and speech.words and len(speech.words) > 6:
            r = rng.random()
            at_word = speech.words[rng.randint(3, len(speech.words) - 3)]
            onset = t + int((at_word.end_s + rng.uniform(0.0, 0.3)) * SAMPLE_RATE)
            if r < backchannel_p:
                bc_text = _pick(BACKCHANNELS, split, rng)
                bc = caller.synthesize(bc_text)
                bc_start, bc_end = _speech_span(bc)
                tl.caller.append((onset - bc_start, bc.audio))
                overlaps.append(Overlap(start=_s(onset), end=_s(onset + bc_end - bc_start),
                                        text=bc_text, label="backchannel",
                                        bot_turn=bot_index))
                words += _shift_words(bc.words, onset - bc_start)
            elif r < backchannel_p + interrupt_p:
                interrupted = True
                category = "interruption"
                cut = onset + int(rng.uniform(0.15, 0.35) * SAMPLE_RATE)  # the bot stops talking
                fade = np.linspace(1, 0, int(0.02 * SAMPLE_RATE), dtype=np.float32)
                bot_audio = bot_audio[: cut - t].copy()
                bot_audio[-len(fade):] *= fade[-len(bot_audio):] if len(bot_audio) < len(fade) else fade
                turns[-1].cut_at = _s(cut)
                turns[-1].end = _s(t + len(bot_audio))
        tl.bot.append((t, bot_audio))
        if interrupted:
            t = onset
        else:
            t += len(bot_audio) + int(rng.uniform(0.25, 0.8) * SAMPLE_RATE)
        # ---- caller turn
        if category == "interruption":
            text = _pick(INTERRUPTIONS, split, rng)
            segments = [Segment(text, text)]
            overlap_turn = True
        else:
            segments = plan_turn(category, split, rng, sentences)
            overlap_turn = False
        turn_index = len(turns)
        audio, seg_words, holds = speak_turn(caller, caller_spec, segments, rng)
        at = t - int(seg_words[0].start_s * SAMPLE_RATE)
        tl.caller.append((at, audio))
        turn_words = _shift_words(seg_words, at)
        if overlap_turn:
            overlaps.append(Overlap(start=turn_words[0].start, end=turn_words[-1].end, text=segments[0].spoken,
                                    label="interruption", bot_turn=bot_index))
        for k, (a, b) in enumerate(zip(turn_words, turn_words[1:])):
            kind = holds.get(k, "pause")  # a planned hold, else the voice's own pause (at a comma)
            if kind != "pause" or b.start - a.end >= MIN_SILENCE_S:
                silences.append(Silence(start=a.end, end=b.start, label="hold", category=kind,
                                        turn=turn_index, text_before=" ".join(w.word for w in turn_words[:k + 1])))
        words += turn_words
        spoken = " ".join(seg.spoken for seg in segments)
        last_end = int(turn_words[-1].end * SAMPLE_RATE)
        written = " ".join(s.written for s in segments) if category != "email" else segments[-1].written
        turns.append(Turn(speaker="caller", start=turn_words[0].start, end=_s(last_end), text=written,
                          spoken=spoken, category=category))
        gap = int(rng.uniform(1.5, 3.0) * SAMPLE_RATE)
        silences.append(Silence(start=_s(last_end), end=_s(last_end + gap), label="eot", category=category,
                                turn=turn_index, text_before=spoken))
        t = last_end + gap
    # ---- closing bot line, then the audio
    closing = _bot_says("Thanks for calling. Goodbye.")
    turns.append(Turn(speaker="bot", start=_s(t), end=_s(t + len(closing.audio)),
                      text="Thanks for calling. Goodbye.", spoken="Thanks for calling. Goodbye."))
    tl.bot.append((t, closing.audio))
    n = t + len(closing.audio) + int(0.3 * SAMPLE_RATE)
    audio = tl.render(n)
    snr = round(rng.uniform(20, 40), 1)
    floor = augment.noise(rng.choice(["white", "pink", "hum"]), n, np.random.default_rng(rng.randrange(2 ** 31)))
    speech_power = float(np.mean(audio[:, 0][np.abs(audio[:, 0]) > 0.01] ** 2)) if np.any(np.abs(audio[:, 0]) > 0.01) else 1e-4
    audio[:, 0] += floor * np.sqrt(speech_power / (np.mean(floor ** 2) * 10 ** (snr / 10)))
    dialogue = Dialogue(id=f"{split}-{index:06d}", audio="", split=split, duration=_s(n),
                        caller_voice=caller_spec, bot_voice=BOT_VOICE, noise_snr_db=snr, turns=turns,
                        silences=silences, overlaps=overlaps, words=words)
    return np.clip(audio, -1, 1), dialogue


def speak_turn(caller, caller_spec: str, segments: list[Segment],
               rng: random.Random) -> tuple[np.ndarray, list[VoiceWord], dict[int, str]]:
    """The caller reads the whole turn in one breath and the planned holds are cut in
    (``asr.voices.say_with_pauses``): the voice does not fall at a hold as it does at the end.
    Returns (audio, word timings in seconds of that audio, {index of the word before a planned
    hold: its category})."""
    pauses = [_pause_s(rng) if seg.hold_after else 0.0 for seg in segments[:-1]]
    spoken = [seg.spoken for seg in segments]
    try:
        speech = say_with_pauses(caller, spoken, pauses)
    except VoiceError as e:
        raise NoWordTimings(f"{caller_spec}: {e}") from None
    if not speech.words:
        raise NoWordTimings(f"voice {caller_spec} could not time the words of {spoken[0]!r}")
    holds = {k: seg.hold_after for k, seg in zip(last_words(spoken), segments) if seg.hold_after}
    return speech.audio, speech.words, holds


@lru_cache(maxsize=128)
def _bot_says(text: str):
    """The bot's lines repeat across calls; synthesise each once per process."""
    return load_voice(BOT_VOICE).synthesize(text)


def _speech_span(speech) -> tuple[int, int]:
    if speech.words:
        return int(speech.words[0].start_s * SAMPLE_RATE), int(speech.words[-1].end_s * SAMPLE_RATE)
    return 0, len(speech.audio)


def _shift_words(ws, offset: int) -> list[Word]:
    o = offset / SAMPLE_RATE
    return [Word(word=w.text, start=round(w.start_s + o, 3), end=round(w.end_s + o, 3)) for w in ws]


def write_dialogue(out: Path, audio: np.ndarray, dialogue: Dialogue) -> Dialogue:
    rel = Path("audio") / dialogue.split / f"{dialogue.id}.flac"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(out / rel, audio, SAMPLE_RATE, subtype="PCM_16")
    dialogue.audio = str(rel)
    return dialogue
