"""``bleu``: BLEU-1 of the answer against the reference, as GRIT computes it.

GRIT's answer reward adds ``0.1 * BLEU-1`` (nltk ``sentence_bleu`` with weights
``(1, 0, 0, 0)``, no smoothing) to the judge's score. The official code takes
everything after the first ``<answer>``, so the closing ``</answer>`` leaves the
word "answer" in the prediction; ``official_quirk`` reproduces that.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions
from ._text import bleu1, bleu_tokens, reference_unigrams

_OFFICIAL_OPEN = "<answer>"


class BleuOptions(RewardOptions):
    """Options of the ``bleu`` reward."""

    official_quirk: bool = Field(
        False, description="score the text after the first '<answer>' with '</answer>' and everything "
                           "after it kept, as the official code does (a closed answer scores half)")
    scale: float = Field(0.1, description="multiplier of BLEU-1 (GRIT: 0.1, so an exact match always "
                                          "outweighs word overlap)")


DEFAULT = BleuOptions()


def bleu_reward(result: ParseResult, sample: Sample, options: Optional[BleuOptions] = None) -> Optional[float]:
    """``scale * BLEU-1(answer, reference)``.

    Tokens: every character outside ``[A-Za-z0-9\\s]`` becomes a space, then
    lowercase, whitespace split (both sides, as GRIT). Range ``[0, scale]``.
    ``None`` when the sample has no reference answer (or one without a letter or
    digit). A completion without an answer scores 0.

    Example:
        >>> import gritkit
        >>> r = gritkit.try_parse("<think>t</think><rethink>r</rethink><answer>\\n7\\n</answer>")
        >>> bleu_reward(r, Sample(answer="7"))
        0.1
        >>> bleu_reward(r, Sample(answer="7"), BleuOptions(official_quirk=True))   # tokens: 7, answer
        0.05
    """
    o = options or DEFAULT
    if sample.answer is None:
        return None
    reference = reference_unigrams(sample.answer)
    if reference[0] == 0:
        return None
    if o.official_quirk:
        text = result.text
        i = text.find(_OFFICIAL_OPEN)
        if i < 0:
            return 0.0
        hypothesis = bleu_tokens(text[i + len(_OFFICIAL_OPEN):])
    else:
        answer = result.answer
        if answer is None:
            return 0.0
        hypothesis = bleu_tokens(answer)
    return o.scale * bleu1(reference, hypothesis)


@hookimpl
def register_rewards(register) -> None:
    register(bleu_reward, name="bleu", requires=("answer",), options=BleuOptions,
             description="scale * BLEU-1 of the answer vs the reference (GRIT's nltk arithmetic; official quirk optional)")
