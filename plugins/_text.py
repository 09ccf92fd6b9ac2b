"""Text helpers of the built-in rewards: answer normalisation, number words, BLEU-1.

Not a plugin (the name starts with ``_``). Everything is precompiled at import
and the functions that see the same reference answer over and over (every
completion of a group shares it) are cached.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Optional

#: Size of the caches keyed by reference answers and questions.
CACHE_SIZE = 4096

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
#: Number words to their value (0..99 are composed from these, e.g. "twenty one").
NUMBER_WORDS: dict[str, int] = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS}

ARTICLES = frozenset({"a", "an", "the"})

# A number (a leading minus unless glued to a word, thousands separators: "1,000"),
# or a run of letters.
_TOKEN = re.compile(r"(?:(?<!\w)-)?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)|[^\W\d_]+")
_INT = re.compile(r"\s*\+?(\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?\s*\.?\s*")
_WORDS = re.compile(r"[a-z]+")


def _tokens(text: str) -> list[str]:
    """Lowercased word and number tokens; number words become digits ("twenty one" -> "21")."""
    raw = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        tok = raw[i]
        if tok in NUMBER_WORDS:
            value = NUMBER_WORDS[tok]
            if tok in _TENS and i + 1 < n and raw[i + 1] in NUMBER_WORDS and 0 < NUMBER_WORDS[raw[i + 1]] < 10:
                value += NUMBER_WORDS[raw[i + 1]]
                i += 1
            out.append(str(value))
        elif tok[-1].isdigit():
            out.append(tok.replace(",", ""))
        else:
            out.append(tok)
        i += 1
    return out


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, number words to digits, one space apart.

    >>> normalize_answer("  The Seven  zebras!")
    '7 zebras'
    >>> normalize_answer("Twenty-one, or 1,000.5?")
    '21 or 1000.5'
    >>> normalize_answer("-3 (range 3-4)")
    '-3 range 3 4'
    """
    return " ".join(t for t in _tokens(text) if t not in ARTICLES)


@lru_cache(maxsize=CACHE_SIZE)
def normalize_reference(text: str) -> str:
    """:func:`normalize_answer`, cached (reference answers repeat across a group)."""
    return normalize_answer(text)


def parse_count(text: Optional[str]) -> Optional[int]:
    """The non-negative integer a whole answer states, or ``None``.

    Digits ("7", "7.", "7.0", "+7"), thousands separators ("1,000") and number
    words up to ninety-nine ("seven", "Twenty-one") count; anything else
    (other words around the number, fractions, negatives) does not.

    >>> [parse_count(s) for s in ["7", " seven. ", "Twenty-one", "7.0", "1,000", "7 zebras", "-1", "No", None]]
    [7, 7, 21, 7, 1000, None, None, None, None]
    """
    if not text:
        return None
    m = _INT.fullmatch(text)
    if m:
        return int(m.group(1).replace(",", ""))
    words = _WORDS.findall(text.lower())
    if not words or not _is_number_phrase(text.lower(), words):
        return None
    toks = _tokens(" ".join(words))
    return int(toks[0]) if len(toks) == 1 and toks[0].isdigit() else None


def _is_number_phrase(text: str, words: list[str]) -> bool:
    # only number words, joined by spaces or one hyphen, optional final period
    if not all(w in NUMBER_WORDS for w in words):
        return False
    return re.fullmatch(r"\s*[a-z]+(?:[\s-][a-z]+)?\s*\.?\s*", text) is not None


@lru_cache(maxsize=CACHE_SIZE)
def parse_reference_count(text: str) -> Optional[int]:
    """:func:`parse_count`, cached for reference answers."""
    return parse_count(text)


# ---------------------------------------------------------------- BLEU-1 (GRIT / nltk)

_NON_ALNUM = re.compile(r"[^a-zA-Z0-9\s]")


def bleu_tokens(text: str) -> list[str]:
    """GRIT's BLEU tokenisation: every char outside ``[A-Za-z0-9\\s]`` becomes a space,
    then lowercase and split on whitespace.

    >>> bleu_tokens("7\\n</answer>")
    ['7', 'answer']
    """
    return _NON_ALNUM.sub(" ", text).lower().split()


@lru_cache(maxsize=CACHE_SIZE)
def reference_unigrams(text: str) -> tuple[int, Counter]:
    """``(length, unigram counts)`` of a reference answer, cached."""
    toks = bleu_tokens(text)
    return len(toks), Counter(toks)


def bleu1(reference: tuple[int, Counter], hypothesis: list[str]) -> float:
    """Sentence BLEU-1 exactly as ``nltk.sentence_bleu([ref], hyp, weights=(1, 0, 0, 0))``
    computes it without smoothing: clipped unigram precision times the brevity penalty.

    ``reference`` is ``(length, counts)`` from :func:`reference_unigrams`. With
    weights ``(1, 0, 0, 0)`` the higher orders contribute ``0 * log(p)`` (nltk
    replaces a zero ``p`` by the smallest float), so only ``p1`` matters; the
    value is ``exp(log(p1))`` times the penalty, as in nltk. An empty hypothesis
    or no overlap gives 0.

    >>> bleu1(reference_unigrams("7"), ["7", "answer"])   # p1 = 1/2, c=2 > r=1 so BP = 1
    0.5
    >>> round(bleu1(reference_unigrams("hot dog"), ["dog"]), 6)   # p1 = 1, BP = exp(1 - 2/1)
    0.367879
    """
    ref_len, ref_counts = reference
    c = len(hypothesis)
    if c == 0:
        return 0.0
    clipped = 0
    for word, n in Counter(hypothesis).items():
        r = ref_counts.get(word)
        if r:
            clipped += n if n < r else r
    if clipped == 0:
        return 0.0
    bp = 1.0 if c > ref_len else math.exp(1 - ref_len / c)
    return bp * math.exp(math.log(clipped / c))
