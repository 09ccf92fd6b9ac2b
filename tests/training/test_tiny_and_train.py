"""gritkit.tiny (offline tiny VLMs, the processor loader), gritkit.train's helpers, and `gritkit train`."""

from __future__ import annotations

import json

import pytest

from _training_data import PROBE_PLUGIN, write_grit_data

from gritkit.errors import ConfigError, DataError

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "internvl", "llava", "gemma3")
EXPECTED_PROCESSOR = {"qwen2_5_vl": "ImageOnlyQwen2_5_VLProcessor", "qwen2_vl": "ImageOnlyQwen2VLProcessor",
                      "qwen3_vl": "ImageOnlyQwen3VLProcessor", "internvl": "ImageOnlyInternVLProcessor",
                      "llava": "LlavaProcessor", "gemma3": "Gemma3Processor"}


def test_families_are_the_tiny_builders():
    import gritkit.tiny as tiny

    assert FAMILIES == tiny.FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_model_reloads_with_its_processor(family, tiny_model):
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from transformers.processing_utils import ProcessorMixin

    from gritkit.tiny import GRIT_TAGS, is_tiny_random, load_processor

    folder = tiny_model(family)
    assert is_tiny_random(folder)
    processor = load_processor(folder)
    assert isinstance(processor, ProcessorMixin) and type(processor).__name__ == EXPECTED_PROCESSOR[family]
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert model.config.model_type == family
    assert sum(p.numel() for p in model.parameters()) < 500_000

    # GRIT's tags are ordinary tokens: they survive decoding with skip_special_tokens=True (what TRL does).
    tok = processor.tokenizer
    text = "<think> a cat (1, 2, 3, 4) </think> <rethink> ok </rethink> <answer> 1 </answer>"
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert all(t not in tok.all_special_tokens for t in GRIT_TAGS)

    # The chat template puts the image placeholder before the text, and the processor expands it.
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    batch = processor(images=[Image.new("RGB", (64, 48))], text=[prompt], return_tensors="pt")
    assert "pixel_values" in batch and batch["input_ids"].shape[1] > 4


def test_tiny_build_is_deterministic(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    from gritkit.tiny import make_tiny_vlm

    again = make_tiny_vlm("qwen2_vl", tmp_path / "again", seed=0)
    a = load_file(tiny_model("qwen2_vl") / "model.safetensors")
    b = load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tiny_model("qwen2_vl") / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_tiny_unknown_family(tmp_path):
    from gritkit.tiny import make_tiny_vlm

    with pytest.raises(ConfigError, match="Did you mean 'qwen2_vl'"):
        make_tiny_vlm("qwen2vl_", tmp_path)


def test_load_processor_refuses_a_bare_tokenizer(tmp_path):
    from gritkit.tiny import build_tokenizer, load_processor

    build_tokenizer(("<pad>", "<eos>"), eos="<eos>", pad="<pad>").save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="not a multimodal processor"):
        load_processor(tmp_path)


def test_shim_classes_pickle_by_reference():
    import pickle

    import gritkit.tiny as tiny

    cls = tiny.ImageOnlyQwen2_5_VLProcessor
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_grit_prompt_is_grits_exact_string():
    from gritkit.train import GRIT_PROMPT_SUFFIX, grit_prompt

    assert GRIT_PROMPT_SUFFIX == (
        " First, think between <think> and </think> while output necessary coordinates needed to answer the "
        "question in JSON with key 'bbox_2d'. Then, based on the thinking contents and coordinates, rethink "
        "between <rethink> </rethink> and then answer the question after <answer>.\n")
    [message] = grit_prompt("Is the truck beneath the cat?")
    assert message["role"] == "user" and message["content"][0] == {"type": "image"}
    assert message["content"][1]["text"] == "\nQuestion: Is the truck beneath the cat?" + GRIT_PROMPT_SUFFIX


def test_dataset_from_grit_records(tmp_path):
    from gritkit.train import build_dataset, load_grit_records

    data, images = write_grit_data(tmp_path, n=4)
    with data.open("a") as f:
        f.write("\n")  # a trailing blank line is fine
    records = load_grit_records(data)
    ds = build_dataset(records, images)
    assert len(ds) == 4
    row = ds[0]
    assert row["answer"] == "2" and ds[1]["answer"] == "Yes"  # ints and strings both become text
    assert row["image"].size == (96, 64) and (row["width"], row["height"]) == (96, 64)
    assert row["bboxs"][0] == [8.0, 10.0, 30.0, 40.0] and row["split"] == "train"
    assert row["prompt"][0]["content"][1]["text"].startswith("\nQuestion: How many zebras")
    assert len(load_grit_records(data, limit=2)) == 2


def test_bad_data_is_a_clear_error(tmp_path):
    from gritkit.train import build_dataset, load_grit_records

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "image": "a.png"}\n{"question": \n')
    with pytest.raises(DataError, match="line 2"):
        load_grit_records(bad)
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(DataError, match="line 1.*'image'"):
        load_grit_records(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_grit_records(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="(?s)missing.png.*--images"):
        build_dataset([{"question": "q", "image": "missing.png"}], tmp_path)


def test_reward_table():
    from gritkit.train import format_reward_table, reward_means

    history = [{"step": 1, "rewards/format/mean": 0.5, "rewards/count/mean": None, "reward": 0.5,
                "grit/parse_error_rate": 0.25}, {"step": 2, "rewards/format/mean": 1.0, "reward": 1.0}]
    table = format_reward_table(history, ["format", "count"], [1.0, 0.5])
    assert "format (x1)" in table and "count (x0.5)" in table and "n/a" in table and "25%" in table
    means = reward_means(history)
    assert means["format"] == [0.5, 1.0]


def test_train_argument_errors(tmp_path):
    from gritkit.train import train

    data, images = write_grit_data(tmp_path, n=2)
    with pytest.raises(ConfigError, match="either a preset or a config"):
        train("m", data, images, preset="grit", config="x.toml")
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        train("m", data, images, per_device_train_batch_size=3, num_generations=4)
    with pytest.raises(ConfigError, match="No model"):
        train(None, data, images)


def test_cli_tiny_demo(tmp_path, grit_data, monkeypatch, capsys):
    """`gritkit -p PLUGIN train --tiny llava ...`: the demo path, with a config file and a local plugin."""
    from gritkit.cli import main
    from gritkit.plugins import reset_plugin_manager

    data, images = grit_data
    cfg = tmp_path / "rewards.json"
    cfg.write_text(json.dumps({"rewards": [{"name": "format"}, {"name": "completion_chars", "weight": 0.1}]}))
    monkeypatch.setenv("GRITKIT_PLUGINS", "")
    try:
        code = main(["-p", str(PROBE_PLUGIN), "train", "--tiny", "llava", "--data", str(data), "--images",
                     str(images), "--config", str(cfg), "--max-steps", "2", "--num-generations", "2",
                     "--max-completion-length", "8", "--output-dir", str(tmp_path / "out")])
    finally:
        reset_plugin_manager()
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOMLY INITIALISED llava" in out and "only proves the wiring" in out
    assert "format (x1)" in out and "completion_chars (x0.1)" in out
    assert (tmp_path / "out" / "tiny-llava-random" / "config.json").is_file()


def test_cli_needs_one_model_source(capsys):
    from gritkit.cli import main

    assert main(["train", "--data", "x.jsonl"]) == 2
    assert "exactly one of --model" in capsys.readouterr().err


# ---------------------------------------------------------------- arguments and files come first

@pytest.mark.parametrize("kwargs, message", [
    ({"num_generations": 0}, "(?s)num_generations must be at least 2 .got 0.*--num-generations"),
    ({"num_generations": 1}, "num_generations must be at least 2 .got 1.*GRPO compares"),
    ({"per_device_train_batch_size": 0}, "(?s)per_device_train_batch_size must be at least 1 .got 0.*--batch-size"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps must be at least 1"),
    ({"max_completion_length": 0}, "max_completion_length must be at least 1"),
    ({"limit": 0}, "limit must be at least 1"),
    ({"max_steps": 0}, "max_steps must be a positive number"),
    ({"temperature": 0.0}, "temperature must be above 0"),
])
def test_out_of_range_numbers_are_refused_not_replaced(tmp_path, kwargs, message):
    from gritkit.train import train

    data, images = write_grit_data(tmp_path, n=2)
    with pytest.raises(ConfigError, match=message):
        train(None, data, images, tiny="llava", output_dir=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()   # nothing built, nothing written


@pytest.mark.parametrize("what", ["data", "images", "image"])
def test_missing_files_are_reported_before_any_model_is_built(tmp_path, what):
    from gritkit.train import train

    data, images = write_grit_data(tmp_path, n=2)
    if what == "data":
        data = tmp_path / "nope.jsonl"
    elif what == "images":
        images = tmp_path / "no-images"
    else:
        next(images.iterdir()).unlink()
    with pytest.raises(DataError, match="does not exist"):
        train(None, data, images, tiny="llava", output_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "tiny-llava-random").exists()


def test_an_uncached_model_offline_says_how_to_fix_it(tmp_path, monkeypatch):
    from gritkit.train import train

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, images = write_grit_data(tmp_path, n=2)
    with pytest.raises(ConfigError, match="(?s)not in the Hugging Face cache.*offline.*hf download "
                                          "gritkit-tests/no-such-model.*--tiny"):
        train("gritkit-tests/no-such-model", data, images, output_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="model folder './no/such/model' does not exist"):
        train("./no/such/model", data, images, output_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="is a file, not a model folder"):
        train(str(data), data, images, output_dir=tmp_path / "out")


@pytest.mark.parametrize("argv, message", [
    (["--model", "gritkit-tests/no-such-model"], "not in the Hugging Face cache"),
    (["--tiny", "llava", "--num-generations", "0"], "num_generations must be at least 2"),
    (["--tiny", "llava", "--batch-size", "0"], "per_device_train_batch_size must be at least 1"),
    (["--tiny", "llava", "--data", "missing.jsonl"], "does not exist"),
])
def test_cli_argument_errors_are_messages_not_tracebacks(tmp_path, monkeypatch, capsys, argv, message):
    from gritkit.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, images = write_grit_data(tmp_path, n=2)
    if "--data" not in argv:
        argv = argv + ["--data", str(data)]
    code = main(["train", *argv, "--images", str(images), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "tiny-llava-random").exists()
