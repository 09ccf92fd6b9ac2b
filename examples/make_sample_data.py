"""Make gritkit's shipped sample data, deterministically.

Writes, next to this script:

* ``data/images/*.png``: twelve small synthetic scenes (flat-coloured shapes
  standing for zebras, a cat, a truck, cups, ...). Every object is drawn inside
  its ground-truth box, so the boxes in the records match what you see.
* ``data/sample_outputs.jsonl``: records in GRIT's data schema (``question``,
  ``answer``, ``image`` relative to ``data/images``, ``width``, ``height``,
  ``bboxs`` in original-image pixels, ``dataset``, ``split``) plus ``output``, a
  model output modelled on the real GRIT outputs (GRIT's published example outputs), and
  ``box_format`` where the model writes boxes in a normalised frame. The cases:

  ====  =====================================================================
  rec   what it shows
  ====  =====================================================================
  0     GRIT README example 1: numbered tuples in prose, text says six, 7 boxes
  1     GRIT README example 2: one tuple box, yes/no question
  2     GRIT README example 3: absent object, no box, answer "No"
  3     JSON ``bbox_2d`` objects with labels, inside a ```json fence
  4     truncated: no ``</think>``, no ``</answer>``
  5     no ``<rethink>`` section
  6     boxes outside the image (and one with x1 > x2)
  7     a whole-image box (a reward hack), wrong answer
  8     Qwen2-VL ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, ``norm_1000``
  9     InternVL ``<ref>cup</ref><box>[[...], ...]</box>``, ``norm_1000``
  10    an answer that hedges between options ("left or right")
  11    the same box repeated four times to hit the count (a reward hack)
  12    hard-truncated at the token cap: no answer section at all
  13    an empty answer
  14    an exact duplicate of record 1 (as GRIT's multi-GPU evaluation makes)
  ====  =====================================================================

* ``data/train.jsonl``: eight training rows in the same schema, without
  ``output`` (used by the tiny GRPO demo).

Run it again to regenerate; the output is byte-identical every time (no random
numbers, no timestamps, PNGs written without metadata)::

    python examples/make_sample_data.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
IMAGES = DATA / "images"

SKY = (186, 214, 235)
GRASS = (122, 170, 96)
FLOOR = (214, 196, 170)
WALL = (236, 228, 212)
ROAD = (128, 128, 132)

Box = tuple[int, int, int, int]


# --------------------------------------------------------------------------- drawing
def _zebra(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    d.ellipse(b, fill=(245, 245, 245), outline=(20, 20, 20))
    step = max(4, (x2 - x1) // 6)
    for x in range(x1 + step // 2, x2 - 2, step):
        d.line([(x, y1 + 3), (x, y2 - 3)], fill=(20, 20, 20), width=2)


def _cat(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    ear = (y2 - y1) // 4
    w = x2 - x1
    d.polygon([(x1 + w // 8, y1 + ear), (x1 + w // 4, y1), (x1 + 3 * w // 8, y1 + ear)],
              fill=(230, 140, 40))
    d.polygon([(x2 - 3 * w // 8, y1 + ear), (x2 - w // 4, y1), (x2 - w // 8, y1 + ear)],
              fill=(230, 140, 40))
    d.ellipse((x1, y1 + ear, x2, y2), fill=(230, 140, 40), outline=(120, 60, 10))


def _truck(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    h = y2 - y1
    w = x2 - x1
    wheel = h // 4
    d.rectangle((x1, y1, x1 + int(w * 0.7), y2 - wheel), fill=(40, 80, 170))
    d.rectangle((x1 + int(w * 0.7), y1 + h // 3, x2, y2 - wheel), fill=(60, 110, 200))
    for cx in (x1 + w // 6, x1 + w // 2, x2 - w // 8):
        d.ellipse((cx - wheel, y2 - 2 * wheel, cx + wheel, y2), fill=(30, 30, 30))


def _cup(color: tuple[int, int, int]) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def draw(d: ImageDraw.ImageDraw, b: Box) -> None:
        x1, y1, x2, y2 = b
        w = x2 - x1
        d.rectangle((x1, y1, x1 + int(w * 0.75), y2), fill=color, outline=(40, 40, 40))
        d.arc((x1 + int(w * 0.55), y1 + (y2 - y1) // 4, x2, y1 + 3 * (y2 - y1) // 4),
              -90, 90, fill=color, width=max(2, w // 10))
    return draw


def _blob(color: tuple[int, int, int]) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def draw(d: ImageDraw.ImageDraw, b: Box) -> None:
        d.ellipse(b, fill=color, outline=(40, 40, 40))
    return draw


def _rect(color: tuple[int, int, int]) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def draw(d: ImageDraw.ImageDraw, b: Box) -> None:
        d.rectangle(b, fill=color, outline=(40, 40, 40))
    return draw


def _car(color: tuple[int, int, int]) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def draw(d: ImageDraw.ImageDraw, b: Box) -> None:
        x1, y1, x2, y2 = b
        w, h = x2 - x1, y2 - y1
        r = h // 4
        d.rectangle((x1 + w // 5, y1, x2 - w // 5, y1 + h // 2), fill=color)
        d.rectangle((x1, y1 + h // 3, x2, y2 - r), fill=color, outline=(40, 40, 40))
        for cx in (x1 + w // 4, x2 - w // 4):
            d.ellipse((cx - r, y2 - 2 * r, cx + r, y2), fill=(25, 25, 25))
    return draw


def _person(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    w, h = x2 - x1, y2 - y1
    d.ellipse((x1 + w // 4, y1, x2 - w // 4, y1 + h // 5), fill=(240, 200, 160))
    d.rectangle((x1, y1 + h // 5, x2, y1 + 3 * h // 5), fill=(200, 40, 60))
    d.rectangle((x1 + w // 6, y1 + 3 * h // 5, x2 - w // 6, y2), fill=(40, 40, 90))


def _bird(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    d.ellipse((x1, y1 + (y2 - y1) // 3, x2 - (x2 - x1) // 4, y2), fill=(60, 60, 70))
    d.ellipse((x2 - (x2 - x1) // 2, y1, x2, y1 + (y2 - y1) // 2), fill=(60, 60, 70))


def _sheep(d: ImageDraw.ImageDraw, b: Box) -> None:
    x1, y1, x2, y2 = b
    d.ellipse(b, fill=(250, 250, 240), outline=(90, 90, 90))
    d.ellipse((x2 - (x2 - x1) // 3, y1, x2, y1 + (y2 - y1) // 2), fill=(50, 50, 50))


def _scene(name: str, size: tuple[int, int], top: tuple[int, int, int],
           bottom: tuple[int, int, int], horizon: float,
           objects: list[tuple[str, Callable, Box]]) -> dict:
    """Draw one scene and return its description (objects by label and box)."""
    w, h = size
    img = Image.new("RGB", size, top)
    d = ImageDraw.Draw(img)
    d.rectangle((0, int(h * horizon), w, h), fill=bottom)
    for _, draw, box in objects:
        draw(d, box)
    # Quantise to a small palette: flat scenes compress to a few KB.
    img = img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(IMAGES / name, format="PNG", optimize=True)
    return {"image": name, "width": w, "height": h,
            "objects": [(label, list(box)) for label, _, box in objects]}


ZEBRAS: list[Box] = [(200, 168, 248, 202), (262, 175, 312, 212), (330, 160, 372, 196),
                     (388, 180, 432, 214), (120, 190, 176, 232), (463, 171, 503, 196),
                     (540, 200, 600, 240)]


def make_images() -> dict[str, dict]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    s = {}
    s["zebras"] = _scene("zebras.png", (640, 480), SKY, GRASS, 0.35,
                         [("zebra", _zebra, b) for b in ZEBRAS])
    s["truck_cat"] = _scene("truck_cat.png", (500, 375), SKY, ROAD, 0.55, [
        ("truck", _truck, (0, 212, 490, 368)), ("cat", _cat, (180, 122, 300, 214))])
    s["kitchen"] = _scene("kitchen.png", (424, 351), WALL, FLOOR, 0.6, [
        ("table", _rect((150, 100, 60)), (60, 200, 380, 240)),
        ("cup", _cup((200, 30, 30)), (110, 160, 150, 200)),
        ("plate", _blob((250, 250, 250)), (220, 180, 320, 200))])
    s["cups"] = _scene("cups.png", (480, 360), WALL, FLOOR, 0.65, [
        ("table", _rect((150, 100, 60)), (40, 240, 440, 280)),
        ("cup", _cup((210, 30, 40)), (80, 180, 140, 240)),
        ("cup", _cup((40, 90, 200)), (210, 185, 265, 240)),
        ("cup", _cup((40, 160, 60)), (330, 190, 380, 240))])
    s["dog_frisbee"] = _scene("dog_frisbee.png", (640, 427), SKY, GRASS, 0.5, [
        ("dog", _blob((150, 100, 50)), (120, 180, 330, 400)),
        ("frisbee", _blob((250, 220, 30)), (200, 40, 270, 80))])
    s["birds"] = _scene("birds.png", (320, 240), SKY, GRASS, 0.8, [
        ("bird", _bird, (60, 50, 110, 85)), ("bird", _bird, (190, 70, 236, 102))])
    s["cars"] = _scene("cars.png", (320, 240), SKY, ROAD, 0.55, [
        ("car", _car((200, 30, 30)), (20, 150, 110, 205)),
        ("car", _car((30, 120, 200)), (130, 160, 215, 212)),
        ("car", _car((230, 200, 40)), (230, 165, 310, 218))])
    s["street"] = _scene("street.png", (600, 400), SKY, ROAD, 0.6, [
        ("bus", _rect((230, 180, 30)), (60, 150, 330, 320)),
        ("person", _person, (430, 200, 480, 330))])
    s["living_room"] = _scene("living_room.png", (640, 480), WALL, FLOOR, 0.6, [
        ("sofa", _rect((90, 110, 150)), (260, 220, 600, 360)),
        ("cat", _cat, (60, 300, 180, 400))])
    s["table_cups"] = _scene("table_cups.png", (448, 448), WALL, FLOOR, 0.6, [
        ("table", _rect((150, 100, 60)), (30, 280, 420, 330)),
        ("cup", _cup((210, 30, 40)), (60, 220, 110, 280)),
        ("cup", _cup((240, 240, 240)), (190, 225, 240, 280)),
        ("cup", _cup((40, 90, 200)), (320, 215, 372, 280))])
    s["fruit"] = _scene("fruit.png", (500, 333), WALL, FLOOR, 0.55, [
        ("apple", _blob((200, 20, 30)), (90, 170, 160, 235)),
        ("banana", _blob((245, 215, 50)), (280, 185, 420, 225))])
    s["sheep"] = _scene("sheep.png", (640, 480), SKY, GRASS, 0.4, [
        ("sheep", _sheep, (80, 250, 190, 330)), ("sheep", _sheep, (230, 230, 330, 300)),
        ("sheep", _sheep, (380, 260, 490, 345)), ("sheep", _sheep, (500, 220, 600, 290))])
    return s


# --------------------------------------------------------------------------- records
def _boxes(scene: dict, label: str | None = None) -> list[list[float]]:
    return [[float(v) for v in b] for lab, b in scene["objects"] if label is None or lab == label]


def _norm1000(scene: dict, box: list[int]) -> list[int]:
    w, h = scene["width"], scene["height"]
    x1, y1, x2, y2 = box
    return [round(x1 * 1000 / w), round(y1 * 1000 / h), round(x2 * 1000 / w), round(y2 * 1000 / h)]


def _row(scene: dict, question: str, answer, dataset: str, bboxs: list, **extra) -> dict:
    row = {"question": question, "answer": answer, "image": scene["image"],
           "width": scene["width"], "height": scene["height"], "bboxs": bboxs,
           "dataset": dataset, "split": extra.pop("split", "val")}
    row.update(extra)
    return row


def make_records(s: dict[str, dict]) -> list[dict]:
    z = s["zebras"]
    # Slightly off the drawn boxes, as a real model's would be.
    zebra_pred = [(200, 168, 248, 202), (260, 174, 314, 213), (331, 158, 370, 197),
                  (389, 182, 430, 214), (118, 188, 178, 233), (463, 171, 483, 186),
                  (538, 198, 601, 242)]
    zebra_list = "\n".join(f"{i}. ({a}, {b}, {c}, {d})" for i, (a, b, c, d) in enumerate(zebra_pred, 1))
    recs = []
    recs.append(_row(z, "How many zebras are pictured here?", 7, "tallyqa", _boxes(z, "zebra"), output=(
        "<think>\nThere are six zebras in the picture. The coordinates for the zebras are as "
        f"follows:\n{zebra_list}\n</think>\n<rethink>\nThe coordinates provided for the zebras are "
        "accurate and cover all the zebras visible in the image. Counting the boxes gives seven "
        "zebras.\n</rethink>\n<answer>\n7")))

    tc = s["truck_cat"]
    truck_out = (
        "<think>\nThe bounding box coordinates for the truck are approximately (0, 209, 488, 364). "
        "The cat is positioned on top of this truck, at (182, 120, 298, 216).\n</think>\n<rethink>\n"
        "The cat is on top of the truck, so the truck is beneath the cat.\n</rethink>\n<answer>\nYes\n</answer>")
    recs.append(_row(tc, "Is the truck beneath the cat?", "Yes", "vsr", _boxes(tc), output=truck_out))

    k = s["kitchen"]
    recs.append(_row(k, "Is there a knife in the image?", "No", "vsr", [], output=(
        "<think>\nI look at the table, the red cup and the plate. There is no knife on the table "
        "or anywhere else. The bounding box coordinates for the knife would be outside the image "
        "area.\n</think>\n<rethink>\nNo knife is visible in the image.\n</rethink>\n<answer>\nNo\n</answer>")))

    c = s["cups"]
    recs.append(_row(c, "What color is the cup on the left?", "red", "gqa", _boxes(c, "cup")[:1], output=(
        "<think>\nThe cups on the table are:\n```json\n[\n"
        '  {"bbox_2d": [78, 178, 142, 241], "label": "cup"},\n'
        '  {"bbox_2d": [209, 184, 266, 240], "label": "cup"},\n'
        '  {"bbox_2d": [329, 189, 381, 241], "label": "cup"}\n]\n```\n'
        "The leftmost cup is the first one.\n</think>\n<rethink>\nThe leftmost cup, at [78, 178, "
        "142, 241], is red.\n</rethink>\n<answer>\nred\n</answer>")))

    dg = s["dog_frisbee"]
    recs.append(_row(dg, "Is the dog under the frisbee?", "Yes", "vsr", _boxes(dg), output=(
        "<think> The dog at [118, 176, 334, 398] is running on the grass and the frisbee "
        '{"bbox_2d": [198, 38, 272, 84], "label": "frisbee"} is flying above it '
        "<rethink> The frisbee is higher in the image than the dog. </rethink> <answer> yes")))

    b = s["birds"]
    recs.append(_row(b, "How many birds are there?", 2, "tallyqa", _boxes(b), output=(
        '<think> {"bbox_2d": [58, 48, 112, 87], "label": "bird"}, {"bbox_2d": [189, 69, 238, 104], '
        '"label": "bird"} </think> <answer> 2 </answer>')))

    cr = s["cars"]
    recs.append(_row(cr, "How many cars are in the picture?", 3, "tallyqa", _boxes(cr), output=(
        "<think>\nThe cars are at (20, 148, 112, 206), (140, 160, 360, 230), (250, 170, 330, 260) "
        "and (-12, 150, 40, 210). One more car is at (300, 160, 230, 218).\n</think>\n<rethink>\n"
        "I found four cars in total.\n</rethink>\n<answer>\n4\n</answer>")))

    st = s["street"]
    recs.append(_row(st, "Is the person to the left of the bus?", "No", "vsr", _boxes(st), output=(
        "<think>\nThe scene is at (0, 0, 600, 400). The person and the bus are both in it.\n"
        "</think>\n<rethink>\nThe person is next to the bus.\n</rethink>\n<answer>\nYes\n</answer>")))

    lr = s["living_room"]
    cat_n = _norm1000(lr, [58, 298, 183, 402])
    sofa_n = _norm1000(lr, [262, 218, 598, 362])
    recs.append(_row(lr, "Which side of the picture is the cat on?", "left", "gqa", _boxes(lr, "cat"),
                     box_format="norm_1000", output=(
        "<think>\nThe <|object_ref_start|>cat<|object_ref_end|><|box_start|>"
        f"({cat_n[0]},{cat_n[1]}),({cat_n[2]},{cat_n[3]})<|box_end|> sits on the floor and the "
        f"<|object_ref_start|>sofa<|object_ref_end|><|box_start|>({sofa_n[0]},{sofa_n[1]}),"
        f"({sofa_n[2]},{sofa_n[3]})<|box_end|> is on the right.\n</think>\n<rethink>\nThe cat's box "
        "starts near the left edge of the image.\n</rethink>\n<answer>\nleft\n</answer>")))

    tcu = s["table_cups"]
    cups_n = [_norm1000(tcu, bx) for bx in ([58, 218, 112, 281], [188, 224, 242, 281], [318, 214, 374, 281])]
    recs.append(_row(tcu, "How many cups are on the table?", 3, "tallyqa", _boxes(tcu, "cup"),
                     box_format="norm_1000", output=(
        "<think>\nThe cups on the table are <ref>cup</ref><box>["
        + ", ".join(f"[{a}, {b_}, {c_}, {d}]" for a, b_, c_, d in cups_n)
        + "]</box>.\n</think>\n<rethink>\nThere are three boxes, one for each cup.\n</rethink>\n"
        "<answer>\n3\n</answer>")))

    f = s["fruit"]
    recs.append(_row(f, "Is the apple to the left or to the right of the banana?", "left", "gqa",
                     _boxes(f), output=(
        "<think>\nThe apple is at (92, 168, 161, 236) and the banana at (281, 183, 421, 226).\n"
        "</think>\n<rethink>\nThe apple could be on either side depending on the viewpoint.\n"
        "</rethink>\n<answer>\nleft or right\n</answer>")))

    sh = s["sheep"]
    recs.append(_row(sh, "How many sheep are there?", 4, "tallyqa", _boxes(sh), output=(
        "<think>\nThe sheep are at (230, 230, 330, 300), (230, 230, 330, 300), (230, 230, 330, 300) "
        "and (230, 230, 330, 300).\n</think>\n<rethink>\nFour boxes, so four sheep.\n</rethink>\n"
        "<answer>\n4\n</answer>")))

    recs.append(_row(tc, "What is on top of the truck?", "cat", "vsr", _boxes(tc, "cat"), output=(
        "<think>\nThe truck spans (0, 212, 490, 368). On its roof there is an animal. Its box is "
        "(180, 122, 300, 214). Looking more closely at the animal, the ears are pointed and the "
        "fur is orange, which suggests that the animal is a cat. To make sure, I compare it with "
        "the truck: the truck is blue and the animal is orange, and the animal is at")))

    recs.append(_row(c, "How many cups are there?", 3, "tallyqa", _boxes(c, "cup"), output=(
        "<think>\nThe cups are at (80, 180, 140, 240), (210, 185, 265, 240) and (330, 190, 380, 240)."
        "\n</think>\n<rethink>\nThree cups.\n</rethink>\n<answer>\n\n</answer>")))

    recs.append(_row(tc, "Is the truck beneath the cat?", "Yes", "vsr", _boxes(tc), output=truck_out))
    return recs


def make_train(s: dict[str, dict]) -> list[dict]:
    rows = [
        _row(s["zebras"], "How many zebras are pictured here?", 7, "tallyqa", _boxes(s["zebras"])),
        _row(s["truck_cat"], "Is the truck beneath the cat?", "Yes", "vsr", _boxes(s["truck_cat"])),
        _row(s["kitchen"], "Is the cup on the table?", "Yes", "vsr", _boxes(s["kitchen"])[:2]),
        _row(s["birds"], "How many birds are there?", 2, "tallyqa", _boxes(s["birds"])),
        _row(s["dog_frisbee"], "What is above the dog?", "frisbee", "vsr", _boxes(s["dog_frisbee"])),
        _row(s["cars"], "How many cars are in the picture?", 3, "tallyqa", _boxes(s["cars"])),
        _row(s["street"], "Is the bus left of the person?", "Yes", "vsr", _boxes(s["street"])),
        _row(s["sheep"], "How many sheep are there?", 4, "tallyqa", _boxes(s["sheep"])),
    ]
    for r in rows:
        r["split"] = "train"
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    scenes = make_images()
    _write_jsonl(DATA / "sample_outputs.jsonl", make_records(scenes))
    _write_jsonl(DATA / "train.jsonl", make_train(scenes))
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"wrote {len(scenes)} images and 2 JSON Lines files to {DATA} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
