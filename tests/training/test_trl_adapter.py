"""The TRL adapter called directly with the exact shapes TRL 1.16 uses (no trainer, no torch)."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import pytest

from _training_data import ADAPTER_CONFIG as CONFIG
from _training_data import GOOD, GT_BOXES

from gritkit.adapters.trl import PARSE_ERROR_COLUMN, PARSE_ERROR_METRIC, GritTotalReward, to_trl
from gritkit.errors import ConfigError, DataError

VSR = "<think>the truck (0, 30, 78, 58)</think><rethink>below</rethink><answer>Yes"
GARBAGE = ["", "\udcff\udc80 lone surrogates", "\ufffd\ufffd<thi", "<think><think></answer>(1, 2, 3",
           "<answer>" * 500, "(" + "9" * 400 + ", 1, 2, 3)", "\x00\x01<rethink>", "nan inf -1e309 (1e999, 0, 1, 1)"]


class Log:
    """Stand-ins for TRL's ``log_metric`` / ``log_extra``."""

    def __init__(self):
        self.metrics, self.extra = [], []

    def metric(self, name, value):
        self.metrics.append((name, value))

    def column(self, name, values):
        self.extra.append((name, values))


def conversational(texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def trl_kwargs(texts, *, conv=True, log=None, **columns):
    """What GRPOTrainer._calculate_rewards passes: prompts, completions, ids, state, hooks, columns."""
    n = len(texts)
    log = log or Log()
    base = dict(
        prompts=[[{"role": "user", "content": [{"type": "image", "image": None},
                                               {"type": "text", "text": "\nQuestion: How many cars?"}]}]] * n,
        completions=conversational(texts) if conv else list(texts),
        completion_ids=[[5, 6, 7]] * n, trainer_state=None, log_extra=log.column, log_metric=log.metric)
    defaults = dict(answer=["2"] * n, bboxs=[GT_BOXES] * n,
                    width=[100] * n, height=[50] * n, dataset=["tallyqa"] * n)
    defaults.update(columns)
    base.update({k: v for k, v in defaults.items() if v is not None})
    return base


@pytest.fixture(scope="module")
def funcs():
    return to_trl(CONFIG, model_family="llava")


def test_one_function_per_component(funcs):
    fns, weights = funcs
    assert [f.__name__ for f in fns] == ["format", "count", "answer", "iou"]
    assert weights == [1.0, 1.0, 1.0, 0.5]
    values = [f(**trl_kwargs([GOOD])) for f in fns]
    assert values == [[1.5], [0.5], [1.0], [1.0]]


def test_combined_is_the_weighted_sum(funcs):
    (total,), weights = to_trl(CONFIG, combine=True, model_family="llava", log_components=True)
    assert isinstance(total, GritTotalReward) and total.__name__ == "gritkit" and weights == [1.0]
    log = Log()
    texts = [GOOD, "no tags at all"]
    got = total(**trl_kwargs(texts, log=log))
    fns, w = funcs
    parts = [f(**trl_kwargs(texts)) for f in fns]
    expected = [sum(wi * p[i] for wi, p in zip(w, parts) if p[i] is not None) for i in range(2)]
    assert got == pytest.approx(expected)
    names = {n for n, _ in log.metrics}
    assert {"grit/format", "grit/count", "grit/answer", "grit/iou", PARSE_ERROR_METRIC} <= names
    assert {n for n, _ in log.extra} == {"grit_format", "grit_count", "grit_answer", "grit_iou"}


def test_standard_and_conversational_agree(funcs):
    fns, _ = funcs
    texts = [GOOD, VSR, "plain text"]
    for f in fns:
        a = f(**trl_kwargs(texts, conv=True))
        b = f(**trl_kwargs(texts, conv=False))
        blocks = trl_kwargs(texts)
        blocks["completions"] = [[{"role": "assistant", "content": [{"type": "text", "text": t}]}] for t in texts]
        assert a == b == f(**blocks)


def test_garbage_never_raises_and_never_nan(funcs):
    fns, _ = funcs
    for conv in (True, False):
        kw = trl_kwargs(GARBAGE, conv=conv)
        for f in fns:
            values = f(**kw)
            assert len(values) == len(GARBAGE)
            assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values), (f, values)


def test_odd_completion_shapes_do_not_raise(funcs):
    fns, _ = funcs
    kw = trl_kwargs(["a", "b", "c", "d", "e"])
    kw["completions"] = [None, 17, [{"role": "tool", "content": "x"}, {"role": "assistant", "content": GOOD}],
                         [{"role": "assistant"}], b"<answer>2"]
    for f in fns:
        assert len(f(**kw)) == 5


def test_none_means_not_applicable(funcs):
    fns, _ = funcs
    count = fns[1]
    kw = trl_kwargs([VSR, GOOD], answer=["Yes", "2"], dataset=["vsr", "tallyqa"])
    values = count(**kw)
    assert values[0] is None and values[1] == 0.5


def test_parse_error_rate_logged_once_per_batch(funcs):
    fns, _ = funcs
    log = Log()
    kw = trl_kwargs([GOOD, "garbage", "<think>x"], log=log)
    for f in fns:  # TRL calls each function with the same kwargs (the same completions list)
        f(**kw)
    assert log.metrics == [(PARSE_ERROR_METRIC, pytest.approx(2 / 3))]
    assert log.extra == []


def test_parse_error_column():
    fns, _ = to_trl(CONFIG, model_family="llava", parse_error_column=True, log_parse_errors=False)
    log = Log()
    fns[0](**trl_kwargs([GOOD, "<think>x"], log=log))
    assert log.metrics == []
    [(name, values)] = log.extra
    assert name == PARSE_ERROR_COLUMN and values[0] == "" and values[1]


def test_missing_column_is_a_clear_error():
    fns, _ = to_trl(CONFIG, model_family="llava")
    kw = trl_kwargs([GOOD], answer=None)
    kw["solution"] = ["2"]
    with pytest.raises(DataError) as info:
        fns[0](**kw)
    text = str(info.value)
    assert "'answer'" in text and "'gt_answer'" in text and "solution" in text and "columns=" in text
    # ... and mapping the column fixes it
    fixed, _ = to_trl(CONFIG, model_family="llava", columns={"answer": "solution"})
    assert fixed[2](**kw) == [1.0]


def test_column_length_mismatch_and_bad_values():
    fns, _ = to_trl(CONFIG, model_family="llava")
    kw = trl_kwargs([GOOD, GOOD])
    kw["answer"] = ["2"]
    with pytest.raises(DataError, match="'answer'.*length 1.*2 completions"):
        fns[0](**kw)
    kw = trl_kwargs([GOOD], bboxs=[[1, 2, 3, 4]])
    with pytest.raises(DataError, match="bboxs"):
        fns[0](**kw)
    with pytest.raises(ConfigError, match="completions"):
        fns[0](prompts=["x"])


def test_no_check_when_nothing_is_required():
    fns, _ = to_trl({"rewards": [{"name": "format", "options": {"mode": "paper"}}]})
    assert fns[0](prompts=["q"], completions=[GOOD]) == [1.5]  # no dataset column at all


@pytest.mark.parametrize("family, expected", [
    ("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl"), ("qwen2_vl", "norm_1000"), ("Qwen/Qwen3-VL-4B", "norm_1000"),
    ("OpenGVLab/InternVL3-2B", "norm_1000"), ("llava-hf/llava-1.5-7b-hf", "xyxy"),
    ("HuggingFaceTB/SmolVLM-256M-Instruct", "xyxy"), (None, None)])
def test_model_family_picks_the_coordinate_frame(family, expected):
    fns, _ = to_trl(CONFIG, model_family=family, min_pixels=3136, max_pixels=200704)
    batch = fns[0].batch
    _, samples = batch.prepare(trl_kwargs([GOOD]))
    assert samples[0].box_format == expected


def test_box_format_override_and_row_column():
    fns, _ = to_trl(CONFIG, model_family="qwen2_vl")
    _, samples = fns[0].batch.prepare(trl_kwargs([GOOD, GOOD], box_format=["xywh", None]))
    assert [s.box_format for s in samples] == ["xywh", "norm_1000"]
    fns, _ = to_trl(CONFIG, model_family="qwen2_vl", box_format="xyxy")
    _, samples = fns[0].batch.prepare(trl_kwargs([GOOD], box_format=["xywh"]))
    assert samples[0].box_format == "xyxy"


def test_qwen2_5_vl_frame_from_the_processor():
    class ImageProcessor:
        size = {"shortest_edge": 3136, "longest_edge": 200704}

    class Qwen2_5_VLProcessor:
        image_processor = ImageProcessor()

    fns, _ = to_trl(CONFIG, processor=Qwen2_5_VLProcessor())
    _, [sample] = fns[0].batch.prepare(trl_kwargs([GOOD], width=[640], height=[480]))
    assert (sample.box_format, sample.min_pixels, sample.max_pixels) == ("qwen2_5_vl", 3136, 200704)
    # 640x480 is seen as 504x364: a box written in that frame maps back to the original pixels.
    iou = fns[3]
    text = "<think>(0, 0, 252, 182)</think><rethink>.</rethink><answer>1"
    assert iou(**trl_kwargs([text], width=[640], height=[480], bboxs=[[[0, 0, 320, 240]]])) == [1.0]
    with pytest.warns(UserWarning, match="min_pixels/max_pixels"):
        to_trl(CONFIG, model_family="qwen2_5_vl")


def test_image_size_from_the_image_column(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    fns, _ = to_trl(CONFIG, model_family="llava", image_root=str(tmp_path))
    pil = Image.new("RGB", (64, 48))
    for image, size in ((pil, (64, 48)), ("a.png", (40, 30)), ({"width": 7, "height": 9}, (7, 9)),
                        ({"path": str(tmp_path / "a.png"), "bytes": None}, (40, 30)), ("missing.png", None)):
        kw = trl_kwargs([GOOD], width=None, height=None, image=[image])
        _, [sample] = fns[0].batch.prepare(kw)
        got = None if sample.image_size is None else (sample.image_size.width, sample.image_size.height)
        assert got == size, image
    kw = trl_kwargs([GOOD], width=None, height=None, images=[[pil]])
    _, [sample] = fns[0].batch.prepare(kw)
    assert (sample.image_size.width, sample.image_size.height) == (64, 48)


def test_question_and_ids_reach_the_sample(funcs):
    fns, _ = funcs
    _, [sample] = fns[0].batch.prepare(trl_kwargs([GOOD]))
    assert sample.question == "\nQuestion: How many cars?" and sample.completion_ids == (5, 6, 7)
    _, [sample] = fns[0].batch.prepare(trl_kwargs([GOOD], question=["How many cars?"]))
    assert sample.question == "How many cars?"


def test_batch_is_prepared_once(funcs, monkeypatch):
    from gritkit.records import RecordReader

    fns, _ = to_trl(CONFIG, model_family="llava")
    calls = []
    real = RecordReader.sample
    monkeypatch.setattr(RecordReader, "sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    kw = trl_kwargs([GOOD, VSR])
    for f in fns:
        f(**kw)
    assert len(calls) == 2  # one sample per completion, shared by the four functions
    kw2 = trl_kwargs([GOOD, VSR])  # a new batch (a new completions list) is prepared again
    fns[0](**kw2)
    assert len(calls) == 4


def test_pickle_round_trip(funcs):
    fns, _ = funcs
    (total,), _ = to_trl(CONFIG, combine=True)
    kw = trl_kwargs([GOOD, VSR, "x"])
    for f in list(fns) + [total]:
        copy = pickle.loads(pickle.dumps(f))
        assert copy.__name__ == f.__name__
        assert copy(**kw) == f(**trl_kwargs([GOOD, VSR, "x"]))


def test_async_reward_becomes_an_async_trl_function():
    import asyncio
    import inspect

    from gritkit.compose import Composer
    from gritkit.plugins import isolated_plugin_manager

    async def slow_len(result, sample):
        await asyncio.sleep(0)
        return float(len(result.text))

    with isolated_plugin_manager(builtins=False, plugins=[slow_len]) as pm:
        composer = Composer({"rewards": [{"name": "slow_len"}]}, plugin_manager=pm)
        (fn,), _ = to_trl(composer)
        assert inspect.iscoroutinefunction(fn.__call__)
        assert asyncio.run(fn(prompts=["q", "q"], completions=["ab", "abc"])) == [2.0, 3.0]


def test_duplicate_names_and_unknown_rewards():
    with pytest.raises(ConfigError, match="iuo"):
        to_trl({"rewards": [{"name": "iuo"}]})
    with pytest.raises(ConfigError):
        to_trl("no-such-preset")


def test_importing_the_adapter_imports_neither_trl_nor_torch():
    code = ("import sys, gritkit.adapters.trl, gritkit.adapters.verl, gritkit.adapters.easyr1, gritkit.train, "
            "gritkit.tiny, gritkit.commands.train; "
            "print(sorted(m for m in ('trl', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["gritkit.adapters.trl", "gritkit.adapters.verl", "gritkit.adapters.easyr1",
                                    "gritkit.adapters._common", "gritkit.train", "gritkit.tiny"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
