"""Held-out evaluation with gritkit's own generate and eval.

:func:`evaluate_model` generates one completion per held-out record, greedy and
sampled, through :func:`generate_outputs` (gritkit's ``generate``), scores the
records with :class:`gritkit.evaluate.Evaluator` (answer accuracy with
``answer_match``, GRIT's grounding IoU: the union IoU in original pixels), and
adds two measures ``gritkit eval`` does not have:

* ``format_rate``: share of completions with the full paper-mode ``format``
  reward (1.5: ordered think and rethink pairs and a box);
* ``wrong_object``: share of written boxes whose best match (IoU > 0.1, with
  gritkit's IoU) is a distractor rather than a red square.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Iterator, Optional, Sequence

WRONG_OBJECT_IOU = 0.1
"""A box 'matches' an object when their IoU is above this."""

FULL_FORMAT = 1.5
"""The paper-mode format reward's maximum."""

METRIC_KEYS = ("iou_sampled", "iou_greedy", "accuracy", "wrong_object", "format_rate")
"""The keys of ``before``/``after`` in results.json (accuracy, wrong_object and format_rate: greedy)."""


def _fallback_generate(records, *, model, processor, images=None, max_new_tokens=256, temperature=0.9,
                       num_samples=1, constrained=False, grammar="grit", batch_size=8, seed=0,
                       prompt_suffix="", progress=False) -> Iterator[dict]:
    """The signature of ``gritkit.generate.generate``, for checkouts that do not have it yet.

    Greedy when ``temperature`` is 0; records' ``image`` is a PIL image or a path
    under ``images``. ``constrained`` and ``grammar`` are accepted and ignored.
    """
    import os

    import torch
    from PIL import Image

    from gritkit.train import grit_prompt

    tok = processor.tokenizer
    records = list(records)
    torch.manual_seed(seed)
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        pics = []
        for rec in chunk:
            im = rec["image"]
            if not hasattr(im, "size"):
                im = Image.open(os.path.join(images, im) if images else im).convert("RGB")
            pics.append(im)
        texts = [processor.apply_chat_template(grit_prompt(str(r.get("question") or r.get("prompt")), prompt_suffix),
                                               add_generation_prompt=True, tokenize=False) for r in chunk]
        enc = processor(images=pics, text=texts, padding=True, return_tensors="pt")
        kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, num_return_sequences=num_samples,
                                      pad_token_id=tok.pad_token_id)
        kwargs.update(dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0
                      else dict(do_sample=False))
        with torch.no_grad():
            out = model.generate(**enc, **kwargs)
        texts_out = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for i, rec in enumerate(chunk):
            for k in range(num_samples):
                yield {**rec, "output": texts_out[i * num_samples + k]}


def generate_records(records: Sequence[dict], **kwargs: Any) -> list[dict]:
    """``gritkit.generate.generate(records, **kwargs)`` as a list; this package's stand-in
    (:func:`_fallback_generate`, the same signature) where gritkit has no ``generate`` module yet."""
    if importlib.util.find_spec("gritkit.generate") is not None:
        from gritkit.generate import generate
    else:
        generate = _fallback_generate
    return list(generate(records, **kwargs))


def generate_outputs(records: Sequence[dict], model, processor, *, temperature: float, seed: int,
                     max_new_tokens: int, batch_size: int = 50) -> list[dict]:
    """One completion per record (the experiment's short prompt: the question only, no GRIT suffix)."""
    return generate_records(records, model=model, processor=processor, max_new_tokens=max_new_tokens,
                            temperature=temperature, num_samples=1, batch_size=batch_size, seed=seed,
                            prompt_suffix="", progress=False)


def wrong_object_counts(result, sample, distractors: Sequence[Sequence[float]]) -> tuple[int, int]:
    """``(boxes matching a distractor best, boxes written)`` for one parsed completion."""
    from gritkit.boxes import iou
    from gritkit.coords import convert_boxes

    converted = convert_boxes(result.boxes, sample)
    wrong = 0
    for _, px in converted.valid:
        best_gt = max((iou(px, tuple(g)) for g in sample.gt_boxes), default=0.0)
        best_other = max((iou(px, tuple(d)) for d in distractors), default=0.0)
        if best_other > WRONG_OBJECT_IOU and best_other > best_gt:
            wrong += 1
    return wrong, len(result.boxes)


class HeldOutScorer:
    """Scores generated records: gritkit's Evaluator, the format reward and the wrong-object share."""

    def __init__(self) -> None:
        import warnings

        from gritkit.compose import Composer
        from gritkit.evaluate import Evaluator

        self.evaluator = Evaluator()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.format = Composer({"rewards": [{"name": "format", "options": {"mode": "paper"}}]})
        from gritkit.records import RecordReader

        self.reader = RecordReader.from_config(self.format.config)

    def score(self, outputs: Sequence[dict]) -> dict[str, Any]:
        """Metrics of generated records (``output`` plus the task fields), overall and per task."""
        from gritkit.evaluate import summarize

        # A record gritkit's generate could not generate has output None: it counts, as an empty completion.
        plain = [{k: v for k, v in r.items() if k not in ("image", "output")}
                 | {"image": r.get("image_id"), "output": r.get("output") or ""} for r in outputs]
        metrics = self.evaluator.evaluate_records(list(enumerate(plain)))
        summary = summarize(metrics, dedupe=False)
        groups: dict[str, dict[str, Any]] = {}
        for name, rows in [("overall", plain)] + [(t, [r for r in plain if r.get("dataset") == t])
                                                  for t in sorted({r.get("dataset") for r in plain})]:
            full = wrong = boxes = 0
            for rec in rows:
                result = self.format.parse(rec["output"])
                sample = self.reader.sample(rec)
                full += self.format.score(result, sample).rewards["format"] >= FULL_FORMAT - 1e-9
                w, b = wrong_object_counts(result, sample, rec.get("distractors") or [])
                wrong, boxes = wrong + w, boxes + b
            group = summary["overall"] if name == "overall" else summary["datasets"].get(name, {})
            groups[name] = {"n": len(rows), "iou": group.get("grounding_iou"), "accuracy": group.get("accuracy"),
                            "matched_iou": group.get("matched_iou"), "f1_50": group.get("f1_50"),
                            "format_rate": full / len(rows) if rows else None,
                            "wrong_object": wrong / boxes if boxes else 0.0,
                            "boxes_per_sample": group.get("boxes_per_sample")}
        return groups


def evaluate_model(model, processor, records: Sequence[dict], *, seed: int, max_new_tokens: int,
                   scorer: Optional[HeldOutScorer] = None) -> dict[str, Any]:
    """Greedy and sampled (T = 1) held-out metrics: ``{"summary": {METRIC_KEYS}, "greedy": ..., "sampled": ...}``."""
    scorer = scorer or HeldOutScorer()
    greedy = scorer.score(generate_outputs(records, model, processor, temperature=0.0, seed=seed,
                                           max_new_tokens=max_new_tokens))
    sampled = scorer.score(generate_outputs(records, model, processor, temperature=1.0, seed=seed,
                                            max_new_tokens=max_new_tokens))
    g, s = greedy["overall"], sampled["overall"]
    summary = {"iou_sampled": s["iou"], "iou_greedy": g["iou"], "accuracy": g["accuracy"],
               "wrong_object": g["wrong_object"], "format_rate": g["format_rate"]}
    return {"summary": summary, "greedy": greedy, "sampled": sampled}
