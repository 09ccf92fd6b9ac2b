"""Bug-compatible ports of GRIT's official regex rewards, for the ``grit-official`` preset.

These read the raw completion text (``result.text``), not the parse, because the
official code (``grpo-gr/rewards.py``) is string- and regex-based and the point
is exact reproduction of its per-sample arithmetic, quirks included. The one
deliberate change is in ``grounded_format``: the count bonus is keyed on the
sample's own dataset (the official code reads ``kwargs['dataset'][0]``, the
first sample of the per-process batch) and a non-integer answer gets no bonus
instead of crashing. docs/rewards.md lists every quirk.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions

#: GRIT's box regex: four non-negative integers separated by commas.
OFFICIAL_BOX = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")
#: The same matches, written to start with a digit so the regex engine can skip
#: every other character quickly: ``\b`` before a digit means "not after a word
#: character", which the lookbehind checks once the digit is read.
_OFFICIAL_BOX_FAST = re.compile(r"\d(?<!\w\d)\d*,\s*\d+,\s*\d+,\s*\d+\b")
_THINK_KEYS = ("<think>", "</think>", "<rethink>", "</rethink>")
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9\s]")
#: ``len(_NON_ALNUM.sub(" ", body).split(" ")) > 1`` holds exactly when the body
#: holds a space or a character that the substitution turns into one.
_SPLITS_IN_TWO = re.compile(r" |[^a-zA-Z0-9\s]")
_ANSWER = "<answer>"
_RETHINK = "<rethink>"


# ---------------------------------------------------------------- answer_format

class AnswerFormatOptions(RewardOptions):
    """Options of ``answer_format``."""

    max_reward: float = Field(0.5, description="value when '<answer>' occurs exactly once (GRIT: 0.5)")


def answer_format_reward(result: ParseResult, sample: Sample,
                         options: Optional[AnswerFormatOptions] = None) -> float:
    """GRIT's ``answer_format_reward``: +1 if ``<answer>`` occurs, +1 more if exactly
    once, times ``max_reward / 2``. Values ``{0, 0.25, 0.5}``; never ``None``.

    Example:
        >>> import gritkit
        >>> answer_format_reward(gritkit.try_parse("<answer>1</answer> <answer>1</answer>"), Sample())
        0.25
    """
    o = options or _ANSWER_FORMAT_DEFAULT
    text = result.text
    if _ANSWER not in text:
        return 0.0
    hits = 2.0 if text.count(_ANSWER) == 1 else 1.0
    return hits / 2 * o.max_reward


_ANSWER_FORMAT_DEFAULT = AnswerFormatOptions()


# ---------------------------------------------------------------- think_format

class ThinkFormatOptions(RewardOptions):
    """Options of ``think_format``."""

    max_reward: float = Field(0.5, description="value of 5 hits: 4 tags + a non-trivial think body (GRIT: 0.5)")


def think_format_reward(result: ParseResult, sample: Sample,
                        options: Optional[ThinkFormatOptions] = None) -> float:
    """GRIT's ``think_and_rethink_format_reward``, with its last-occurrence scanning.

    For ``<think>``, ``</think>``, ``<rethink>``, ``</rethink>`` in turn: when the
    tag occurs in the remaining text, +1 and the remaining text becomes what
    follows the tag's **last** occurrence (a missing tag cuts nothing). With all
    4 hits, +1 when the think body (after the last ``<think>``, up to the next
    ``</think>``, stripped) has more than one character and, with every
    non-alphanumeric replaced by a space, ``split(' ')`` gives more than one
    piece (so ``"5."`` passes). Result ``hits / 5 * max_reward``, in ``{0, 0.1, ..., 0.5}``.

    Example:
        >>> import gritkit
        >>> think_format_reward(gritkit.try_parse("<think>a</think><rethink> x </rethink>"), Sample())
        0.4
    """
    o = options or _THINK_FORMAT_DEFAULT
    text = result.text
    rest = text
    hits = 0
    for key in _THINK_KEYS:
        if key in rest:
            hits += 1
            rest = rest.rsplit(key, 1)[1]
    if hits == len(_THINK_KEYS):
        body = text.rsplit("<think>", 1)[1].split("</think>", 1)[0].strip()
        if len(body) > 1 and _SPLITS_IN_TWO.search(body) is not None:
            hits += 1
    return hits / (len(_THINK_KEYS) + 1) * o.max_reward


_THINK_FORMAT_DEFAULT = ThinkFormatOptions()


# ---------------------------------------------------------------- grounded_format

class GroundedFormatOptions(RewardOptions):
    """Options of ``grounded_format``."""

    box_value: float = Field(0.5, description="value when the regex finds a box before the first <rethink>")
    count_bonus: float = Field(1.0, description="bonus when the number of regex boxes equals int(answer) "
                                                "(official code 1.0; the paper says 0.5)")
    count_datasets: tuple[str, ...] = Field(
        ("tallyqa",), description="datasets (exact, as the official code compares) that get the count bonus; "
                                  "keyed on the sample's own dataset")

    @cached_property
    def _count_datasets(self) -> frozenset:
        return frozenset(self.count_datasets)


def _official_int(answer: Optional[str]) -> Optional[int]:
    """``int(answer)`` as Python reads it (the official code's conversion), ``None`` on failure."""
    if answer is None:
        return None
    try:
        return int(answer)
    except ValueError:
        return None


def grounded_format_reward(result: ParseResult, sample: Sample,
                           options: Optional[GroundedFormatOptions] = None) -> float:
    """GRIT's ``grounded_region_specific_thinking_format_reward_think_rethink``.

    0 when ``<rethink>`` does not occur. Else, on the text before the first
    ``<rethink>`` (text before ``<think>`` included), ``findall`` the box regex
    ``\\b\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\b``: ``box_value`` if it matches at least once,
    plus ``count_bonus`` when the sample's dataset is in ``count_datasets`` and
    the number of matches equals ``int(answer)``. Values ``{0, 0.5, 1.0, 1.5}``.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("<think>(1, 2, 3, 4) and 5,6,7,8</think><rethink>r</rethink><answer>2")
        >>> grounded_format_reward(r, Sample(answer="2", dataset="tallyqa"))
        1.5
        >>> grounded_format_reward(r, Sample(answer="Yes", dataset="tallyqa"))   # the official code crashes
        0.5
    """
    o = options or _GROUNDED_DEFAULT
    text = result.text
    i = text.find(_RETHINK)
    if i < 0:
        return 0.0
    n = len(_OFFICIAL_BOX_FAST.findall(text, 0, i))
    reward = o.box_value if n else 0.0
    if sample.dataset in o._count_datasets and n == _official_int(sample.answer):
        reward += o.count_bonus
    return reward


_GROUNDED_DEFAULT = GroundedFormatOptions()


@hookimpl
def register_rewards(register) -> None:
    register(answer_format_reward, name="answer_format", options=AnswerFormatOptions,
             description="GRIT official: 0.25 if <answer> occurs, 0.5 if exactly once")
    register(think_format_reward, name="think_format", options=ThinkFormatOptions,
             description="GRIT official: 0.1 per think/rethink tag (last-occurrence scan) + 0.1 for a non-trivial think")
    register(grounded_format_reward, name="grounded_format", options=GroundedFormatOptions,
             description="GRIT official: 0.5 for a regex box before <rethink>, +1.0 when the count equals a TallyQA answer")
