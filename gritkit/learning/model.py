"""The experiment's tiny LLaVA-style VLM, built offline, with a digit-by-digit tokenizer.

:func:`gritkit.tiny.make_tiny_vlm` builds models that only prove the wiring; its
BPE tokenizer merges digits inconsistently (``55`` is two tokens, ``23`` one),
which makes coordinates needlessly hard to learn. This builder differs in two
ways:

* the tokenizer's pre-tokenizer splits every number into single digits
  (``tokenizers.pre_tokenizers.Digits(individual_digits=True)``) before the
  byte-level BPE, so ``(12,40,21,49)`` is always ``( 1 2 , 4 0 , ...``;
* the model is larger: a Llama text model of hidden size 128 and 4 layers, and a
  CLIP vision tower of hidden size 64 and 2 layers with 14-px patches (a 56 x 56
  image is 16 image tokens); about 0.8 M parameters, fp32.

GRIT's tags are ordinary added tokens (TRL decodes completions with
``skip_special_tokens=True``), as in :mod:`gritkit.tiny`, whose LLaVA chat
template this reuses. The weights are random until the warm start
(:mod:`gritkit.learning.warmstart`) trains them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from gritkit.tiny import GRIT_TAGS, LLAVA_CHAT_TEMPLATE, llava_parts

SPECIALS = ("<unk>", "<s>", "</s>", "<image>")

#: Model sizes (see the module docstring).
TEXT = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256)
VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, patch_size=14,
              projection_dim=64)


def _corpus() -> list[str]:
    from gritkit.learning.tasks import QUESTIONS

    words = list(QUESTIONS.values()) + ["USER: ASSISTANT: Question: left right 0 1 2 3 4 5 6 7 8 9 (,)"]
    return words * 20


def build_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer that writes numbers digit by digit, GRIT tags as added tokens.

    Example:
        >>> tok = build_tokenizer()  # doctest: +SKIP
        >>> tok.tokenize("(12,40,21,49)")  # doctest: +SKIP
        ['(', '1', '2', ',', '4', '0', ',', '2', '1', ',', '4', '9', ')']
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, padding_side="left", unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>", pad_token="<unk>")
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.add_tokens(list(GRIT_TAGS), special_tokens=False)
    tok.chat_template = LLAVA_CHAT_TEMPLATE
    return tok


def build_model(folder: Union[str, os.PathLike], *, seed: int = 0, image_side: int = 56):
    """Build the random model, tokenizer and processor and save them to ``folder``.

    Returns:
        ``(folder, model, processor)``.
    """
    import torch
    import transformers
    from transformers import GenerationConfig
    tok = build_tokenizer()
    unk, bos, eos, image = (tok.convert_tokens_to_ids(t) for t in SPECIALS)
    vision = transformers.CLIPVisionConfig(image_size=image_side, **VISION)
    text = transformers.LlamaConfig(vocab_size=len(tok), bos_token_id=bos, eos_token_id=eos, pad_token_id=unk,
                                    tie_word_embeddings=True, **TEXT)
    config, processor = llava_parts(tok, image_side, vision, text, image)
    torch.manual_seed(seed)
    model = transformers.LlavaForConditionalGeneration(config).to(torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=[eos], pad_token_id=unk, bos_token_id=bos,
                                               do_sample=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder, model, processor


def load(folder: Union[str, os.PathLike]):
    """``(model, processor)`` saved by :func:`build_model` or the warm start."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(folder)
    return model, processor
