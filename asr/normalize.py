"""The text normaliser every WER and every deduplication in this repo uses.

References are stored written ("Order AB-4821 costs $25.50.") and spoken ("order A B, four
eight two one costs twenty five dollars and fifty cents"); recognisers write either. To score
them fairly both sides are mapped to one canonical form:

1. letter prefixes of ids are spelled ("AB-4821" → "a b 4821"); lowercase; "@" → "at"; "$N" → "N dollars"; "%" → "percent"; "a.m." and "3pm" → "a m", "3 p m";
   a dot between letters or digits → "dot"; ordinal suffixes dropped ("3rd" → "3");
2. every other character that is not a letter, digit or apostrophe becomes a space;
3. number words become digits ("twenty five" → 25, "four eight" → 4 8, "first" → 1,
   "hundred and five" → 105), then every number is split into single digits ("25" → "2 5"),
   so "4821", "four eight two one" and "four thousand eight hundred twenty one" all agree;
4. fillers ("um", "uh", "er", "ah", "hmm", "mm") are removed, as Whisper drops them;
   "and" between a dollar amount and its cents is removed; "dollar"/"cent" become plural.
"""

from __future__ import annotations

import re

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_UNITS["oh"] = 0
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
         if w != "_"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fifth": 5, "eighth": 8, "ninth": 9, "twelfth": 12}
_SCALES = {"hundred": 100, "thousand": 1000}
_PLURAL = {"dollar": "dollars", "cent": "cents"}  # "$1.01" cannot say which it was
FILLERS = frozenset({"um", "uh", "er", "ah", "hmm", "mm", "erm", "uhm"})


def _ordinal_value(word: str) -> int | None:
    if word in _ORDINALS:
        return _ORDINALS[word]
    if word.endswith("ieth") and word[:-4] + "y" in _TENS:
        return _TENS[word[:-4] + "y"]
    if word.endswith("th") and word[:-2] in _UNITS and word[:-2] != "oh":
        return _UNITS[word[:-2]]
    return None


def _words_to_numbers(words: list[str]) -> list[str]:
    """Collapse runs of number words into digit strings (see module docstring, step 3)."""
    out: list[str] = []
    value: int | None = None  # the number being built
    last = ""  # kind of the last number word: unit, teen, tens, scale

    def flush():
        nonlocal value, last
        if value is not None:
            out.append(str(value))
        value, last = None, ""

    for i, w in enumerate(words):
        ordv = _ordinal_value(w)
        if w == "oh" and value is None and not (out and out[-1].isdigit()):
            out.append(w)  # "oh" as an interjection, not a zero
            continue
        if w in _UNITS:
            n = _UNITS[w]
            if value is not None and last == "tens" and n < 10:
                value += n
                last = "unit"
            elif value is not None and last == "scale" and value % 100 == 0:
                value += n
                last = "unit" if n < 10 else "teen"
            else:
                flush()
                value, last = n, "unit" if n < 10 else "teen"
        elif w in _TENS:
            if value is not None and last == "scale" and value % 100 == 0:
                value += _TENS[w]
            else:
                flush()
                value = _TENS[w]
            last = "tens"
        elif w in _SCALES and value is not None and last != "scale":
            scale = _SCALES[w]
            if scale == 100:
                value = (value // 100) * 100 + (value % 100) * 100 if value >= 100 else value * 100
            else:
                value *= 1000
            last = "scale"
        elif w == "and" and value is not None and last == "scale" and i + 1 < len(words) \
                and (words[i + 1] in _UNITS or words[i + 1] in _TENS):
            continue
        elif ordv is not None:
            if value is not None and last == "tens" and ordv < 10:
                value += ordv
            elif value is not None and last == "scale":
                value += ordv
            else:
                flush()
                value = ordv
            flush()
        else:
            flush()
            out.append(w)
    flush()
    return out


def normalize(text: str) -> str:
    """Canonical form for WER and deduplication (module docstring has the rules)."""
    t = re.sub(r"\b([A-Z]{2,3})-(?=\d)", lambda m: " ".join(m.group(1)) + " ", text)
    t = t.lower()
    t = re.sub(r"\$\s?([\d,]+)\.(\d\d)\b", lambda m: f"{m.group(1)} dollars {int(m.group(2))} cents", t)
    t = re.sub(r"\$\s?([\d,]+)", r"\1 dollars", t)
    t = t.replace("%", " percent").replace("@", " at ").replace("&", " and ")
    t = re.sub(r"\b([ap])\.m\.", r"\1 m ", t)
    t = re.sub(r"(\d)\s?([ap])m\b", r"\1 \2 m", t)
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)
    t = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", t)
    t = re.sub(r"(?<=[a-z0-9])\.(?=[a-z0-9])", " dot ", t)
    t = re.sub(r"[^a-z0-9']+", " ", t)
    t = re.sub(r"(^|\s)'+|'+(?=\s|$)", " ", t)
    t = re.sub(r"([a-z])(\d)|(\d)([a-z])", lambda m: " ".join(g for g in m.groups() if g), t)
    words = _words_to_numbers(t.split())
    out: list[str] = []
    for i, w in enumerate(words):
        if w in FILLERS:
            continue
        w = _PLURAL.get(w, w)
        if w == "and" and out and out[-1] == "dollars" and i + 1 < len(words) and words[i + 1].isdigit():
            continue
        out.extend(list(w) if w.isdigit() else [w])
    return " ".join(out)
