"""``answer_match``: rule-based answer correctness, hardened against the known hacks.

The reference decides how the answer is read: a yes/no reference by the first
yes/no word of the answer, a multiple-choice reference by the letter the answer
picks, a numeric reference by the one number the answer states (with an
optional tolerance), anything else by normalised equality; math equivalence
through math-verify when it is installed. Empty answers, hedges ("A or B",
"yes or no", "yes, unless no", "3 or 4") and answers that list every option score 0.
"""

from __future__ import annotations

import inspect
import re
import threading
from functools import lru_cache
from typing import Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions
from ._text import CACHE_SIZE, normalize_answer, normalize_reference


class AnswerMatchOptions(RewardOptions):
    """Options of the ``answer_match`` reward."""

    yes_no: bool = Field(True, description="a yes/no reference is matched by the answer's first yes/no word")
    multiple_choice: bool = Field(
        True, description="a letter reference (or an option's text, when the question lists options) "
                          "is matched by the letter the answer picks")
    rel_tolerance: float = Field(0.0, ge=0, description="numeric references: allowed relative error")
    abs_tolerance: float = Field(0.0, ge=0, description="numeric references: allowed absolute error")
    math_verify: bool = Field(
        True, description="try math-verify's equivalence (when installed) for references that look "
                          "mathematical, with its signal-based timeouts disabled")
    containment: bool = Field(
        False, description="also accept an answer that contains the reference phrase with at most "
                           "max_extra_words other words (off by default: containment is easy to hack)")
    max_extra_words: int = Field(3, ge=0, description="containment: extra words allowed around the reference")


DEFAULT = AnswerMatchOptions()

_YES_NO = re.compile(r"\b(yes|no)\b")
# words after which a "no" is still the answer word, not a determiner ("no cat")
_AFTER_NO = r"(?:or|and|but|unless|maybe|perhaps|possibly|probably|yes|no|either|then|if|not)"
# "yes" and an answer-word "no" (one that ends its phrase, or that a conjunction or hedge
# follows): the answer names both options
_NAMES_YES = re.compile(r"\byes\b")
_NAMES_NO = re.compile(r"\bno\b(?:(?![-'\u2019]?\s*\w)|(?=\s+" + _AFTER_NO + r"\b))")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_LETTER_ONLY = re.compile(r"\s*\(?([A-Za-z])\)?\s*[.):]?\s*")
_LETTER_MARK = re.compile(r"(?:(?<=\s)|^)([A-Z])[.):](?=\s|$)")
_LETTER_CUE = re.compile(r"\b(?i:answer|option|choice)\b(?:\s+(?i:is))?\s*[:\-]?\s*\(?([A-Z])\b(?![.'’]\w)")
_LETTER_PAREN = re.compile(r"\(([A-Z])\)")
_OPTION_MARK = re.compile(r"(?:(?<=\s)|^)(?:\(([A-Z])\)|([A-Z])[.):])[ \t]+")
_MATHY = re.compile(r"[\d\\^{}=√π]")
# an answer is sent to math-verify only when written as math (LaTeX, a fraction, an operator)
_MATH_FORM = re.compile(r"[\\^/=+*{}√π]")
_HEDGE_WORDS = frozenset({"or", "either", "maybe", "possibly", "perhaps", "between", "and", "to"})
# float representation slack for numeric comparisons (3.1 - 3 is 0.10000000000000009)
_FLOAT_SLACK = 1e-9


def names_both(answer: str) -> bool:
    """Whether an answer names both options of a yes/no question (a hedge).

    A "no" followed by a word is a determiner ("Yes, there is no cat"), unless that
    word is a conjunction or a hedge ("no or yes", "no but maybe yes").

    >>> [names_both(a) for a in ["yes or maybe no", "Yes, unless no", "Yes/No", "Yes, there is no cat."]]
    [True, True, True, False]
    """
    low = answer.lower()
    return bool(_NAMES_YES.search(low)) and bool(_NAMES_NO.search(low))


def _yes_no(answer: str, pred_norm: str) -> Optional[str]:
    if names_both(answer):
        return None
    m = _YES_NO.search(pred_norm)
    return m.group(1) if m else None


@lru_cache(maxsize=CACHE_SIZE)
def parse_options(question: Optional[str]) -> tuple[tuple[str, str], ...]:
    """``((letter, normalised option text), ...)`` listed in a question, or ``()``.

    Markers ``A.``, ``(A)``, ``A)`` or ``A:`` must run ``A, B, C, ...`` in order;
    each option's text runs to the next marker or the end of its line.

    >>> parse_options("Which animal? (A) a cat (B) the dog\\nAnswer with the letter.")
    (('A', 'cat'), ('B', 'dog'))
    >>> parse_options("Is the truck beneath the cat?")
    ()
    """
    if not question:
        return ()
    marks = []
    for m in _OPTION_MARK.finditer(question):
        letter = m.group(1) or m.group(2)
        if letter == chr(ord("A") + len(marks)):
            marks.append((letter, m.start(), m.end()))
    if len(marks) < 2:
        return ()
    out = []
    for k, (letter, _, end) in enumerate(marks):
        stop = marks[k + 1][1] if k + 1 < len(marks) else len(question)
        text = question[end:stop].split("\n", 1)[0]
        out.append((letter, normalize_answer(text)))
    return tuple(out)


@lru_cache(maxsize=CACHE_SIZE)
def reference_letter(answer: str, question: Optional[str]) -> Optional[str]:
    """The option letter a reference answer names: the letter itself ("B", "(B)"),
    or the letter of the listed option whose text it equals; else ``None``."""
    options = parse_options(question)
    m = _LETTER_ONLY.fullmatch(answer)
    if m:
        letter = m.group(1)
        if options:
            up = letter.upper()
            return up if any(up == L for L, _ in options) else None
        return letter if letter.isupper() else None
    if options:
        norm = normalize_reference(answer)
        hits = [L for L, text in options if text == norm]
        if len(hits) == 1:
            return hits[0]
    return None


def _contains_phrase(text: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {text} "


def predicted_letter(pred: str, pred_norm: str, options: tuple) -> Optional[str]:
    """The one option letter an answer picks, or ``None`` (none, or several: a hedge).

    >>> predicted_letter("(B) dog", "b dog", ())
    'B'
    >>> predicted_letter("The answer is C.", "answer is c", ())
    'C'
    >>> predicted_letter("A or B", "or b", ()) is None
    True
    >>> predicted_letter("B. dog, or A. cat", "b dog or cat", ()) is None
    True
    """
    m = _LETTER_ONLY.fullmatch(pred)
    if m:
        letter = m.group(1)
        letter = letter.upper() if options else letter
        return letter if letter.isupper() else None
    letters = set(_LETTER_MARK.findall(pred))
    letters.update(_LETTER_CUE.findall(pred))
    letters.update(_LETTER_PAREN.findall(pred))
    if not letters and options:
        exact = [L for L, text in options if text == pred_norm]
        if exact:
            return exact[0]
        found = [(L, text) for L, text in options if _contains_phrase(pred_norm, text)]
        # an option whose text is part of another found option's text ("dog" in "hot dog") is not a pick
        letters = {L for L, text in found
                   if not any(text != other and _contains_phrase(other, text) for _, other in found)}
    if options:
        letters &= {L for L, _ in options}
    return next(iter(letters)) if len(letters) == 1 else None


def _numbers(norm: str) -> set:
    return {float(x) for x in _NUMBER.findall(norm)}


def _as_number(norm: str) -> Optional[float]:
    return float(norm) if _NUMBER.fullmatch(norm) else None


# ---------------------------------------------------------------- math-verify (optional)

_MATH: dict = {}
_MATH_LOCK = threading.Lock()


def _math_verify():
    """The math_verify module and whether its timeouts can be switched off, or ``None``."""
    if "module" not in _MATH:
        with _MATH_LOCK:
            if "module" not in _MATH:
                try:
                    import math_verify
                except Exception:  # not installed, or broken: the rule-based match still works
                    math_verify = None
                no_timeouts = False
                if math_verify is not None:
                    try:
                        no_timeouts = ("timeout_seconds" in inspect.signature(math_verify.verify).parameters
                                       and "parsing_timeout" in inspect.signature(math_verify.parse).parameters)
                    except (TypeError, ValueError):
                        no_timeouts = False
                _MATH["no_timeouts"] = no_timeouts
                _MATH["module"] = math_verify
    return _MATH["module"]


def math_equal(reference: str, answer: str) -> bool:
    """Whether math-verify judges ``answer`` equivalent to ``reference``.

    Timeouts are disabled (``parsing_timeout=None``, ``timeout_seconds=None``,
    math-verify >= 0.8): its timeouts use ``SIGALRM``, which raises outside the
    main thread (Math-Verify #55) or silently yields "not equal" in workers. An
    older math-verify is used only on the main thread. False when math-verify
    is missing or fails.
    """
    mv = _math_verify()
    if mv is None:
        return False
    try:
        if _MATH["no_timeouts"]:
            gold = mv.parse(reference, parsing_timeout=None)
            pred = mv.parse(answer, parsing_timeout=None)
            return bool(gold) and bool(pred) and bool(mv.verify(gold, pred, timeout_seconds=None))
        if threading.current_thread() is not threading.main_thread():
            return False
        gold, pred = mv.parse(reference), mv.parse(answer)
        return bool(gold) and bool(pred) and bool(mv.verify(gold, pred))
    except Exception:  # a parse or sympy failure is "not shown equal", never a crash
        return False


# ---------------------------------------------------------------- the reward

def answer_match_reward(result: ParseResult, sample: Sample,
                        options: Optional[AnswerMatchOptions] = None) -> Optional[float]:
    """1.0 when the completion's answer matches the reference answer, else 0.0.

    Range ``{0, 1}``. ``None`` when the sample has no reference answer (or one
    with no word or number in it). A completion without an answer section, or
    with an empty one, scores 0.

    Example:
        >>> import gritkit
        >>> def score(answer, ref, **kw):
        ...     r = gritkit.try_parse(f"<think>t</think><rethink>r</rethink><answer>{answer}</answer>")
        ...     return answer_match_reward(r, Sample(answer=ref, **kw))
        >>> score("No, there is no knife.", "No"), score("Seven", "7"), score("the Hot-Dog", "hot dog")
        (1.0, 1.0, 1.0)
        >>> score("(B)", "B"), score("A or B", "B"), score("yes or no", "yes"), score("", "7")
        (1.0, 0.0, 0.0, 0.0)
    """
    o = options or DEFAULT
    reference = sample.answer
    if reference is None:
        return None
    ref_norm = normalize_reference(reference)
    letter = reference_letter(reference, sample.question) if o.multiple_choice else None
    if not ref_norm and letter is None:
        return None
    answer = result.answer
    if not answer:
        return 0.0
    pred_norm = normalize_answer(answer)
    if letter is not None:
        return 1.0 if predicted_letter(answer, pred_norm, parse_options(sample.question)) == letter else 0.0
    if not pred_norm:
        return 0.0
    if o.yes_no and ref_norm in ("yes", "no"):
        return 1.0 if _yes_no(answer, pred_norm) == ref_norm else 0.0
    words = pred_norm.split()
    hedged = not _HEDGE_WORDS.isdisjoint(words) or "/" in answer and not _MATH_FORM.search(reference)
    target = _as_number(ref_norm)
    if target is not None:
        values = _numbers(pred_norm)
        if len(values) == 1:
            value = values.pop()
            tol = max(o.abs_tolerance, o.rel_tolerance * abs(target)) + _FLOAT_SLACK * max(1.0, abs(target))
            return 1.0 if abs(value - target) <= tol else 0.0
        if len(values) > 1 and (hedged or not _MATH_FORM.search(answer)):
            return 0.0  # several numbers: a hedge ("3 or 4") or an ambiguous answer, unless written as math
    if pred_norm == ref_norm:
        return 1.0
    if hedged:
        return 0.0
    if (o.containment and _contains_phrase(pred_norm, ref_norm)
            and len(words) - len(ref_norm.split()) <= o.max_extra_words):
        return 1.0
    if (o.math_verify and _MATHY.search(reference) and _MATH_FORM.search(answer)
            and math_equal(reference, answer)):
        return 1.0
    return 0.0


@hookimpl
def register_rewards(register) -> None:
    register(answer_match_reward, name="answer_match", requires=("answer",), options=AnswerMatchOptions,
             description="normalised answer match: yes/no, multiple choice, numbers, math-verify; hack-resistant")
