"""`gritkit render`: pictures are checked by reading pixels back, not by file existence.

Layout constants (gritkit.render): the image is drawn at origin
(PAD + IMAGE_MARGIN, PAD + IMAGE_MARGIN) = (40, 40), scaled by
min(MAX_UPSCALE, DISPLAY_SIDE / longer side); for a 200x100 image that is
min(2, 560 / 200) = 2. So image pixel (x, y) is at (40 + 2x, 40 + 2y).
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from gritkit.cli import main
from gritkit.render import (GT_COLOR, IMAGE_MARGIN, PAD, PLACEHOLDER_COLOR, SECTION_COLORS, parse_selection,
                            render_file)

THINK, RETHINK, ANSWER, OUTSIDE = (SECTION_COLORS[k] for k in ("think", "rethink", "answer", None))
WHITE = (255, 255, 255)


def at(x: float, y: float) -> tuple[int, int]:
    """Display position of image pixel (x, y) for the 200x100 test image (scale 2)."""
    return (PAD + IMAGE_MARGIN + round(2 * x), PAD + IMAGE_MARGIN + round(2 * y))


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (200, 100), WHITE).save(images / "white.png")
    Image.new("RGB", (100, 100), WHITE).save(images / "square.png")
    (images / "broken.png").write_bytes(b"not a png at all")
    records = [
        {   # 0: a think box, a rethink box, an answer box, a box outside sections; one GT box
            "question": "Where is it?", "answer": "left", "image": "white.png", "width": 200, "height": 100,
            "bboxs": [[150, 10, 190, 40]], "dataset": "gqa",
            "output": "Before (5, 80, 15, 95) <think>It is at (20, 20, 80, 60).</think> <rethink>Also "
                      "(100, 10, 140, 90).</rethink> <answer>left [120, 60, 130, 70]</answer>",
        },
        {   # 1: the image is missing
            "question": "Q?", "answer": "1", "image": "missing.png", "width": 200, "height": 100,
            "bboxs": [], "dataset": "tallyqa",
            "output": "<think>(20, 20, 80, 60)</think><rethink>one</rethink><answer>1",
        },
        {   # 2: the image is not an image
            "question": "Q?", "answer": "1", "image": "broken.png", "width": 200, "height": 100,
            "bboxs": [], "dataset": "tallyqa", "output": "<think>x</think><rethink>y</rethink><answer>1",
        },
        {   # 3: norm_1000 boxes on a 100x100 image: (100, 200, 500, 600) -> (10, 20, 50, 60) px
            "question": "Q?", "answer": "cat", "image": "square.png", "width": 100, "height": 100,
            "bboxs": [], "dataset": "vsr", "box_format": "norm_1000",
            "output": "<think><ref>cat</ref><box>[[100, 200, 500, 600]]</box></think><rethink>.</rethink>"
                      "<answer>cat</answer>",
        },
    ]
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{broken json\n", encoding="utf-8")
    return path


def test_boxes_are_drawn_in_section_colours_at_their_place(data: Path, tmp_path: Path):
    out = tmp_path / "render"
    recs = render_file(data, images=data.parent / "images", out=out, records=[0], config=None)
    assert [r.index for r in recs] == [0] and recs[0].ok
    img = Image.open(out / "record_0000.png").convert("RGB")
    assert recs[0].origin == (PAD + IMAGE_MARGIN, PAD + IMAGE_MARGIN) and recs[0].scale == 2.0
    # think box (20, 20, 80, 60): left edge at x=20, halfway down; bottom edge halfway across
    assert img.getpixel(at(20, 40)) == THINK
    assert img.getpixel(at(50, 60)) == THINK
    # inside the box the image shows through
    assert img.getpixel(at(50, 40)) == WHITE
    # rethink box (100, 10, 140, 90): its right edge
    assert img.getpixel(at(140, 50)) == RETHINK
    # answer box [120, 60, 130, 70] (lines are 3 px wide: check its left edge)
    assert img.getpixel(at(120, 66)) == ANSWER
    # the box outside every section (5, 80, 15, 95)
    assert img.getpixel(at(5, 88)) == OUTSIDE
    # ground truth (150, 10, 190, 40) is dashed: along its top edge both GT red and white appear
    top = [img.getpixel((x, at(0, 10)[1])) for x in range(at(152, 0)[0], at(188, 0)[0])]
    assert GT_COLOR in top and WHITE in top
    # numbers in reading order: box 1 is the one outside sections, written first
    assert [(b.number, b.section) for b in recs[0].boxes] == [
        (1, None), (2, "think"), (3, "rethink"), (4, "answer")]


def test_box_format_converts_to_the_original_frame(data: Path, tmp_path: Path):
    out = tmp_path / "render"
    recs = render_file(data, images=data.parent / "images", out=out, records=[3], config=None)
    r = recs[0]
    assert r.boxes[0].pixels == (10.0, 20.0, 50.0, 60.0)
    img = Image.open(out / "record_0003.png").convert("RGB")
    # 100x100 image: scale min(2, 560/100) = 2, same origin
    assert img.getpixel(r.to_display(10, 40)) == THINK
    assert img.getpixel(r.to_display(30, 40)) == WHITE


def test_missing_and_unreadable_images_render_on_a_placeholder(data: Path, tmp_path: Path, capsys):
    out = tmp_path / "render"
    code = main(["render", str(data), "--images", str(data.parent / "images"), "--out", str(out),
                 "--no-rewards"])
    err = capsys.readouterr().err
    assert code == 1
    assert "image not found" in err and "missing.png" in err
    assert "image unreadable" in err and "broken.png" in err
    assert re.search(r"out\.jsonl: line 5: not valid JSON", err)
    # every readable record still has its picture
    assert sorted(p.name for p in out.glob("*.png")) == [
        "record_0000.png", "record_0001.png", "record_0002.png", "record_0003.png"]
    img = Image.open(out / "record_0001.png").convert("RGB")
    # the placeholder is grey, and the box is still drawn over it
    assert img.getpixel(at(150, 80)) == PLACEHOLDER_COLOR
    assert img.getpixel(at(20, 40)) == THINK


def test_records_selection_and_html(data: Path, tmp_path: Path, capsys):
    out = tmp_path / "render"
    code = main(["render", str(data), "--images", str(data.parent / "images"), "--out", str(out),
                 "--records", "0,3", "--no-rewards", "--html"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.png")) == ["record_0000.png", "record_0003.png"]
    page = (out / "index.html").read_text(encoding="utf-8")
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 2
    embedded = Image.open(io.BytesIO(base64.b64decode(uris[0]))).convert("RGB")
    assert embedded.getpixel(at(20, 40)) == THINK  # the page holds the pictures themselves
    assert "src=\"http" not in page and "src=\"record_" not in page  # self-contained


def test_selecting_a_record_that_does_not_exist(data: Path, tmp_path: Path, capsys):
    code = main(["render", str(data), "--images", str(data.parent / "images"), "--out", str(tmp_path / "o"),
                 "--records", "0,42", "--no-rewards"])
    assert code == 1
    assert "there is no record 42" in capsys.readouterr().err


def test_rewards_are_listed_with_the_default_preset(data: Path, tmp_path: Path):
    recs = render_file(data, images=data.parent / "images", out=tmp_path / "r", records=[0])
    assert recs[0].ok and recs[0].path.exists()


def test_parse_selection():
    assert parse_selection("0,5,9") == [0, 5, 9]
    assert parse_selection("3-5,1") == [1, 3, 4, 5]
    from gritkit.errors import ConfigError

    for bad in ("a", "5-2", "-1", ","):
        with pytest.raises(ConfigError):
            parse_selection(bad)


def test_sample_data_renders(tmp_path: Path):
    root = Path(__file__).resolve().parents[1] / "examples" / "data"
    recs = render_file(root / "sample_outputs.jsonl", images=root / "images", out=tmp_path, config=None)
    assert len(recs) >= 12 and all(r.ok for r in recs), [r.message for r in recs if not r.ok]


def test_documented_colours_and_readme_picture():
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "evaluation.md").read_text(encoding="utf-8")
    for color in (*SECTION_COLORS.values(), GT_COLOR):
        assert ", ".join(map(str, color)) in doc  # the colour table cannot drift from the code
    picture = root / "docs" / "images" / "render_example.png"
    assert picture.stat().st_size < 300_000
    img = Image.open(picture).convert("RGB")
    assert THINK in {c for _, c in img.getcolors(maxcolors=1 << 20)}
