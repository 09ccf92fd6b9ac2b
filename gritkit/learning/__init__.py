"""Does training with gritkit teach a model to ground? A reproducible CPU experiment.

A tiny LLaVA-style VLM (:mod:`~gritkit.learning.model`) is warm-started with
supervised fine-tuning (:mod:`~gritkit.learning.warmstart`) on synthetic tasks
with exact ground truth (:mod:`~gritkit.learning.tasks`), then trained with GRPO
through TRL's ``GRPOTrainer`` and gritkit's TRL adapter
(:mod:`~gritkit.learning.grpo`) under several reward designs and a shuffled-truth
control (:mod:`~gritkit.learning.designs`, :mod:`~gritkit.learning.rewards`), and
evaluated on fixed held-out images with gritkit's generate and eval
(:mod:`~gritkit.learning.evaluation`). :mod:`~gritkit.learning.experiment` runs
it all and writes the results; ``gritkit experiment grounding`` and ``make
learn`` are the front ends. See docs/learning.md for the results and what they
mean.

Importing this package imports neither torch nor TRL.
"""

__all__ = ["tasks", "model", "warmstart", "designs", "rewards", "grpo", "evaluation", "experiment", "report"]
