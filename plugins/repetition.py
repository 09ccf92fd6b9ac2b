"""``repetition``: GRIT's repeated n-gram reward, on words and (when given) token ids.

``official`` mode reproduces ``repetitive_reward`` of GRIT's ``grpo-gr/rewards.py``
exactly: only an n-gram immediately followed by the same n-gram counts, and the
word and token halves combine as ``0.5 * (t + w - 1)``. ``fixed`` mode counts
every n-gram that already occurred anywhere before, and takes the worse of the
two halves, so neither can offset the other.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions

#: ``<|endoftext|>`` of the Qwen2.5 tokenizer (also InternVL3-2B's), hard-coded by GRIT.
QWEN_PAD_TOKEN_ID = 151643


class RepetitionOptions(RewardOptions):
    """Options of the ``repetition`` reward."""

    mode: Literal["official", "fixed"] = Field(
        "official", description="'official': GRIT's back-to-back n-gram rule and 0.5*(t + w - 1); "
                                "'fixed': any earlier repeat counts, max_reward * min(w, t)")
    ngram_size: int = Field(8, ge=1, description="n of the n-grams (GRIT: 8)")
    max_reward: float = Field(0.5, description="the value of a text without repeats (GRIT: 0.5)")
    pad_token_id: Optional[int] = Field(
        QWEN_PAD_TOKEN_ID, description="token ids are cut at the first occurrence of this id "
                                       "(GRIT: 151643, Qwen2.5's <|endoftext|>); None: no cut")
    lowercase: bool = Field(True, description="fixed mode: compare words case-insensitively "
                                              "(official mode never lowercases)")


DEFAULT = RepetitionOptions()


def back_to_back_repeats(seq, n: int) -> int:
    """Number of positions ``i`` with ``seq[i:i+n] == seq[i+n:i+2n]`` (both full n-grams).

    Linear time: position ``j`` extends a run while ``seq[j] == seq[j+n]``; a
    run of ``n`` such positions is one back-to-back repeat.

    >>> back_to_back_repeats("abab", 2), back_to_back_repeats("aaaa", 1), back_to_back_repeats("abcab", 2)
    (1, 3, 0)
    """
    count = run = 0
    for j in range(len(seq) - n):
        if seq[j] == seq[j + n]:
            run += 1
            if run >= n:
                count += 1
        else:
            run = 0
    return count


def repeated_fraction(seq, n: int) -> float:
    """Fraction of the n-grams of ``seq`` that already occurred earlier in it (0 when none fit).

    >>> repeated_fraction("abcabc", 3)   # abc bca cab abc: the last one is a repeat
    0.25
    """
    total = len(seq) - n + 1
    if total <= 0:
        return 0.0
    seen: set = set()
    repeats = 0
    for i in range(total):
        gram = tuple(seq[i:i + n])
        if gram in seen:
            repeats += 1
        else:
            seen.add(gram)
    return repeats / total


def _ids(sample: Sample, pad: Optional[int]):
    ids = sample.completion_ids
    if ids is None:
        return None
    if pad is not None and pad in ids:
        ids = ids[:ids.index(pad)]
    return ids


def repetition_reward(result: ParseResult, sample: Sample,
                      options: Optional[RepetitionOptions] = None) -> float:
    """Reward for text without repeated n-grams.

    Official mode, range ``[-max_reward, max_reward]``: with ``n = ngram_size``,
    ``words = text.split()``; fewer than ``n`` words (or an empty text) gives
    ``max_reward``; ``w = 1 - (back-to-back repeats) / (len(words) - n)`` (1 when
    that is 0). Token ids cut at the first pad id; fewer than ``2n`` gives
    ``max_reward`` whatever ``w`` is; ``t = 1 - repeats / (len(ids) - 2n + 1)``.
    Result ``max_reward * (t - (1 - w))``. Without token ids ``t = 1``.

    Fixed mode, range ``[0, max_reward]``: ``max_reward * (1 - max(rw, rt))``
    where ``rw``/``rt`` are the fractions of word/token n-grams seen before.

    Never ``None``: it reads only the completion.

    Example:
        >>> import gritkit
        >>> text = " ".join(["a b c d e f g h"] * 3)   # 24 words, 8-gram repeated back to back
        >>> r = gritkit.try_parse(text)
        >>> repetition_reward(r, Sample())   # 9 repeats of 16 positions: 0.5 * (1 - (1 - 7/16))
        0.21875
    """
    o = options or DEFAULT
    n = o.ngram_size
    text = result.text
    ids = _ids(sample, o.pad_token_id)
    if o.mode == "official":
        if text == "":
            return o.max_reward
        words = text.split()
        if len(words) < n:
            return o.max_reward
        total = len(words) - n
        w = 1.0 if total == 0 else 1.0 - back_to_back_repeats(words, n) / total
        if ids is None:
            t = 1.0
        else:
            if len(ids) < 2 * n:
                return o.max_reward
            t = 1.0 - back_to_back_repeats(ids, n) / (len(ids) - 2 * n + 1)
        return (t - (1 - w)) * o.max_reward
    words = (text.lower() if o.lowercase else text).split()
    worst = repeated_fraction(words, n)
    if ids is not None:
        worst = max(worst, repeated_fraction(ids, n))
    return o.max_reward * (1.0 - worst)


@hookimpl
def register_rewards(register) -> None:
    register(repetition_reward, name="repetition", options=RepetitionOptions,
             description="GRIT's repeated 8-gram reward on words and token ids (official or fixed)")
