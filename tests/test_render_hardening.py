"""`gritkit render` on hostile input: memory flat in the number of records (the page too),
labels inside the picture when crowded, a tiny image's legend clear of the text, and every
image mode shown with its real contrast."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import gritkit
from gritkit.models import ImageSize, Sample
from gritkit.render import (BACKGROUND, IMAGE_MARGIN, PAD, display_rgb, iter_render_file, render_file,
                            render_panel)


def _live_images() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Image.Image))


def _records_file(tmp_path: Path, n: int) -> Path:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    Image.new("RGB", (320, 240), (250, 250, 250)).save(images / "a.png")
    path = tmp_path / f"in_{n}.jsonl"
    rec = {"question": "Where?", "answer": "left", "image": "a.png", "width": 320, "height": 240,
           "bboxs": [[10, 10, 100, 100]], "output": "<think>(10, 10, 90, 90)</think><rethink>r</rethink>"
                                                    "<answer>left</answer>"}
    path.write_text("\n".join(json.dumps(rec) for _ in range(n)) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- memory: flat in the number of records

@pytest.mark.parametrize("html_page", [False, True])
def test_pictures_are_let_go_as_records_stream(tmp_path, html_page):
    path = _records_file(tmp_path, 12)
    baseline = _live_images()
    alive = []
    results = render_file(path, images=tmp_path / "images", out=tmp_path / "out", config=None,
                          html_page=html_page, progress=lambda: alive.append(_live_images() - baseline))
    assert len(results) == 12 and all(r.ok and r.path.is_file() for r in results)
    # while rendering, at most the current record's pictures are alive, never one per record
    assert max(alive) <= 3, alive
    assert alive[-1] <= alive[1] + 1
    # the results hold no picture (they are on disk)
    assert all(r.image is None for r in results)
    assert _live_images() - baseline <= 0


def test_html_page_is_written_as_the_records_go(tmp_path):
    path = _records_file(tmp_path, 3)
    page = tmp_path / "out" / "index.html"
    it = iter_render_file(path, images=tmp_path / "images", out=tmp_path / "out", config=None, html_page=True)
    first = next(it)
    assert first.index == 0 and first.image is None
    text = page.read_text(encoding="utf-8")   # already on disk, before the other records are drawn
    assert 'id="record-0"' in text and 'id="record-1"' not in text
    rest = list(it)
    assert [r.index for r in rest] == [1, 2]
    text = page.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>") and len(re.findall(r"data:image/png;base64,", text)) == 3


def test_html_page_lists_bad_and_missing_records(tmp_path):
    path = _records_file(tmp_path, 2)
    with path.open("a") as f:
        f.write("{not json\n")
    render_file(path, images=tmp_path / "images", out=tmp_path / "out", config=None, html_page=True,
                records=[0, 2, 9])
    text = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert [int(i) for i in re.findall(r'id="record-(\d+)"', text)] == [0, 2, 9]
    assert "not valid JSON" in text and "there is no record 9" in text


# ---------------------------------------------------------------- layout

def _panel(text: str, size: tuple[int, int], image=None, **sample):
    result = gritkit.try_parse(text)
    return render_panel(result, Sample(image_size=ImageSize(width=size[0], height=size[1]), **sample),
                        image=image, title="record 0")


def _crowded_text(n: int) -> str:
    boxes = " ".join(f"({5 + (k % 25) * 12}, {5 + (k // 25) * 9}, {15 + (k % 25) * 12}, {12 + (k // 25) * 9})"
                     for k in range(n))
    return f"<think>{boxes}</think><rethink>r</rethink><answer>x</answer>"


def test_labels_stay_inside_the_picture_when_crowded():
    rec = _panel(_crowded_text(500), (320, 200))
    picture = (PAD, PAD, rec.origin[0] + round(320 * rec.scale) + IMAGE_MARGIN,
               rec.origin[1] + round(200 * rec.scale) + IMAGE_MARGIN)
    assert rec.labels, "some boxes are numbered"
    rects = list(rec.labels.values())
    for x, y, w, h in rects:
        assert picture[0] <= x and x + w <= picture[2] and picture[1] <= y and y + h <= picture[3], (x, y, w, h)
    # no label covers another
    for i, (x, y, w, h) in enumerate(rects):
        for (a, b, c, d) in rects[i + 1:]:
            assert not (x < a + c and a < x + w and y < b + d and b < y + h)
    # every box is numbered on the picture or listed as not numbered
    assert sorted([*rec.labels, *rec.unlabelled]) == list(range(1, 501))
    assert rec.unlabelled   # 500 boxes cannot all be numbered there
    # nothing is drawn in the gap between the picture and the text, nor above the picture
    img = rec.image
    gap = {img.getpixel((x, y)) for x in range(picture[2] + 1, rec.text_origin[0] - 1)
           for y in range(0, img.height, 3)}
    assert gap == {BACKGROUND}
    top = {img.getpixel((x, y)) for x in range(0, rec.text_origin[0] - 1) for y in range(PAD - 1)}
    assert top == {BACKGROUND}


def test_crowded_labels_are_listed_in_the_text(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (320, 200), (250, 250, 250)).save(images / "a.png")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"image": "a.png", "width": 320, "height": 200, "output": _crowded_text(500)}) + "\n")
    (rec,) = render_file(path, images=images, out=tmp_path / "out", config=None)
    assert rec.ok and rec.unlabelled and len(rec.labels) + len(rec.unlabelled) == 500


def test_few_boxes_are_all_numbered():
    rec = _panel("<think>(10, 10, 50, 40) (60, 10, 90, 40)</think><rethink>(10, 50, 50, 90)</rethink><answer>x",
                 (100, 100))
    assert sorted(rec.labels) == [1, 2, 3] and rec.unlabelled == []


def test_a_one_pixel_image_keeps_its_legend_clear_of_the_text():
    rec = _panel("<think>(0, 0, 1, 1)</think><rethink>r</rethink><answer>x</answer>", (1, 1),
                 image=Image.new("RGB", (1, 1), (0, 0, 0)), question="What is this tiny thing?")
    img = rec.image
    tx = rec.text_origin[0]
    # the legend is drawn (its dashed ground-truth square is red) ...
    legend_top = PAD + round(1 * rec.scale) + 2 * IMAGE_MARGIN
    red = [x for x in range(tx) for y in range(legend_top, legend_top + 40) if img.getpixel((x, y)) == (214, 39, 40)]
    assert red
    # ... and a blank strip, the whole height of the picture, parts it from the text column
    strip = {img.getpixel((x, y)) for x in range(tx - PAD + 2, tx - 1) for y in range(img.height)}
    assert strip == {BACKGROUND}
    # the text column does start there: the title's first letters are just right of it
    assert any(img.getpixel((x, y)) != BACKGROUND for x in range(tx, tx + 12) for y in range(PAD, PAD + 18))


# ---------------------------------------------------------------- image modes, real contrast

def _halves(mode: str, dark, light) -> Image.Image:
    im = Image.new(mode, (8, 4), dark)
    for x in range(4, 8):
        for y in range(4):
            im.putpixel((x, y), light)
    return im


MODES = [
    # mode, dark value, light value, expected (dark, light) grey levels shown (±3)
    ("1", 0, 1, (0, 255)),
    ("L", 0, 255, (0, 255)),
    ("I;16", 0, 65535, (0, 255)),
    ("I;16", 0, 32768, (0, 128)),          # half of the 16-bit range is mid grey, not white
    ("I;16B", 0, 65535, (0, 255)),
    ("I;16L", 1000, 64000, (4, 249)),
    ("I", 0, 65535, (0, 255)),             # 16-bit values in a 32-bit image
    ("I", 0, 200, (0, 200)),               # 8-bit values in a 32-bit image
    ("I", -1000, 1000, (0, 255)),          # neither: the image's own range
    ("F", 0.0, 1.0, (0, 255)),
    ("F", 0.0, 0.5, (0, 128)),
    ("F", -3.5, 7.25, (0, 255)),
    ("RGB", (0, 0, 0), (255, 255, 255), (0, 255)),
    ("RGBA", (0, 0, 0, 255), (0, 0, 0, 0), (0, 255)),   # transparent shows the white background
    ("LA", (0, 255), (0, 0), (0, 255)),
    ("PA", (0, 255), (0, 0), (0, 255)),
    ("CMYK", (0, 0, 0, 255), (0, 0, 0, 0), (0, 255)),
    ("YCbCr", (0, 128, 128), (255, 128, 128), (0, 255)),
    ("HSV", (0, 0, 0), (0, 0, 255), (0, 255)),
    ("LAB", (0, 128, 128), (255, 128, 128), (0, 255)),
    ("RGBX", (0, 0, 0, 0), (255, 255, 255, 0), (0, 255)),
]


@pytest.mark.parametrize("mode, dark, light, expected", MODES, ids=[f"{m[0]}-{m[2]}" for m in MODES])
def test_every_mode_is_shown_with_its_real_contrast(mode, dark, light, expected):
    shown = display_rgb(_halves(mode, dark, light))
    assert shown.mode == "RGB"
    got = (sum(shown.getpixel((1, 1))) / 3, sum(shown.getpixel((6, 1))) / 3)
    assert got == pytest.approx(expected, abs=3), got


def test_a_16_bit_grayscale_png_keeps_its_contrast_through_render(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    im = Image.new("I;16", (200, 100), 0)
    for x in range(100, 200):
        for y in range(100):
            im.putpixel((x, y), 20000 if x < 150 else 60000)
    im.save(images / "depth.png")
    assert Image.open(images / "depth.png").mode.startswith("I")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"image": "depth.png", "width": 200, "height": 100,
                                "output": "<think>t</think><rethink>r</rethink><answer>x"}) + "\n")
    (rec,) = render_file(path, images=images, out=tmp_path / "out", config=None)
    assert rec.ok
    pic = Image.open(rec.path).convert("RGB")
    ox, oy = rec.origin

    def level(x):
        return pic.getpixel((ox + round(x * rec.scale), oy + 50))[0]

    assert level(50) == 0
    assert level(125) == pytest.approx(20000 / 65535 * 255, abs=2)   # not clipped to white
    assert level(175) == pytest.approx(60000 / 65535 * 255, abs=2)


_coord = st.one_of(st.integers(-300, 2300), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 2000), st.integers(1, 2000), st.lists(st.tuples(_coord, _coord, _coord, _coord), max_size=80))
def test_labels_stay_inside_and_apart_for_any_boxes(width, height, boxes):
    text = "<think>" + " ".join(f"({a}, {b}, {c}, {d})" for a, b, c, d in boxes) + "</think><rethink>r</rethink>"
    rec = _panel(text, (width, height))
    dw, dh = max(1, round(width * rec.scale)), max(1, round(height * rec.scale))
    right, bottom = PAD + dw + 2 * IMAGE_MARGIN, PAD + dh + 2 * IMAGE_MARGIN
    rects = list(rec.labels.values())
    for x, y, w, h in rects:
        assert PAD <= x and x + w <= right and PAD <= y and y + h <= bottom
    for i, (x, y, w, h) in enumerate(rects):
        for (a, b, c, d) in rects[i + 1:]:
            assert not (x < a + c and a < x + w and y < b + d and b < y + h)
    drawn = [b.number for b in rec.boxes if b.pixels is not None]
    assert sorted([*rec.labels, *rec.unlabelled]) == drawn
    assert rec.text_origin[0] >= right + PAD
