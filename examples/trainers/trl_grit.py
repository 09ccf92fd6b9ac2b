"""gritkit's rewards in TRL's GRPOTrainer (the setup docs/training.md shows).

tests/training/test_trl_example.py runs exactly this function on a tiny offline
Qwen2.5-VL (with a few CPU-sized overrides).
"""

from trl import GRPOConfig, GRPOTrainer

from gritkit.adapters.trl import to_trl
from gritkit.tiny import load_processor


def make_trainer(model_id, dataset, output_dir="runs/grit", **overrides):
    # GRIT's Qwen2.5-VL pixel budget: the frame Qwen2.5-VL writes its boxes in depends on it.
    processor = load_processor(model_id, size={"shortest_edge": 3136, "longest_edge": 200704})
    reward_funcs, reward_weights = to_trl("grit", model_family=model_id, processor=processor)
    settings = dict(output_dir=output_dir, reward_weights=reward_weights, learning_rate=2e-6, beta=0.01,
                    num_generations=4, max_completion_length=1000, temperature=0.9, bf16=True,
                    log_completions=True)
    settings.update(overrides)
    return GRPOTrainer(model=model_id, processing_class=processor, reward_funcs=reward_funcs,
                       train_dataset=dataset, args=GRPOConfig(**settings))
