"""Generating GRIT outputs with a Hugging Face VLM, optionally grammar-constrained.

:func:`generate` takes records in GRIT's schema (``question`` or ``prompt``,
``image``) and yields one record per input record and sample: the input's
fields plus ``output`` (and ``sample`` when ``num_samples > 1``), in input
order, so ``gritkit eval`` and ``gritkit render`` read the result directly.

* The prompt is GRIT's (:func:`gritkit.train.grit_prompt`: the image, then
  ``"\\nQuestion: " + question`` and GRIT's instruction suffix, the same one
  ``gritkit train`` uses), put through the model's chat template and processor.
* Records are generated in batches (left padding); ``temperature=0`` is greedy.
* ``constrained=True`` masks the logits with the grammar exported by
  :mod:`gritkit.export` (through xgrammar, or llguidance), so every output
  follows the grammar; when the token budget runs out, the closing tags are
  forced, so constrained outputs end well-formed within ``max_new_tokens``.
* A record that cannot be generated (an unreadable image, no question) gets
  ``output: null`` and an ``error`` saying why; the run goes on.

:func:`generate_file` is the resumable file-to-file front end behind
``gritkit generate``: it writes and flushes one line at a time, and a rerun with
the same ``out`` skips what is already written (a torn last line is rewritten).

Example:
    >>> from gritkit.generate import generate  # doctest: +SKIP
    >>> from gritkit.tiny import make_tiny_vlm  # doctest: +SKIP
    >>> _, model, processor = make_tiny_vlm("qwen2_5_vl", "/tmp/tiny", return_objects=True)  # doctest: +SKIP
    >>> rows = list(generate([{"question": "How many cats?", "image": "cats.png"}], model=model,
    ...                      processor=processor, images="examples/data/images", constrained=True,
    ...                      max_new_tokens=64))  # doctest: +SKIP
    >>> rows[0]["output"][:7]  # doctest: +SKIP
    '<think>'
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

from gritkit.errors import ConfigError, DataError
from gritkit.train import GRIT_PROMPT_SUFFIX, grit_prompt

__all__ = ["generate", "generate_file", "generate_vllm_file", "build_messages", "resume_point", "vllm_arguments",
           "GrammarConstraint", "GenerateSummary", "BACKENDS", "CONSTRAINED_BACKENDS"]

BACKENDS = ("transformers", "vllm")
"""Generation engines: Hugging Face ``generate`` (default) and vLLM."""

CONSTRAINED_BACKENDS = ("xgrammar", "llguidance")
"""Libraries that can constrain Hugging Face generation with the exported grammar."""

PathLike = Union[str, os.PathLike]


# --------------------------------------------------------------------------- prompts

def _question(record: dict) -> Any:
    q = record.get("question")
    if q is None or (isinstance(q, str) and not q.strip()):
        q = record.get("prompt")
    return q


def build_messages(record: dict, prompt_suffix: Optional[str] = GRIT_PROMPT_SUFFIX, *,
                   with_image: bool = True) -> list[dict]:
    """The chat messages for one record.

    * ``question`` (a string): GRIT's prompt, the image block then
      ``"\\nQuestion: " + question + prompt_suffix``;
    * ``prompt`` as a string: the same, with the prompt in place of the question;
    * ``prompt`` as chat messages: used as they are; an image block is put first
      in the first user message when the record has an image and no message
      holds one.

    Raises:
        DataError: the record has neither a non-empty ``question`` nor ``prompt``.

    Example:
        >>> m = build_messages({"question": "Is the cat left of the dog?"}, " Answer.")
        >>> m[0]["content"][1]["text"]
        '\\nQuestion: Is the cat left of the dog? Answer.'
    """
    q = _question(record)
    if isinstance(q, str) and q.strip():
        msgs = grit_prompt(q, prompt_suffix or "")
        if not with_image:
            msgs[0]["content"] = msgs[0]["content"][1:]
        return msgs
    if isinstance(q, list) and q and all(isinstance(m, dict) and "role" in m for m in q):
        msgs = [dict(m) for m in q]
        if with_image and not any(_has_image_block(m.get("content")) for m in msgs):
            for m in msgs:
                if m["role"] == "user":
                    content = m.get("content")
                    blocks = ([{"type": "text", "text": content}] if isinstance(content, str)
                              else list(content or []))
                    m["content"] = [{"type": "image"}, *blocks]
                    break
        return msgs
    keys = ", ".join(sorted(record)) or "none"
    raise DataError(f"the record has no question: expected a non-empty 'question' string or a 'prompt' "
                    f"(a string or chat messages); its keys: {keys}.")


def _has_image_block(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(b, dict) and (b.get("type") == "image" or "image" in b) for b in content)


def _load_image(record: dict, images: Optional[PathLike]):
    """The record's image as an RGB PIL image, or ``None`` when it has none."""
    from PIL import Image

    from gritkit.train import _open_image

    value = record.get("image")
    if value is None or value == "":
        return None
    if isinstance(value, Image.Image):
        return value.convert("RGB") if value.mode != "RGB" else value
    if not isinstance(value, (str, os.PathLike)):
        raise DataError(f"the record's 'image' is a {type(value).__name__}; expected a path (relative to "
                        "--images) or a PIL image.")
    rel = Path(value)
    path = rel if rel.is_absolute() or images is None else Path(images) / rel
    return _open_image(path, "the record")


# --------------------------------------------------------------------------- generation

@dataclass
class _Job:
    index: int          # record index in the input
    sample: int         # sample number, 0-based
    record: dict
    error: Optional[str] = None


def _jsonable(record: dict) -> dict:
    """The record's fields for the output: a PIL image becomes ``None`` (paths stay)."""
    out = {}
    for k, v in record.items():
        if type(v).__module__.startswith("PIL."):
            v = None
        out[k] = v
    return out


def _row(job: _Job, output: Optional[str], num_samples: int, error: Optional[str] = None) -> dict:
    row = dict(job.record)
    row["output"] = output
    if num_samples > 1:
        row["sample"] = job.sample
    if error is not None:
        row["error"] = error
    return row


def _eos_ids(model, tokenizer) -> list[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return []
    return [int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])]


class _Batcher:
    """Runs one batch of jobs through the processor and ``model.generate``."""

    def __init__(self, model, processor, *, images, max_new_tokens, temperature, prompt_suffix,
                 constraint, top_p: float = 1.0):
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.images = images
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.prompt_suffix = prompt_suffix
        self.constraint = constraint
        self.eos_ids = _eos_ids(model, self.tokenizer)

    def prepare(self, job: _Job):
        """``(chat text, image or None)`` for one job; raises DataError for a bad record."""
        image = _load_image(job.record, self.images)
        messages = build_messages(job.record, self.prompt_suffix, with_image=image is not None)
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text, image

    def run(self, prepared: Sequence[tuple[str, Any]], seed: int) -> list[str]:
        import torch

        texts = [t for t, _ in prepared]
        imgs = [im for _, im in prepared if im is not None]
        tok = self.tokenizer
        old_side = getattr(tok, "padding_side", None)
        if old_side is not None:
            tok.padding_side = "left"
        try:
            kwargs = {"text": texts, "return_tensors": "pt", "padding": True}
            if imgs:
                kwargs["images"] = imgs
            inputs = self.processor(**kwargs)
        finally:
            if old_side is not None:
                tok.padding_side = old_side
        device = getattr(self.model, "device", None)
        if device is not None:
            inputs = inputs.to(device)
        gen: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.temperature and self.temperature > 0:
            # top_k=0: no top-k cut (transformers' default is 50); GRIT samples from the full distribution
            gen.update(do_sample=True, temperature=float(self.temperature), top_p=self.top_p, top_k=0)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        pad = getattr(tok, "pad_token_id", None)
        if pad is not None:
            gen["pad_token_id"] = pad
        if self.eos_ids:
            gen["eos_token_id"] = self.eos_ids
        if self.constraint is not None:
            from transformers import LogitsProcessorList

            gen["logits_processor"] = LogitsProcessorList(
                [self.constraint.logits_processor(len(texts), self.max_new_tokens)])
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [self._decode(row) for row in new]

    def _decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        stop = set(self.eos_ids)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        for n, i in enumerate(ids):  # cut at the first end-of-sequence token; the rest is padding
            if i in stop or (pad is not None and i == pad and pad not in stop and self._all_pad(ids[n:], pad)):
                ids = ids[:n]
                break
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    @staticmethod
    def _all_pad(ids, pad) -> bool:
        return all(i == pad for i in ids)


def generate(records: Iterable[dict], *, model, processor, images: Optional[PathLike] = None,
             max_new_tokens: int = 256, temperature: float = 0.9, num_samples: int = 1,
             constrained: bool = False, grammar: str = "grit", batch_size: int = 8, seed: int = 0,
             prompt_suffix: Optional[str] = GRIT_PROMPT_SUFFIX, progress: bool = False,
             constrained_backend: str = "xgrammar", max_free: Optional[int] = None,
             top_p: float = 1.0, skip: int = 0) -> Iterator[dict]:
    """Generate outputs for GRIT-schema records with a loaded Hugging Face VLM.

    Args:
        records: dicts with ``question`` (or ``prompt``: a string or chat
            messages) and ``image`` (a path relative to ``images``, or a
            ``PIL.Image.Image``; a record without one is prompted as text).
        model, processor: an already-loaded image-text-to-text model and its
            processor (e.g. ``gritkit.tiny.load_processor(folder)``).
        images: the folder that the records' image paths are relative to.
        max_new_tokens: the token budget of each output.
        temperature: sampling temperature; ``0`` decodes greedily.
        num_samples: outputs per record (``K``); each row then carries ``sample``
            (0 … K-1).
        constrained: constrain decoding with the grammar (see
            :mod:`gritkit.export`); outputs then always follow it.
        grammar: the grammar (``"grit"``, ``"r1"``, ``"grit[think=thinking]"``).
        batch_size: prompts per ``model.generate`` call.
        seed: seeds sampling (each batch is seeded with ``seed`` plus the index of
            its first job, so a resumed run samples its batches as a fresh one would).
        prompt_suffix: the instruction after the question (default: GRIT's, as
            ``gritkit train`` uses; ``None`` or ``""`` for none).
        progress: show a progress bar on stderr.
        constrained_backend: ``"xgrammar"`` (default) or ``"llguidance"``.
        max_free: the exported grammar's bound on free text (see
            :func:`gritkit.export.export_grammar`); default: chosen from
            ``max_new_tokens`` (:func:`gritkit.export.max_free_for_budget`).
        top_p: nucleus sampling (GRIT: 1.0).
        skip: leave out the first ``skip`` rows (record-major, then sample), as a
            resumed run does.

    Yields:
        One dict per record and sample, in input order: the record's fields (a
        PIL image stays; files get ``None`` in its place), ``output`` (``None`` when the record
        could not be generated, with ``error`` saying why), and ``sample`` when
        ``num_samples > 1``.

    Raises:
        ConfigError: invalid settings or a missing optional dependency.
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples must be at least 1, got {num_samples}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    if temperature is None or temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0: greedy), got {temperature}.")
    constraint = None
    if constrained:
        if top_p < 1.0:
            raise ConfigError("Constrained decoding needs top_p = 1 (nucleus sampling before the grammar mask "
                              "could leave no allowed token); drop --top-p.")
        constraint = GrammarConstraint(processor, grammar=grammar, backend=constrained_backend,
                                       max_free=max_free, max_new_tokens=max_new_tokens,
                                       eos_ids=_eos_ids(model, getattr(processor, "tokenizer", processor)),
                                       vocab_size=_vocab_size(model))
    batcher = _Batcher(model, processor, images=images, max_new_tokens=max_new_tokens,
                       temperature=temperature, prompt_suffix=prompt_suffix, constraint=constraint, top_p=top_p)
    yield from _run(_jobs(records, num_samples, skip), batcher, num_samples=num_samples,
                    batch_size=batch_size, seed=seed, progress=progress, total=None)


def _jobs(records: Iterable[dict], num_samples: int, skip: int) -> Iterator[_Job]:
    n = 0
    for i, rec in enumerate(records):
        error = rec.error if isinstance(rec, _BadLine) else None
        if not isinstance(rec, dict):
            error = getattr(rec, "error", None) or f"record {i + 1} is a {type(rec).__name__}, not a JSON object"
            rec = {}
        for k in range(num_samples):
            if n >= skip:
                yield _Job(i, k, rec, error)
            n += 1


def _run(jobs: Iterator[_Job], batcher: _Batcher, *, num_samples: int, batch_size: int, seed: int,
         progress: Union[bool, None], total: Optional[int]) -> Iterator[dict]:
    from gritkit.commands._progress import progress_bar

    position = 0
    with progress_bar(total, "generate", enabled=progress) as advance:
        pending: list[tuple[_Job, Any]] = []

        def flush() -> list[dict]:
            nonlocal pending
            rows = _generate_batch(batcher, pending, num_samples, seed)
            pending = []
            return rows

        for job in jobs:
            position += 1
            if job.error is None:
                try:
                    prepared = batcher.prepare(job)
                except DataError as exc:
                    job.error = str(exc)
                except Exception as exc:  # a chat template that rejects this record, ...
                    job.error = f"{type(exc).__name__}: {exc}"
            if job.error is not None:
                # keep input order: generate what is pending first
                if pending:
                    for row in flush():
                        advance(1)
                        yield row
                advance(1)
                yield _row(job, None, num_samples, job.error)
                continue
            pending.append((job, prepared))
            if len(pending) >= batch_size:
                for row in flush():
                    advance(1)
                    yield row
        if pending:
            for row in flush():
                advance(1)
                yield row


def _generate_batch(batcher: _Batcher, pending: list, num_samples: int, seed: int) -> list[dict]:
    jobs = [j for j, _ in pending]
    first = jobs[0].index * num_samples + jobs[0].sample
    try:
        outputs = batcher.run([p for _, p in pending], seed + first)
    except Exception as exc:
        if len(pending) == 1:
            return [_row(jobs[0], None, num_samples, f"generation failed: {type(exc).__name__}: {exc}")]
        # find the record that breaks the batch: one at a time
        rows = []
        for item in pending:
            rows.extend(_generate_batch(batcher, [item], num_samples, seed))
        return rows
    return [_row(j, out, num_samples) for j, out in zip(jobs, outputs)]


# --------------------------------------------------------------------------- constrained decoding

def _vocab_size(model) -> Optional[int]:
    emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(emb, "weight", None)
    return int(weight.shape[0]) if weight is not None else None


class GrammarConstraint:
    """A grammar compiled for one tokenizer; makes a logits processor per batch.

    The grammar is :func:`gritkit.export.export_grammar`'s (EBNF for xgrammar;
    Lark with the tags as tokens where the tokenizer has them for llguidance),
    bounded by ``max_free`` (default :func:`gritkit.export.max_free_for_budget`).
    Each processor also forces the closing tags when the token budget is about
    to run out (:func:`gritkit.export.shortest_closing`), so constrained outputs
    are complete within ``max_new_tokens``.

    Attributes:
        seconds, tokens: time spent masking and the tokens masked, over all
            batches (the cost per token of constrained decoding).
        forced: tokens that were forced to close an output in time.
    """

    def __init__(self, processor, *, grammar: str = "grit", backend: str = "xgrammar",
                 max_free: Optional[int] = None, max_new_tokens: int = 256,
                 eos_ids: Sequence[int] = (), vocab_size: Optional[int] = None):
        from gritkit.export import exported_rules, max_free_for_budget

        if backend not in CONSTRAINED_BACKENDS:
            from gritkit.errors import unknown_name_message

            raise ConfigError(unknown_name_message("constrained backend", backend, CONSTRAINED_BACKENDS))
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.backend = backend
        self.rules = exported_rules(grammar)
        self.max_free = max_free if max_free is not None else max_free_for_budget(max_new_tokens)
        self.eos_ids = list(eos_ids)
        self.vocab_size = vocab_size or len(self.tokenizer)
        self.seconds = 0.0
        self.tokens = 0
        self.forced = 0
        self._tag_tokens: dict[str, list[int]] = {}
        self._compile()

    def _compile(self) -> None:
        from gritkit.export import export_grammar, tags_as_tokens

        try:
            if self.backend == "xgrammar":
                import xgrammar as xgr
            else:
                import llguidance  # noqa: F401
                import llguidance.hf
                import llguidance.torch  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"Constrained decoding with {self.backend} needs it installed: "
                              "pip install 'gritkit[generate]'.") from exc
        if self.backend == "xgrammar":
            info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.vocab_size,
                                                      stop_token_ids=self.eos_ids or None)
            text = export_grammar(self.rules.grammar, to="ebnf", max_free=self.max_free)
            self.compiled = xgr.GrammarCompiler(info, cache_enabled=False).compile_grammar(text)
        else:
            self.lltok = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self.vocab_size,
                                                      eos_token=self.eos_ids or None)
            tokens = tags_as_tokens(self.tokenizer, self.rules.grammar)
            self.lark = export_grammar(self.rules.grammar, to="lark", max_free=self.max_free,
                                       tags_as_tokens=tokens)
            probe = llguidance.LLMatcher(self.lltok, self.lark, log_level=0)
            if probe.is_error():
                raise ConfigError(f"llguidance rejected the exported grammar: {probe.get_error()}")
        added = self.tokenizer.get_added_vocab()
        for tag in self.rules.tags.values():
            self._tag_tokens[tag] = [added[tag]] if tag in added else \
                self.tokenizer.encode(tag, add_special_tokens=False)
        self.longest_closing = sum(len(t) for t in self._tag_tokens.values())
        # Special tokens other than the end tokens are masked: decoding skips them, so text the
        # matcher saw around them could read differently in the output (<thi<|image_pad|>nk>).
        specials = set(getattr(self.tokenizer, "all_special_ids", []) or [])
        specials |= {i for i, t in getattr(self.tokenizer, "added_tokens_decoder", {}).items()
                     if getattr(t, "special", False)}
        # Tokens whose text has a '}' before any '{': masked while a JSON box opened before a tag
        # is still open, because gritkit's JSON_BOX terminal would then swallow the tag (see
        # swallow_risk and docs/generation.md).
        texts = self.tokenizer.batch_decode([[i] for i in range(min(self.vocab_size, len(self.tokenizer)))])
        self.close_brace_ids = [i for i, t in enumerate(texts)
                                if "}" in t and ("{" not in t or t.index("}") < t.index("{"))]
        tag_ids = {t[0] for t in self._tag_tokens.values() if len(t) == 1}
        self.special_ids = sorted(i for i in specials - set(self.eos_ids) - tag_ids if i < self.vocab_size)

    def matcher(self):
        if self.backend == "xgrammar":
            import xgrammar as xgr

            return xgr.GrammarMatcher(self.compiled)
        import llguidance

        return llguidance.LLMatcher(self.lltok, self.lark, log_level=0)

    def closing_options(self, text: str) -> list[list[int]]:
        """Token sequences that complete ``text`` with the fewest tags, shortest first.

        One appends whole tags (``shortest_closing``). When ``text`` ends with the
        start of a tag spelled out (``…<think``), another finishes that tag
        (``>``) and goes on from there: the matcher may already be committed to
        the tag (a gap at its bound cannot take ``<think`` as text).
        """
        from gritkit.export import shortest_closing

        options = []
        tags = shortest_closing(text, self.rules.grammar)
        if tags is not None:
            options.append([t for tag in tags for t in self._tag_tokens[tag]])
        for tag in self.rules.tags.values():
            for k in range(1, len(tag)):
                if text.endswith(tag[:k]):
                    rest = shortest_closing(text + tag[k:], self.rules.grammar)
                    if rest is not None:
                        options.append(self.tokenizer.encode(tag[k:], add_special_tokens=False)
                                       + [t for tg in rest for t in self._tag_tokens[tg]])
        return sorted(options, key=len)

    def swallow_risk(self, text: str) -> bool:
        """Whether a ``}`` now would close a JSON box that runs across a tag.

        gritkit's ``JSON_BOX`` terminal is ``{ … bbox_2d … : [ … }`` with no brace
        inside, so a tag inside it is not a tag to the parser. The risk is an open
        ``{`` (no brace after it) whose text since holds the key and a tag.
        """
        start = text.rfind("{")
        if start < 0 or "}" in text[start:]:
            return False
        tail = text[start:]
        from gritkit.export import literal_tags

        return bool(_JSON_KEY.search(tail)) and bool(literal_tags(tail, self.rules.grammar))

    def logits_processor(self, batch: int, max_new_tokens: int):
        return _GrammarLogitsProcessor(self, batch, max_new_tokens)


_JSON_KEY = re.compile(r"""["']?\b(?:bbox_2d|bbox)\b["']?\s*:\s*\[""")
"""The key of a JSON box and its list, as gritkit's JSON_BOX terminal reads it."""

_CLOSING_SLACK = 3
"""Steps kept in hand when closing: a UTF-8 character split over byte tokens needs up to 3 more."""


def _make_processor_class():
    from transformers import LogitsProcessor

    class GrammarLogitsProcessor(LogitsProcessor):
        """Masks each row's logits with its grammar matcher; forces closing tags at the end of the budget."""

        def __init__(self, constraint: GrammarConstraint, batch: int, max_new_tokens: int):
            import torch

            self.c = constraint
            self.matchers = [constraint.matcher() for _ in range(batch)]
            self.texts = [""] * batch
            self.done = [False] * batch
            self.queues: list[list[int]] = [[] for _ in range(batch)]
            self.step = 0
            self.max_new_tokens = max_new_tokens
            if constraint.backend == "xgrammar":
                import xgrammar as xgr

                self.bitmask = xgr.allocate_token_bitmask(batch, constraint.vocab_size)
            else:
                import llguidance.torch

                self.bitmask = llguidance.torch.allocate_token_bitmask(batch, constraint.vocab_size)
            self._torch = torch

        def _accept(self, i: int, token: int) -> None:
            if token in self.c.eos_ids:
                self.done[i] = True
                return
            m = self.matchers[i]
            ok = m.accept_token(token) if self.c.backend == "xgrammar" else m.consume_token(token)
            if not ok:  # pragma: no cover - the mask allowed it; a library bug
                raise RuntimeError(f"{self.c.backend} refused token {token} that its own mask allowed")
            self.texts[i] += self.c.tokenizer.decode([token], skip_special_tokens=False)

        def _fill(self, i: int) -> None:
            m = self.matchers[i]
            if self.c.backend == "xgrammar":
                m.fill_next_token_bitmask(self.bitmask, i)
            else:
                import llguidance.torch

                llguidance.torch.fill_next_token_bitmask(m, self.bitmask, i)

        def _allowed(self, i: int, token: int) -> bool:
            word = int(self.bitmask[i, token // 32])
            return bool((word >> (token % 32)) & 1)

        def __call__(self, input_ids, scores):
            import time

            t0 = time.perf_counter()
            torch = self._torch
            if self.step:
                for i in range(len(self.matchers)):
                    if not self.done[i]:
                        self._accept(i, int(input_ids[i, -1]))
            remaining = self.max_new_tokens - self.step
            self.step += 1
            forced: dict[int, int] = {}
            for i in range(len(self.matchers)):
                if self.done[i]:
                    self.bitmask[i].fill_(-1)
                    continue
                self._fill(i)
                queue = self.queues[i]
                if not queue and remaining <= self.c.longest_closing + _CLOSING_SLACK:
                    options = [o for o in self.c.closing_options(self.texts[i]) if o]
                    if options and len(options[0]) + _CLOSING_SLACK >= remaining:
                        # from here on, close: one forced token a step (an option the grammar allows now)
                        queue.extend(next((o for o in options if self._allowed(i, o[0])), options[0]))
                # A tag may follow any free text, except in the middle of a character whose UTF-8
                # bytes are split over tokens: then the mask lets the model finish it first.
                if queue and self._allowed(i, queue[0]):
                    forced[i] = queue.pop(0)
            if scores.device.type == "cuda" and self.c.backend == "xgrammar":
                import xgrammar as xgr

                xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
            else:
                cpu = scores if scores.device.type == "cpu" else scores.to("cpu")
                if self.c.backend == "xgrammar":
                    import xgrammar as xgr

                    xgr.apply_token_bitmask_inplace(cpu, self.bitmask)
                else:
                    import llguidance.torch

                    llguidance.torch.apply_token_bitmask_inplace(cpu, self.bitmask)
                if cpu is not scores:
                    scores.copy_(cpu.to(scores.device))
            if self.c.special_ids:  # image pads, chat markers: never part of an output
                scores[:, self.c.special_ids] = float("-inf")
            for i in range(len(self.matchers)):
                if not self.done[i] and i not in forced and self.c.swallow_risk(self.texts[i]):
                    scores[i, self.c.close_brace_ids] = float("-inf")
            for i, tok in forced.items():
                keep = scores[i, tok].clone()
                scores[i].fill_(float("-inf"))
                scores[i, tok] = keep if torch.isfinite(keep) else 0.0
                self.c.forced += 1
            self.c.tokens += sum(1 for d in self.done if not d)
            self.c.seconds += time.perf_counter() - t0
            return scores

    return GrammarLogitsProcessor


_PROCESSOR_CLASS = None


def _GrammarLogitsProcessor(constraint: GrammarConstraint, batch: int, max_new_tokens: int):
    global _PROCESSOR_CLASS
    if _PROCESSOR_CLASS is None:
        _PROCESSOR_CLASS = _make_processor_class()
    return _PROCESSOR_CLASS(constraint, batch, max_new_tokens)


# --------------------------------------------------------------------------- files, resuming

def resume_point(out: PathLike) -> tuple[int, int]:
    """How many complete rows ``out`` holds, and the byte offset where they end.

    A last line without its newline, or one that is not a JSON object (a run
    killed mid-write), is not counted: the caller truncates the file there and
    writes that row again. A bad line *before* the last one is not ours to
    repair and raises :class:`DataError`.
    """
    path = Path(out)
    if not path.exists():
        return 0, 0
    rows, end = 0, 0
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl == -1:
            break  # torn last line
        line = data[pos:nl]
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok:
            if data.find(b"\n", nl + 1) == -1 and not data[nl + 1:].strip():
                break  # the last line is garbage: rewrite it
            raise DataError(f"{path}, line {rows + 1} is not a JSON object, so this file was not written by "
                            "gritkit generate (or was edited).\nPass a new --out, or delete the file to start over.")
        rows += 1
        pos = end = nl + 1
    return rows, end


@dataclass
class GenerateSummary:
    """What :func:`generate_file` did."""

    out: Path
    total: int = 0          # rows the output should hold (records x samples)
    skipped: int = 0        # rows already there (resumed)
    written: int = 0        # rows written by this run
    errors: int = 0         # rows written with output null
    errors_seen: list = field(default_factory=list)


def _check_resume(out: Path, records: Sequence, rows_done: int, num_samples: int) -> None:
    """The rows already in ``out`` must be this input's first rows (same records, same K)."""
    from gritkit.io import read_jsonl

    for n, line in enumerate(read_jsonl(out)):
        if n >= rows_done:
            break
        rec = records[n // num_samples] if n // num_samples < len(records) else None
        got = line.record or {}
        want_sample = n % num_samples
        same_sample = got.get("sample", 0) == want_sample and (("sample" in got) == (num_samples > 1))
        same_record = isinstance(rec, dict) and all(got.get(k) == rec.get(k) for k in ("question", "image", "prompt")
                                                    if isinstance(rec.get(k), (str, list)))
        if rec is None or not same_sample or not same_record:
            raise DataError(
                f"{out} does not continue this run: its line {n + 1} is not record {n // num_samples + 1}, "
                f"sample {want_sample} of the input (it was written from other data or another --num-samples).\n"
                "Pass a new --out, or delete the file to start over.")


def generate_file(data: PathLike, out: PathLike, *, model, processor, images: Optional[PathLike] = None,
                  num_samples: int = 1, progress: Optional[bool] = None,
                  print_fn: Optional[Callable[[str], None]] = None, **kwargs: Any) -> GenerateSummary:
    """Generate for every record of the JSON Lines file ``data`` into ``out``, resumably.

    Every input line gives ``num_samples`` output lines (a bad input line gives
    rows with ``output: null`` and ``error``), in input order. Each row is
    written and flushed as soon as it is generated, so an interrupted run loses
    at most the row being written; rerunning with the same ``out`` skips the
    rows already there and rewrites a torn last line.

    Args:
        data: the input, JSON Lines in GRIT's schema.
        out: the output file (its folder is created).
        model, processor, images, num_samples: as :func:`generate`.
        progress: show a progress bar (default: when stderr is a terminal).
        print_fn: where to say what was resumed (``None``: silent).
        **kwargs: passed to :func:`generate`.

    Returns:
        A :class:`GenerateSummary`.
    """
    def rows(records: list, skip: int) -> Iterator[dict]:
        return generate(records, model=model, processor=processor, images=images, num_samples=num_samples,
                        skip=skip, **kwargs)

    return _write_rows(data, out, num_samples, rows, progress=progress, print_fn=print_fn)


def _read_records(data: PathLike) -> list:
    from gritkit.io import read_jsonl

    data = Path(data)
    if not data.is_file():
        raise DataError(f"The data file {str(data)!r} does not exist (looked at {data.resolve()}).\n"
                        "Pass --data FILE.jsonl with one JSON object per line in GRIT's schema.")
    return [line.record if line.record is not None else _BadLine(line.error) for line in read_jsonl(data)]


def _write_rows(data: PathLike, out: PathLike, num_samples: int, rows_for: Callable[[list, int], Iterator[dict]],
                *, progress: Optional[bool], print_fn: Optional[Callable[[str], None]]) -> GenerateSummary:
    """Resume ``out`` and append the rows ``rows_for(records, skip)`` yields, one flushed line each."""
    from gritkit.commands._progress import progress_bar

    if num_samples < 1:
        raise ConfigError(f"num_samples must be at least 1, got {num_samples}.")
    records = _read_records(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done, end = resume_point(out)
    summary = GenerateSummary(out=out, total=len(records) * num_samples, skipped=done)
    if done > summary.total:
        raise DataError(f"{out} holds {done} rows but this input gives only {summary.total} "
                        f"({len(records)} records x {num_samples} samples).\n"
                        "Pass a new --out, or delete the file to start over.")
    if done:
        _check_resume(out, records, done, num_samples)
    say = print_fn or (lambda _m: None)
    if done and done == summary.total:
        say(f"{out} already holds all {done} rows; nothing to generate.")
    elif done:
        say(f"Resuming: {out} already holds {done} of {summary.total} rows.")
    with open(out, "r+b" if out.exists() else "wb") as fh:
        fh.seek(end)
        fh.truncate()
        if done == summary.total:
            return summary
        with progress_bar(summary.total, "generate", enabled=progress) as advance:
            advance(done)
            for row in rows_for(records, done):
                fh.write((json.dumps(_jsonable(row), ensure_ascii=False) + "\n").encode("utf-8"))
                fh.flush()
                summary.written += 1
                if row.get("output") is None:
                    summary.errors += 1
                    if len(summary.errors_seen) < 5:
                        summary.errors_seen.append(row.get("error"))
                advance(1)
    return summary


class _BadLine(dict):
    """An input line that is not a JSON object (kept so the output keeps one row per line)."""

    def __init__(self, error: Optional[str]):
        super().__init__()
        self.error = error


# --------------------------------------------------------------------------- vLLM

def vllm_arguments(model: str, *, max_new_tokens: int = 256, temperature: float = 0.9, top_p: float = 1.0,
                   num_samples: int = 1, seed: int = 0, constrained: bool = False, grammar: str = "grit",
                   max_free: Optional[int] = None, constrained_backend: str = "auto",
                   engine_kwargs: Optional[dict] = None) -> tuple[dict, dict]:
    """The keyword arguments of ``vllm.LLM(...)`` and ``vllm.SamplingParams(...)`` for a run.

    With ``constrained``, the sampling parameters carry
    ``structured_outputs={"grammar": <the exported Lark grammar>}`` (vLLM reads a
    grammar without ``::=`` as Lark), and the engine's structured-outputs backend
    is ``constrained_backend`` (``"auto"``, ``"xgrammar"`` or ``"guidance"``).
    Nothing here imports vLLM.

    Example:
        >>> llm, sp = vllm_arguments("Qwen/Qwen2.5-VL-3B-Instruct", max_new_tokens=64, constrained=True)
        >>> llm["model"], sp["max_tokens"], sp["structured_outputs"]["grammar"].startswith("//")
        ('Qwen/Qwen2.5-VL-3B-Instruct', 64, True)
    """
    llm: dict[str, Any] = {"model": model, "seed": seed, "limit_mm_per_prompt": {"image": 1}}
    llm.update(engine_kwargs or {})
    sampling: dict[str, Any] = {"max_tokens": max_new_tokens, "n": num_samples, "seed": seed,
                                "temperature": float(temperature), "top_p": top_p if temperature > 0 else 1.0}
    if constrained:
        from gritkit.export import export_grammar, max_free_for_budget

        bound = max_free if max_free is not None else max_free_for_budget(max_new_tokens)
        sampling["structured_outputs"] = {"grammar": export_grammar(grammar, to="lark", max_free=bound)}
        if constrained_backend not in ("auto", "xgrammar", "guidance"):
            raise ConfigError(f"vLLM's structured-output backends are auto, xgrammar and guidance; "
                              f"got {constrained_backend!r}.")
        llm["structured_outputs_config"] = {"backend": constrained_backend}
    return llm, sampling


def generate_vllm_file(data: PathLike, out: PathLike, *, model: str, images: Optional[PathLike] = None,
                       num_samples: int = 1, max_new_tokens: int = 256, temperature: float = 0.9,
                       top_p: float = 1.0, seed: int = 0, constrained: bool = False, grammar: str = "grit",
                       max_free: Optional[int] = None, constrained_backend: str = "auto",
                       prompt_suffix: Optional[str] = None, batch_size: int = 64, llm: Any = None,
                       processor: Any = None, progress: Optional[bool] = None,
                       print_fn: Optional[Callable[[str], None]] = None) -> GenerateSummary:
    """:func:`generate_file` with vLLM as the engine (``gritkit generate --backend vllm``).

    The prompts are the same (GRIT's, through the model's chat template); the
    engine and sampling settings come from :func:`vllm_arguments`, so
    ``constrained`` uses vLLM's structured outputs with the exported Lark
    grammar. vLLM cannot force the closing tags when ``max_new_tokens`` runs out,
    so an output cut there may not parse; the grammar's free-text bound is what
    keeps a weak model moving. ``llm`` and ``processor`` may be given (already
    built); otherwise they are built from ``model``.
    """
    llm_kwargs, sampling_kwargs = vllm_arguments(
        model, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, num_samples=num_samples,
        seed=seed, constrained=constrained, grammar=grammar, max_free=max_free,
        constrained_backend=constrained_backend)
    suffix = GRIT_PROMPT_SUFFIX if prompt_suffix is None else prompt_suffix
    state: dict = {}

    def engine():
        if "llm" not in state:
            import vllm

            state["llm"] = llm if llm is not None else vllm.LLM(**llm_kwargs)
            state["params"] = _vllm_sampling_params(vllm, sampling_kwargs)
            if processor is None:
                from gritkit.tiny import load_processor

                state["processor"] = load_processor(model)
            else:
                state["processor"] = processor
        return state["llm"], state["params"], state["processor"]

    def rows(records: list, skip: int) -> Iterator[dict]:
        first = skip // num_samples
        drop = skip % num_samples
        jobs = [_Job(i, 0, rec, rec.error if isinstance(rec, _BadLine) else None)
                for i, rec in enumerate(records) if i >= first]
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            the_llm, params, proc = engine()
            prompts, ready = [], []
            for job in chunk:
                if job.error is None:
                    try:
                        image = _load_image(job.record, images)
                        text = proc.apply_chat_template(build_messages(job.record, suffix, with_image=image is not None),
                                                        tokenize=False, add_generation_prompt=True)
                        prompts.append({"prompt": text, **({"multi_modal_data": {"image": image}} if image else {})})
                        ready.append(job)
                    except DataError as exc:
                        job.error = str(exc)
            results = iter(the_llm.generate(prompts, sampling_params=params) if prompts else [])
            by_job = {id(j): next(results) for j in ready}
            for job in chunk:
                for k in range(num_samples):
                    if job.index == first and k < drop:
                        continue
                    sample = _Job(job.index, k, job.record)
                    if job.error is not None or id(job) not in by_job:
                        yield _row(sample, None, num_samples, job.error or "not generated")
                    else:
                        yield _row(sample, by_job[id(job)].outputs[k].text, num_samples)

    return _write_rows(data, out, num_samples, rows, progress=progress, print_fn=print_fn)


def _vllm_sampling_params(vllm, kwargs: dict):
    """``vllm.SamplingParams`` from :func:`vllm_arguments`' dict (structured outputs as vLLM's params object)."""
    kwargs = dict(kwargs)
    so = kwargs.pop("structured_outputs", None)
    if so is not None:
        try:
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError:  # vLLM before 0.11 called it guided decoding
            from vllm.sampling_params import GuidedDecodingParams

            kwargs["guided_decoding"] = GuidedDecodingParams(**so)
        else:
            kwargs["structured_outputs"] = StructuredOutputsParams(**so)
    return vllm.SamplingParams(**kwargs)
