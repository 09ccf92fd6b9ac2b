"""gritkit rewards as an EasyR1 *sequential* reward function: one input dict in, one output dict out.

EasyR1 reads ``REWARD_TYPE`` from the module it loads; this module's is
``"sequential"``, so EasyR1 calls ``compute_score(reward_input)`` once per
response. Everything else (inputs, keyword arguments, outputs) is as in
:mod:`gritkit.adapters.easyr1`, the batch module::

    worker:
      reward:
        reward_function: <site-packages>/gritkit/adapters/easyr1_sequential.py:compute_score
        reward_function_kwargs: {config: grit, model_family: qwen2_5_vl, max_pixels: 200704}
"""

from __future__ import annotations

from gritkit.adapters.easyr1 import REWARD_NAME, compute_score_one

__all__ = ["compute_score", "main", "REWARD_NAME", "REWARD_TYPE"]

REWARD_TYPE = "sequential"
"""EasyR1 calls this module's function once per response with one input dict."""

compute_score = compute_score_one
main = compute_score_one
