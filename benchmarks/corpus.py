"""A reproducible corpus of GRIT-style completions for the benchmarks.

``make_corpus(n, seed)`` returns ``n`` records in GRIT's data schema
(``output``, ``question``, ``answer``, ``dataset``, ``width``, ``height``,
``bboxs``). Outputs look like what GRIT models write (GRIT's published example outputs): reasoning
in ``<think>`` with 0 to 15 boxes in mixed syntaxes (tuples in prose, JSON
``bbox_2d`` objects, bracketed lists, bare comma runs, nested lists, point
pairs, InternVL/Qwen2-VL tags), a ``<rethink>``, an ``<answer>``; about 15% are
malformed (truncated mid-sentence, a missing ``</think>`` or ``</rethink>``, a
missing ``<rethink>``, a repeated ``<answer>``). Average length is about 650
characters. The same ``(n, seed)`` always gives the same corpus.
"""

from __future__ import annotations

import random

WORDS = ("the a there is are of on in to and with near left right top bottom behind front above "
         "below visible region object image picture shows appears located coordinates bounding "
         "box zebra cat truck dog chair person car cup table window tree sign bus horse").split()
OBJECTS = ["zebra", "cat", "truck", "dog", "chair", "person", "car", "cup", "bus", "horse"]
SYNTAXES = ["tuple", "tuple", "tuple", "json", "json", "list", "bare", "nested", "points",
            "internvl", "qwen"]


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _box(rng: random.Random, w: int, h: int) -> list[int]:
    x1 = rng.randrange(0, w - 20)
    y1 = rng.randrange(0, h - 20)
    return [x1, y1, rng.randrange(x1 + 5, w), rng.randrange(y1 + 5, h)]


def _write_box(rng: random.Random, b: list[int], label: str) -> str:
    s = rng.choice(SYNTAXES)
    x1, y1, x2, y2 = b
    if s == "tuple":
        return f"({x1}, {y1}, {x2}, {y2})"
    if s == "json":
        return f'{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{label}"}}'
    if s == "list":
        return f"[{x1}, {y1}, {x2}, {y2}]"
    if s == "bare":
        return f"{x1}, {y1}, {x2}, {y2}"
    if s == "nested":
        return f"{label}[[{x1}, {y1}, {x2}, {y2}]]"
    if s == "points":
        return f"({x1},{y1}),({x2},{y2})"
    if s == "internvl":
        return f"<ref>{label}</ref><box>[[{x1}, {y1}, {x2}, {y2}]]</box>"
    return (f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})"
            f"<|box_end|>")


def make_record(rng: random.Random) -> dict:
    w, h = rng.choice([(640, 480), (500, 375), (424, 351), (800, 600), (1024, 768)])
    obj = rng.choice(OBJECTS)
    counting = rng.random() < 0.5
    n_boxes = rng.randrange(0, 16) if counting else rng.choice([0, 1, 1, 2, 3])
    gt = [_box(rng, w, h) for _ in range(max(1, n_boxes) if rng.random() < 0.8 else 0)]
    boxes = [_box(rng, w, h) for _ in range(n_boxes)]
    if counting:
        question = f"How many {obj}s are pictured here?"
        answer = str(n_boxes if rng.random() < 0.7 else max(0, n_boxes + rng.choice([-1, 1])))
        dataset = "tallyqa"
    else:
        question = f"Is the {obj} {rng.choice(['beneath', 'left of', 'near', 'behind'])} the {rng.choice(OBJECTS)}?"
        answer = rng.choice(["Yes", "No"])
        dataset = "vsr"
    think = [_sentence(rng, rng.randrange(10, 24))]
    if boxes:
        think.append(f"The coordinates for the {obj}s are as follows:")
        for i, b in enumerate(boxes):
            think.append(f"{i + 1}. {_write_box(rng, b, obj)}" if rng.random() < 0.6
                         else f"the {obj} at {_write_box(rng, b, obj)} {_sentence(rng, 3)}")
    else:
        think.append(_sentence(rng, rng.randrange(12, 26)))
    think.append(_sentence(rng, rng.randrange(8, 18)))
    rethink = " ".join(_sentence(rng, rng.randrange(8, 18)) for _ in range(rng.randrange(1, 5)))
    pred = answer if rng.random() < 0.6 else rng.choice(["Yes", "No", "3", "7", "two"])
    think_text = "\n".join(think)
    out = f"<think>\n{think_text}\n</think>\n<rethink>\n{rethink}\n</rethink>\n<answer>\n{pred}"
    if rng.random() < 0.5:
        out += "\n</answer>"
    r = rng.random()
    if r < 0.15:  # malformed, of the kinds RL produces
        kind = rng.randrange(5)
        if kind == 0:
            out = out[: rng.randrange(len(out) // 3, len(out))]          # truncated
        elif kind == 1:
            out = out.replace("</think>", "", 1)                           # missing </think>
        elif kind == 2:
            out = out.replace("</rethink>", "", 1)                         # missing </rethink>
        elif kind == 3:
            out = out.replace("<rethink>", "", 1).replace("</rethink>", "", 1)  # no rethink
        else:
            out += f"\n<answer>\n{pred}\n</answer>"                       # repeated answer
    return {"output": out, "question": question, "answer": answer, "dataset": dataset,
            "width": w, "height": h, "bboxs": gt, "image": f"img_{rng.randrange(10**6):06d}.jpg"}


def make_corpus(n: int = 10_000, seed: int = 0) -> list[dict]:
    """``n`` GRIT-style records, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [make_record(rng) for _ in range(n)]


if __name__ == "__main__":  # quick look at the corpus
    recs = make_corpus()
    lens = [len(r["output"]) for r in recs]
    print(f"{len(recs)} records, mean length {sum(lens) / len(lens):.0f} chars")
    print(recs[0]["output"])
