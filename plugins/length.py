"""``length``: a soft overlong penalty (DAPO, Yu et al. 2025, eq. 13).

0 up to ``max_length - cache_length``, then linearly down to -1 at
``max_length``, and -1 beyond. Counted in token ids when the trainer gives them,
else in words or characters (with the limits scaled by ``fallback_ratio``).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions


class LengthOptions(RewardOptions):
    """Options of the ``length`` reward."""

    max_length: int = Field(1000, gt=0, description="length at which the penalty reaches -1 "
                                                    "(GRIT's max_completion_length: 1000 tokens)")
    cache_length: int = Field(200, ge=0, description="width of the soft zone before max_length "
                                                     "(DAPO's L_cache)")
    unit: Literal["tokens", "words", "chars"] = Field(
        "tokens", description="what is counted; 'tokens' needs Sample.completion_ids")
    fallback_unit: Literal["words", "chars", "none"] = Field(
        "words", description="unit='tokens' without token ids: count this instead ('none': return None)")
    fallback_ratio: float = Field(
        0.75, gt=0, description="fallback units per token, to scale the limits "
                                "(about 0.75 English words or 4 characters per token)")
    pad_token_id: Optional[int] = Field(None, description="token ids are cut at the first occurrence of this id")
    penalty: float = Field(1.0, ge=0, description="size of the penalty at and beyond max_length")

    @model_validator(mode="after")
    def _check(self):
        if self.cache_length > self.max_length:
            raise ValueError(f"cache_length ({self.cache_length}) must not exceed max_length ({self.max_length})")
        return self


DEFAULT = LengthOptions()


def overlong_penalty(length: float, max_length: float, cache_length: float) -> float:
    """DAPO's soft overlong punishment in ``[-1, 0]``.

    >>> [overlong_penalty(n, 1000, 200) for n in (800, 900, 1000, 1200)]
    [0.0, -0.5, -1.0, -1.0]
    """
    start = max_length - cache_length
    if length <= start:
        return 0.0
    if length >= max_length:
        return -1.0
    return (start - length) / cache_length


def length_reward(result: ParseResult, sample: Sample, options: Optional[LengthOptions] = None) -> Optional[float]:
    """``penalty * overlong_penalty(length)``, range ``[-penalty, 0]``.

    ``None`` only when the unit is tokens, no token ids are given and
    ``fallback_unit`` is ``"none"``.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("word " * 675)
        >>> length_reward(r, Sample(completion_ids=tuple(range(900))))   # (800 - 900) / 200
        -0.5
        >>> length_reward(r, Sample())   # 675 words, limits 0.75x: (600 - 675) / 150
        -0.5
    """
    o = options or DEFAULT
    unit, scale = o.unit, 1.0
    if unit == "tokens":
        ids = sample.completion_ids
        if ids is not None:
            if o.pad_token_id is not None and o.pad_token_id in ids:
                ids = ids[:ids.index(o.pad_token_id)]
            return o.penalty * overlong_penalty(len(ids), o.max_length, o.cache_length)
        if o.fallback_unit == "none":
            return None
        unit, scale = o.fallback_unit, o.fallback_ratio
    text = result.text
    n = len(text.split()) if unit == "words" else len(text)
    return o.penalty * overlong_penalty(n, o.max_length * scale, o.cache_length * scale)


@hookimpl
def register_rewards(register) -> None:
    register(length_reward, name="length", options=LengthOptions,
             description="DAPO soft overlong penalty: 0 until max_length - cache_length, then down to -1")
