"""Tiny, randomly initialised vision-language models built offline, and a processor loader.

These models exist to prove the training wiring (data → processor → generation →
gritkit rewards → GRPO update) on a CPU in seconds, without the Hugging Face Hub.
Their weights are random: what they generate is noise, and a run with them says
nothing about quality.

Each builder trains a small byte-level BPE tokenizer in memory with ``tokenizers``
on GRIT-style text, adds the family's special tokens (image placeholders, chat
markers) as *special* tokens and GRIT's tags (``<think>`` … ``</answer>``) as
*ordinary* added tokens (TRL decodes completions with ``skip_special_tokens=True``;
special tags would vanish before the rewards saw them), builds the family's
processor with a PIL image processor (no torchvision needed), a few-layer model
from its config class, and saves everything with ``save_pretrained``.

Families:

* ``qwen2_5_vl``: ``Qwen2_5_VLForConditionalGeneration`` (GRIT's own base model).
* ``qwen2_vl``: ``Qwen2VLForConditionalGeneration``.
* ``qwen3_vl``: ``Qwen3VLForConditionalGeneration`` (16-px patches, DeepStack, interleaved MRoPE).
* ``internvl``: ``InternVLForConditionalGeneration`` (InternVL3-hf's layout: an InternViT
  tower, pixel shuffle, a Qwen2 text model; the ``<img><IMG_CONTEXT>…</img>`` placeholders).
* ``llava``: ``LlavaForConditionalGeneration`` with a CLIP vision tower and a Llama
  text model (a family that is not Qwen and needs no video processor).
* ``gemma3``: ``Gemma3ForConditionalGeneration``: another processor design (a SigLIP
  tower pooled to a fixed number of soft tokens, ``token_type_ids`` marking image
  tokens, named tokenizer attributes ``boi_token``/``image_token``), no video processor.

Example:
    >>> from gritkit.tiny import make_tiny_vlm, load_processor  # doctest: +SKIP
    >>> folder = make_tiny_vlm("qwen2_5_vl", "/tmp/tiny-qwen")  # doctest: +SKIP
    >>> processor = load_processor(folder)  # doctest: +SKIP
    >>> type(processor).__name__  # doctest: +SKIP
    'ImageOnlyQwen2_5_VLProcessor'

In transformers 5.x the stock Qwen2-VL, Qwen2.5-VL, Qwen3-VL and InternVL
processors cannot be built without torchvision (their video processor needs it),
so these builders use image-only subclasses (:class:`ImageOnlyQwen2_5_VLProcessor`,
:class:`ImageOnlyQwen2VLProcessor`, :class:`ImageOnlyQwen3VLProcessor`,
:class:`ImageOnlyInternVLProcessor`). LLaVA's and Gemma 3's processors have no
video processor and are used as they are. :func:`load_processor` reloads them,
and is also the way to load a *real* checkpoint's processor on a machine without
torchvision.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import random
from pathlib import Path
from typing import Any, Optional, Union

from gritkit.errors import ConfigError

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "internvl", "llava", "gemma3")
"""The families :func:`make_tiny_vlm` builds."""

GRIT_TAGS = ("<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>")
"""GRIT's tags, added to every tiny tokenizer as ordinary (non-special) tokens."""

_QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
_LLAVA_SPECIALS = ("<unk>", "<s>", "</s>", "<image>")
_INTERNVL_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>")
#: the tokenizer attributes InternVLProcessor reads (``tokenizer.start_image_token`` …), as InternVL3-hf names them.
_INTERNVL_NAMED = {"start_image_token": "<img>", "end_image_token": "</img>",
                   "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}
_GEMMA3_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                    "<end_of_image>", "<image_soft_token>")
#: the tokenizer attributes Gemma3Processor reads (``tokenizer.boi_token`` …), as Gemma 3 checkpoints name them.
_GEMMA3_NAMED = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}

# The Qwen2.5-VL chat template (the same text as TRL's chat_templates/qwen2_5_vl.jinja,
# which Qwen2-VL-Instruct also uses up to whitespace).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# LLaVA-1.5's conversation format ("USER: <image>\n… ASSISTANT:").
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set prefix = '' %}"
    "{% elif message['role'] == 'user' %}{% set prefix = 'USER: ' %}"
    "{% else %}{% set prefix = 'ASSISTANT: ' %}{% endif %}{{ prefix }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<image>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}</s>{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)

# InternVL3-hf's chat template is Qwen's with the image written as <IMG_CONTEXT> (the processor expands
# it to <img><IMG_CONTEXT>×N</img>).
INTERNVL_CHAT_TEMPLATE = QWEN_CHAT_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<IMG_CONTEXT>\n")

# Gemma 3's turn format ("<start_of_turn>user\n<start_of_image>…<end_of_turn>"; assistant turns are "model").
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' or 'image' in item %}<start_of_image>"
    "{% elif 'text' in item %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

_WORDS = ("the a an is are on under left right of in front behind near cat dog truck zebra chair "
          "table person car bus sign cup red blue green yellow black white yes no there how many "
          "what color box image picture question answer think rethink coordinates object region "
          "first then based on thinking contents count one two three four five six seven").split()


# ---------------------------------------------------------------------------
# Image-only processors (no torchvision)
# ---------------------------------------------------------------------------

def _image_only(base: type, name: str, doc: str) -> type:
    """Subclass a processor that lists a video processor so it takes none.

    ``ProcessorMixin`` derives its sub-processors from the ``__init__`` signature,
    so dropping ``video_processor`` from it is enough: saving writes only the image
    processor and tokenizer (and the base's other ``__init__`` arguments, e.g.
    InternVL's ``image_seq_length``), loading reads only those, and every video
    path of the base class is guarded by ``hasattr(self, "video_processor")``.
    The base's own ``__init__`` runs with ``video_processor=None``
    (``ProcessorMixin`` pairs positional sub-processors with the signature's).
    ``from_pretrained`` passes only arguments the shim's ``__init__`` names in its
    code, so the base's extra ones are spelled out.
    """
    if "image_seq_length" in inspect.signature(base.__init__).parameters:  # InternVL
        def __init__(self, image_processor=None, tokenizer=None, image_seq_length=256, chat_template=None,
                     **kwargs):
            base.__init__(self, image_processor, tokenizer, None, image_seq_length=image_seq_length,
                          chat_template=chat_template, **kwargs)
    else:
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            base.__init__(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    cls = type(name, (base,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})
    cls.__qualname__ = name
    return cls


_SHIMS: dict[str, type] = {}
_SHIM_SPECS = {
    # shim class name: (model_type, transformers class name)
    "ImageOnlyQwen2_5_VLProcessor": ("qwen2_5_vl", "Qwen2_5_VLProcessor"),
    "ImageOnlyQwen2VLProcessor": ("qwen2_vl", "Qwen2VLProcessor"),
    "ImageOnlyQwen3VLProcessor": ("qwen3_vl", "Qwen3VLProcessor"),
    "ImageOnlyInternVLProcessor": ("internvl", "InternVLProcessor"),
}
_SHIM_BY_MODEL_TYPE = {mt: name for name, (mt, _) in _SHIM_SPECS.items()}


def _shim(name: str) -> type:
    """The image-only processor class ``name``, created on first use (imports transformers)."""
    if name not in _SHIMS:
        import transformers

        model_type, base_name = _SHIM_SPECS[name]
        base = getattr(transformers, base_name)
        _SHIMS[name] = _image_only(
            base, name,
            f"{base_name} without a video processor, so it can be built, saved and loaded "
            f"without torchvision (model type {model_type!r}).")
    return _SHIMS[name]


def __getattr__(name: str):
    # `gritkit.tiny.ImageOnlyQwen2_5_VLProcessor` resolves lazily, so pickling a
    # processor by reference works and importing this module stays light.
    if name in _SHIM_SPECS:
        return _shim(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def has_torchvision() -> bool:
    """True when torchvision can be imported (stock Qwen processors need it in transformers 5.x)."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # e.g. "operator torchvision::nms does not exist" on a mismatched build
        return False
    return True


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _model_type_of(path_or_id: str) -> Optional[str]:
    folder = Path(path_or_id)
    if folder.is_dir():
        return _read_json(folder / "config.json").get("model_type")
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(path_or_id).model_type
    except Exception:
        return None


def load_processor(path_or_id: Union[str, os.PathLike], **kwargs: Any):
    """Load a VLM's processor so that it works with or without torchvision.

    * A folder saved with one of gritkit's image-only processors loads with it.
    * With torchvision importable, ``AutoProcessor`` is used (the stock class).
    * Without it, Qwen2-VL, Qwen2.5-VL, Qwen3-VL and InternVL checkpoints load with the
      image-only subclass, which reads only the image processor and tokenizer;
      other families go through ``AutoProcessor``.

    The result is checked to be a ``ProcessorMixin``: ``AutoProcessor`` silently
    returns the bare tokenizer for a folder whose processor it does not know, and
    GRPOTrainer would then treat the run as text-only and fail mid-step with
    ``KeyError: 'pixel_values'``.

    Args:
        path_or_id: a local folder or a hub id.
        **kwargs: passed to ``from_pretrained`` (e.g. ``min_pixels``, ``max_pixels``).

    Returns:
        A ``transformers.ProcessorMixin``.

    Raises:
        ConfigError: when what loads is not a multimodal processor.

    Example:
        >>> proc = load_processor("Qwen/Qwen2.5-VL-3B-Instruct", max_pixels=256 * 28 * 28)  # doctest: +SKIP
    """
    from transformers import AutoProcessor
    from transformers.processing_utils import ProcessorMixin

    path_or_id = os.fspath(path_or_id)
    folder = Path(path_or_id)
    saved_class = _read_json(folder / "processor_config.json").get("processor_class") if folder.is_dir() else None
    if saved_class in _SHIM_SPECS:
        proc = _shim(saved_class).from_pretrained(path_or_id, **kwargs)
    elif has_torchvision():
        proc = AutoProcessor.from_pretrained(path_or_id, **kwargs)
    else:
        shim = _SHIM_BY_MODEL_TYPE.get(_model_type_of(path_or_id) or "")
        if shim is not None:
            proc = _shim(shim).from_pretrained(path_or_id, **kwargs)
        else:
            proc = AutoProcessor.from_pretrained(path_or_id, **kwargs)
    if not isinstance(proc, ProcessorMixin):
        raise ConfigError(
            f"The processor loaded from {path_or_id!r} is a {type(proc).__name__}, not a multimodal processor "
            "(transformers.ProcessorMixin).\n"
            "GRPOTrainer would treat the run as text-only and fail with KeyError: 'pixel_values'.\n"
            "Check that the folder holds processor_config.json / preprocessor_config.json, or build the "
            "processor yourself and pass it as processor=...")
    return proc


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------

def grit_corpus(n: int = 1200, seed: int = 0) -> list[str]:
    """Synthetic GRIT-style lines (tags, JSON and tuple boxes, words, digits) to train a tokenizer on."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        x1, y1 = rng.randint(0, 400), rng.randint(0, 300)
        x2, y2 = x1 + rng.randint(5, 200), y1 + rng.randint(5, 200)
        box = (f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{rng.choice(_WORDS)}"}}' if i % 2
               else f"({x1}, {y1}, {x2}, {y2})")
        answer = rng.choice(["Yes", "No", str(rng.randint(0, 9)), rng.choice(_WORDS)])
        lines.append(f"<think> {words} {box} </think> <rethink> {words} </rethink> <answer>\n{answer}\n</answer>")
        lines.append(f"Question: {words}? First, think between <think> and </think> "
                     "while output necessary coordinates.")
    return lines


def build_tokenizer(special_tokens: tuple[str, ...], *, eos: str, pad: str, bos: Optional[str] = None,
                    unk: Optional[str] = None, vocab_size: int = 600, seed: int = 0,
                    chat_template: Optional[str] = None, named: Optional[dict[str, str]] = None):
    """Train a byte-level BPE tokenizer in memory and wrap it for transformers.

    Args:
        special_tokens: special tokens, in id order (ids 0, 1, …).
        eos, pad, bos, unk: which of them play those roles.
        vocab_size: BPE vocabulary size before the added tokens.
        seed: seed of the synthetic training corpus.
        chat_template: set on the tokenizer.
        named: model-specific named special tokens, e.g. ``{"boi_token": "<start_of_image>"}``
            (Gemma 3 and InternVL processors read them as tokenizer attributes, ``boi_token``
            and ``boi_token_id``); each must be one of ``special_tokens``.

    Returns:
        A ``PreTrainedTokenizerFast`` with GRIT's tags as ordinary added tokens.

    Example:
        >>> tok = build_tokenizer(("<pad>", "<eos>"), eos="<eos>", pad="<pad>")  # doctest: +SKIP
        >>> tok.decode(tok("<think>").input_ids, skip_special_tokens=True)  # doctest: +SKIP
        '<think>'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=unk))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(grit_corpus(seed=seed), trainer=trainer)
    roles = {"eos_token": eos, "pad_token": pad}
    if bos:
        roles["bos_token"] = bos
    if unk:
        roles["unk_token"] = unk
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, padding_side="left", **roles, **(named or {}))
    others = [t for t in special_tokens if t not in roles.values()]
    if others:
        tok.add_special_tokens({"additional_special_tokens": others})
    tok.add_tokens(list(GRIT_TAGS), special_tokens=False)
    if chat_template:
        tok.chat_template = chat_template
    return tok


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------

def _ids(tok, *tokens: str) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _build_qwen(family: str, seed: int, min_pixels: int, max_pixels: int):
    import transformers
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tok = build_tokenizer(_QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", seed=seed,
                          chat_template=QWEN_CHAT_TEMPLATE)
    pad, start, end, vstart, vend, image, video = _ids(tok, *_QWEN_SPECIALS)
    patch = 16 if family == "qwen3_vl" else 14  # Qwen3-VL's vision tower uses 16-px patches
    image_processor = Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                               min_pixels=min_pixels, max_pixels=max_pixels)
    text = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
                bos_token_id=start, eos_token_id=end, pad_token_id=pad, tie_word_embeddings=True)
    tokens = dict(image_token_id=image, video_token_id=video, vision_start_token_id=vstart,
                  vision_end_token_id=vend, tie_word_embeddings=True)
    if family == "qwen3_vl":
        text.update(head_dim=32, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                  "mrope_section": [6, 5, 5], "mrope_interleaved": True})
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
                      spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                      num_position_embeddings=64, deepstack_visual_indexes=[1])
        config = transformers.Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)
        model_cls = transformers.Qwen3VLForConditionalGeneration
        proc_cls = _shim("ImageOnlyQwen3VLProcessor")
    elif family == "qwen2_5_vl":
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                      fullatt_block_indexes=[1], out_hidden_size=64)
        config = transformers.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
        model_cls = transformers.Qwen2_5_VLForConditionalGeneration
        proc_cls = _shim("ImageOnlyQwen2_5_VLProcessor")
    else:
        vision = dict(depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2)
        config = transformers.Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
        model_cls = transformers.Qwen2VLForConditionalGeneration
        proc_cls = _shim("ImageOnlyQwen2VLProcessor")
    processor = proc_cls(image_processor=image_processor, tokenizer=tok, chat_template=QWEN_CHAT_TEMPLATE)
    return config, model_cls, processor, [end, pad], pad


def _build_llava(seed: int, image_side: int):
    import transformers

    tok = build_tokenizer(_LLAVA_SPECIALS, eos="</s>", pad="<unk>", bos="<s>", unk="<unk>", seed=seed,
                          chat_template=LLAVA_CHAT_TEMPLATE)
    unk, bos, eos, image = _ids(tok, *_LLAVA_SPECIALS)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=image_side, patch_size=14,
                                           projection_dim=32)
    text = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                    num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                    max_position_embeddings=2048, bos_token_id=bos, eos_token_id=eos,
                                    pad_token_id=unk, tie_word_embeddings=True)
    config, processor = llava_parts(tok, image_side, vision, text, image)
    return config, transformers.LlavaForConditionalGeneration, processor, [eos], unk


def llava_parts(tok: Any, image_side: int, vision: Any, text: Any, image_token_id: int) -> tuple[Any, Any]:
    """``(LlavaConfig, LlavaProcessor)`` of a LLaVA-1.5-style model around a tokenizer, from its
    vision (``CLIPVisionConfig``, patch 14) and text (``LlamaConfig``) configs, with gritkit's
    LLaVA chat template and a torchvision-free image processor (``image_side`` square)."""
    import transformers
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    image_processor = LlavaImageProcessorPil(size={"shortest_edge": image_side},
                                             crop_size={"height": image_side, "width": image_side})
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_token_id,
                                      vision_feature_select_strategy="default", vision_feature_layer=-1,
                                      image_seq_length=(image_side // 14) ** 2, tie_word_embeddings=True)
    processor = transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                                            vision_feature_select_strategy="default",
                                            num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE)
    return config, processor


def _build_internvl(seed: int, image_side: int):
    import transformers
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    tok = build_tokenizer(_INTERNVL_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", seed=seed,
                          chat_template=INTERNVL_CHAT_TEMPLATE, named=_INTERNVL_NAMED)
    pad, start, end, _, _, context, _ = _ids(tok, *_INTERNVL_SPECIALS)
    side = 2 * image_side  # InternVL's pixel shuffle halves each side: (side/14 · 0.5)² tokens per tile
    tokens_per_tile = (side // 14 // 2) ** 2
    # one tile per image (InternVL's dynamic tiling would add tiles and a thumbnail)
    image_processor = GotOcr2ImageProcessorPil(size={"height": side, "width": side}, crop_to_patches=False,
                                               max_patches=1)
    vision = transformers.InternVLVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                               intermediate_size=64, image_size=[side, side], patch_size=[14, 14])
    text = transformers.Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                                    bos_token_id=start, eos_token_id=end, pad_token_id=pad, tie_word_embeddings=True)
    config = transformers.InternVLConfig(vision_config=vision, text_config=text, image_token_id=context,
                                         image_seq_length=tokens_per_tile, downsample_ratio=0.5,
                                         tie_word_embeddings=True)
    processor = _shim("ImageOnlyInternVLProcessor")(image_processor=image_processor, tokenizer=tok,
                                                    chat_template=INTERNVL_CHAT_TEMPLATE,
                                                    image_seq_length=tokens_per_tile)
    return config, transformers.InternVLForConditionalGeneration, processor, [end, pad], pad


def _build_gemma3(seed: int, image_side: int):
    import transformers
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tok = build_tokenizer(_GEMMA3_SPECIALS, eos="<eos>", pad="<pad>", bos="<bos>", unk="<unk>", seed=seed,
                          chat_template=GEMMA3_CHAT_TEMPLATE, named=_GEMMA3_NAMED)
    pad, eos, bos, _, _, end_of_turn, boi, eoi, image = _ids(tok, *_GEMMA3_SPECIALS)
    tokens = (image_side // 14) ** 2  # Gemma 3 pools the SigLIP patches to mm_tokens_per_image soft tokens
    image_processor = Gemma3ImageProcessorPil(size={"height": image_side, "width": image_side})
    vision = dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, image_size=image_side, patch_size=14,
                  vision_use_head=False)  # Gemma 3 reads the patch features; SigLIP's pooling head is unused
    text = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32,
                max_position_embeddings=2048, sliding_window=64, bos_token_id=bos, eos_token_id=eos,
                pad_token_id=pad)
    config = transformers.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=tokens,
                                       boi_token_index=boi, eoi_token_index=eoi, image_token_index=image)
    processor = transformers.Gemma3Processor(image_processor=image_processor, tokenizer=tok,
                                             chat_template=GEMMA3_CHAT_TEMPLATE, image_seq_length=tokens)
    return config, transformers.Gemma3ForConditionalGeneration, processor, [eos, end_of_turn], pad


def make_tiny_vlm(family: str, folder: Union[str, os.PathLike], *, seed: int = 0,
                  min_pixels: int = 28 * 28, max_pixels: int = 28 * 28 * 4, image_side: int = 28,
                  return_objects: bool = False):
    """Build a tiny random VLM of ``family`` and save it (model, processor, tokenizer) to ``folder``.

    Deterministic for a given ``seed``; takes well under a second on a CPU. The
    model is fp32, about 0.2 M parameters, with a trainable vision tower.

    Args:
        family: one of :data:`FAMILIES`.
        folder: where to save; created if missing.
        seed: seeds the tokenizer corpus and the weights.
        min_pixels, max_pixels: the Qwen image processor's pixel budget (the
            default budget makes a 64×64 image 56×56: 4 image tokens).
        image_side: LLaVA's and Gemma 3's square input side (a multiple of 14);
            InternVL's tile is twice that (its pixel shuffle halves each side).
        return_objects: also return the built ``(model, processor)``.

    Returns:
        The folder (a ``Path``), or ``(folder, model, processor)`` with ``return_objects``.

    Raises:
        ConfigError: for an unknown family.

    Example:
        >>> folder = make_tiny_vlm("llava", "/tmp/tiny-llava", seed=1)  # doctest: +SKIP
        >>> from transformers import AutoModelForImageTextToText  # doctest: +SKIP
        >>> model = AutoModelForImageTextToText.from_pretrained(folder)  # doctest: +SKIP
    """
    from gritkit.errors import unknown_name_message

    family = family.replace("-", "_").replace(".", "_").lower()
    if family not in FAMILIES:
        raise ConfigError(unknown_name_message("tiny model family", family, FAMILIES))
    import torch
    from transformers import GenerationConfig

    if family == "llava":
        config, model_cls, processor, eos_ids, pad_id = _build_llava(seed, image_side)
    elif family == "internvl":
        config, model_cls, processor, eos_ids, pad_id = _build_internvl(seed, image_side)
    elif family == "gemma3":
        config, model_cls, processor, eos_ids, pad_id = _build_gemma3(seed, image_side)
    else:
        config, model_cls, processor, eos_ids, pad_id = _build_qwen(family, seed, min_pixels, max_pixels)
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=eos_ids, pad_token_id=pad_id, do_sample=True,
                                               bos_token_id=processor.tokenizer.bos_token_id)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "GRITKIT_TINY_RANDOM_MODEL.txt").write_text(
        f"A tiny {family} model with RANDOM weights, built by gritkit.tiny.make_tiny_vlm(seed={seed}).\n"
        "It only proves that training runs; its outputs are noise.\n", encoding="utf-8")
    if return_objects:
        return folder, model, processor
    return folder


def is_tiny_random(folder: Union[str, os.PathLike]) -> bool:
    """True when ``folder`` was built by :func:`make_tiny_vlm`."""
    return (Path(folder) / "GRITKIT_TINY_RANDOM_MODEL.txt").is_file()
