"""`gritkit generate`: prompts, batching, constrained decoding, bad records, resuming, vLLM arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import gritkit
from gritkit.errors import ConfigError, DataError
from gritkit.generate import (build_messages, generate, generate_file, generate_vllm_file, resume_point,
                              vllm_arguments)
from gritkit.train import GRIT_PROMPT_SUFFIX

DATA = Path("examples/data/train.jsonl")
IMAGES = Path("examples/data/images")
RECORDS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------- prompts (no model)

def test_question_gets_grit_prompt_and_the_trainers_suffix():
    m = build_messages({"question": "Is the cup on the table?"})
    assert m[0]["content"][0] == {"type": "image"}
    assert m[0]["content"][1]["text"] == "\nQuestion: Is the cup on the table?" + GRIT_PROMPT_SUFFIX


def test_prompt_string_and_messages():
    assert build_messages({"prompt": "How many?"}, "")[0]["content"][1]["text"] == "\nQuestion: How many?"
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count the cats."}]
    out = build_messages({"prompt": msgs})
    assert out[0] == msgs[0]
    assert out[1]["content"] == [{"type": "image"}, {"type": "text", "text": "Count the cats."}]
    assert msgs[1]["content"] == "Count the cats."  # the caller's messages are not changed
    assert build_messages({"prompt": msgs}, with_image=False)[1]["content"] == "Count the cats."
    text_only = build_messages({"question": "2+2?"}, "", with_image=False)
    assert text_only[0]["content"] == [{"type": "text", "text": "\nQuestion: 2+2?"}]


def test_no_question_is_a_data_error_that_lists_the_keys():
    with pytest.raises(DataError, match="keys: answer, image"):
        build_messages({"image": "x.png", "answer": "1"})


def test_resume_point_counts_complete_lines_only(tmp_path):
    out = tmp_path / "o.jsonl"
    assert resume_point(out) == (0, 0)
    out.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3')
    assert resume_point(out) == (2, 18)
    out.write_bytes(b'{"a": 1}\n{"a": 2}\nnot json\n')
    assert resume_point(out) == (2, 18)
    out.write_bytes(b'{"a": 1}\nnot json\n{"a": 3}\n')
    with pytest.raises(DataError, match="not written by gritkit generate"):
        resume_point(out)


def test_vllm_arguments_build_without_vllm():
    llm, sp = vllm_arguments("Qwen/Qwen2.5-VL-3B-Instruct", max_new_tokens=64, temperature=0.0, num_samples=3,
                             seed=7, constrained=True, grammar="r1", max_free=32, constrained_backend="guidance")
    assert llm == {"model": "Qwen/Qwen2.5-VL-3B-Instruct", "seed": 7, "limit_mm_per_prompt": {"image": 1},
                   "structured_outputs_config": {"backend": "guidance"}}
    assert sp["max_tokens"] == 64 and sp["n"] == 3 and sp["temperature"] == 0.0 and sp["seed"] == 7
    grammar = sp["structured_outputs"]["grammar"]
    assert "::=" not in grammar  # vLLM reads a grammar without ::= as Lark
    from gritkit.export import export_grammar

    assert grammar == export_grammar("r1", to="lark", max_free=32)
    llm, sp = vllm_arguments("m", engine_kwargs={"max_model_len": 4096})
    assert "structured_outputs" not in sp and llm["max_model_len"] == 4096
    with pytest.raises(ConfigError, match="auto, xgrammar and guidance"):
        vllm_arguments("m", constrained=True, constrained_backend="outlines")


def test_vllm_file_generation_with_a_stand_in_engine(tmp_path, monkeypatch):
    """The glue around vLLM (prompts, images, samples, order, resuming), with a stand-in for vllm."""
    calls = []

    class FakeLLM:
        def generate(self, prompts, sampling_params):
            calls.append((prompts, sampling_params))
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"{p['prompt'][-30:]}#{k}")
                                                   for k in range(sampling_params["n"])]) for p in prompts]

    fake = types.ModuleType("vllm")
    fake.SamplingParams = lambda **kw: kw
    fake.sampling_params = types.ModuleType("vllm.sampling_params")
    fake.sampling_params.StructuredOutputsParams = lambda **kw: ("SO", kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", fake.sampling_params)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:3]) + "not json\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    proc = _tiny()[1]
    s = generate_vllm_file(data, out, model="m", images=IMAGES, num_samples=2, constrained=True, llm=FakeLLM(),
                           processor=proc, batch_size=2)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert s.written == 8 and s.errors == 2
    assert [(r.get("question"), r["sample"]) for r in rows[:6]] == [
        (RECORDS[i]["question"], k) for i in range(3) for k in range(2)]
    assert rows[1]["output"].endswith("#1") and rows[6]["output"] is None and "not valid JSON" in rows[6]["error"]
    assert "multi_modal_data" in calls[0][0][0] and calls[0][1]["structured_outputs"][0] == "SO"
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:3]) + "\n")  # a run that stopped after 3 rows
    s = generate_vllm_file(data, out, model="m", images=IMAGES, num_samples=2, llm=FakeLLM(), processor=proc)
    assert s.skipped == 3 and s.written == 5
    assert out.read_text().splitlines() == lines


# --------------------------------------------------------------------------- a tiny model

_TINY = {}


def _tiny():
    if not _TINY:
        import tempfile

        from gritkit.tiny import load_processor, make_tiny_vlm

        folder = Path(tempfile.mkdtemp(prefix="gritkit-gen-")) / "tiny"
        folder, model, _ = make_tiny_vlm("qwen2_5_vl", folder, return_objects=True)
        _TINY["v"] = (model, load_processor(folder), folder)
    return _TINY["v"]


def test_rows_follow_input_order_with_samples_and_keep_fields():
    model, proc, _ = _tiny()
    rows = list(generate(RECORDS[:3], model=model, processor=proc, images=IMAGES, max_new_tokens=6,
                         num_samples=2, batch_size=4, temperature=0.9))
    assert [(r["question"], r["sample"]) for r in rows] == [(RECORDS[i]["question"], k)
                                                            for i in range(3) for k in range(2)]
    assert all(isinstance(r["output"], str) for r in rows)
    assert rows[0]["bboxs"] == RECORDS[0]["bboxs"] and rows[0]["dataset"] == RECORDS[0]["dataset"]
    single = list(generate(RECORDS[:1], model=model, processor=proc, images=IMAGES, max_new_tokens=4))
    assert "sample" not in single[0]


def test_greedy_is_deterministic_and_batching_does_not_change_greedy_outputs():
    model, proc, _ = _tiny()
    a = [r["output"] for r in generate(RECORDS[:3], model=model, processor=proc, images=IMAGES,
                                       max_new_tokens=8, temperature=0, batch_size=3)]
    b = [r["output"] for r in generate(RECORDS[:3], model=model, processor=proc, images=IMAGES,
                                       max_new_tokens=8, temperature=0, batch_size=1)]
    assert a == b


def test_pil_images_and_bad_records_never_stop_the_run():
    from PIL import Image

    model, proc, _ = _tiny()
    recs = [{"question": "What is red?", "image": Image.new("RGB", (40, 30), "red")},
            {"question": "Missing?", "image": "no_such.png"},
            {"answer": "no question"},
            {"question": "Text only, no image."},
            RECORDS[1]]
    rows = list(generate(recs, model=model, processor=proc, images=IMAGES, max_new_tokens=4, batch_size=8))
    assert len(rows) == 5
    assert isinstance(rows[0]["output"], str)
    assert rows[1]["output"] is None and "does not exist" in rows[1]["error"]
    assert rows[2]["output"] is None and "no question" in rows[2]["error"]
    assert isinstance(rows[3]["output"], str) and isinstance(rows[4]["output"], str)
    assert rows[4]["question"] == RECORDS[1]["question"]


@pytest.mark.parametrize("backend", ["xgrammar", "llguidance"])
@pytest.mark.parametrize("max_free", [None, 6])
def test_constrained_outputs_always_parse_within_the_budget(backend, max_free):
    pytest.importorskip(backend)
    model, proc, _ = _tiny()
    rows = list(generate(RECORDS[:3], model=model, processor=proc, images=IMAGES, max_new_tokens=32,
                         constrained=True, constrained_backend=backend, max_free=max_free, num_samples=2,
                         temperature=1.0, seed=3))
    for r in rows:  # (generate never goes past max_new_tokens; the closing tags had to fit in it)
        result = gritkit.try_parse(r["output"])
        assert result.ok, (r["output"], result.error)
    if max_free == 6:  # small gaps: the model itself moves through every section
        assert all(len(gritkit.try_parse(r["output"]).section("think").text) <= 6 * 8 for r in rows)


def test_constrained_renamed_grammar_and_r1():
    pytest.importorskip("xgrammar")
    model, proc, _ = _tiny()
    for grammar in ("r1", "grit[answer=final]"):
        rows = list(generate(RECORDS[:2], model=model, processor=proc, images=IMAGES, max_new_tokens=40,
                             constrained=True, grammar=grammar, max_free=4))
        assert all(gritkit.try_parse(r["output"], grammar).ok for r in rows), [r["output"] for r in rows]


def test_closing_options_and_masked_special_tokens():
    pytest.importorskip("xgrammar")
    from gritkit.generate import GrammarConstraint

    model, proc, _ = _tiny()
    tok = proc.tokenizer
    c = GrammarConstraint(proc, max_free=4, eos_ids=[tok.convert_tokens_to_ids("<|im_end|>")])
    texts = {tok.decode(o) for o in c.closing_options("a b<think")}
    # whole tags, or finish the <think> already spelled out (a gap at its bound is committed to it)
    assert texts == {"<think></think><rethink></rethink><answer>", "></think><rethink></rethink><answer>"}
    assert c.closing_options("<think>x</think><rethink>y</rethink><answer>z") == [[]]
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    assert pad in c.special_ids and tok.convert_tokens_to_ids("<think>") not in c.special_ids
    assert tok.convert_tokens_to_ids("<|im_end|>") not in c.special_ids


def test_no_brace_closes_a_json_box_across_a_tag():
    """`{"bbox_2d": [1, 2</think>…}` is one box to the parser: the `}` must not come."""
    pytest.importorskip("xgrammar")
    import torch

    from gritkit.generate import GrammarConstraint

    model, proc, _ = _tiny()
    tok = proc.tokenizer
    c = GrammarConstraint(proc, max_free=64, eos_ids=[tok.convert_tokens_to_ids("<|im_end|>")],
                          vocab_size=len(tok))
    assert c.swallow_risk('<think>{"bbox_2d": [1, 2</think><rethink>')
    assert not c.swallow_risk('<think>{"bbox_2d": [1, 2]}</think><rethink>')
    assert not c.swallow_risk('<think>{"bbox_2d": [1, 2')  # no tag inside yet
    assert not c.swallow_risk('<think>{ see </think><rethink>')  # not a box: no key
    brace = tok.convert_tokens_to_ids("}")
    assert brace in c.close_brace_ids
    text = '<think>{"bbox_2d": [1, 2</think><rethink>'
    ids = tok(text, add_special_tokens=False).input_ids
    proc_ = c.logits_processor(1, 64)
    seq = torch.tensor([[0]])
    scores = proc_(seq, torch.zeros((1, c.vocab_size)))
    for t in ids:
        seq = torch.cat([seq, torch.tensor([[t]])], dim=1)
        scores = proc_(seq, torch.zeros((1, c.vocab_size)))
    assert proc_.texts[0] == text
    assert scores[0, brace] == float("-inf") and torch.isfinite(scores[0]).sum() > 10
    full = gritkit.try_parse(text + "x}</rethink><answer>1")
    assert not full.ok  # what the mask prevents: the parser reads the tags as part of the box


def test_constrained_needs_top_p_one():
    model, proc, _ = _tiny()
    with pytest.raises(ConfigError, match="top_p"):
        next(generate(RECORDS[:1], model=model, processor=proc, constrained=True, top_p=0.9))


def test_generate_file_resumes_and_rewrites_a_torn_line(tmp_path):
    model, proc, _ = _tiny()
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:4]) + "{broken\n", encoding="utf-8")
    out = tmp_path / "out" / "gen.jsonl"
    kw = dict(model=model, processor=proc, images=IMAGES, max_new_tokens=6, temperature=0)
    s = generate_file(data, out, **kw)
    assert (s.total, s.written, s.errors) == (5, 5, 1)
    full = out.read_text().splitlines()
    out.write_text("\n".join(full[:2]) + "\n" + full[2][:17])  # killed while writing row 3
    s = generate_file(data, out, **kw)
    assert (s.skipped, s.written) == (2, 3)
    assert out.read_text().splitlines() == full
    s = generate_file(data, out, **kw)
    assert s.written == 0 and out.read_text().splitlines() == full
    with pytest.raises(DataError, match="another --num-samples"):
        generate_file(data, out, num_samples=2, **kw)


# --------------------------------------------------------------------------- the command

def _main(capsys, *args) -> tuple[int, str, str]:
    from gritkit.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_done_when_constrained_outputs_validate_and_unconstrained_ones_evaluate(tmp_path, capsys):
    pytest.importorskip("xgrammar")
    out = tmp_path / "gen.jsonl"
    code, _, err = _main(capsys, "generate", "--tiny", "qwen2_5_vl", "--data", str(DATA), "--images", str(IMAGES),
                         "--out", str(out), "--constrained", "--max-new-tokens", "64")
    assert code == 0, err
    assert len(out.read_text().splitlines()) == len(RECORDS)
    code, stdout, _ = _main(capsys, "validate", str(out))
    assert code == 0 and f"{len(RECORDS)} valid, 0 invalid" in stdout, stdout
    plain = tmp_path / "plain.jsonl"
    code, _, err = _main(capsys, "generate", "--tiny", "qwen2_5_vl", "--data", str(DATA), "--images", str(IMAGES),
                         "--out", str(plain), "--max-new-tokens", "16")
    assert code == 0, err
    code, stdout, err = _main(capsys, "eval", str(plain))
    assert code == 0, err
    assert "overall" in stdout


@pytest.mark.slow
def test_killed_run_rerun_writes_every_record_exactly_once(tmp_path):
    data = tmp_path / "d.jsonl"
    n = len(RECORDS) * 2
    data.write_text("".join(json.dumps({**r, "id": i}) + "\n" for i, r in enumerate(RECORDS * 2)),
                    encoding="utf-8")
    out = tmp_path / "gen.jsonl"
    args = [sys.executable, "-m", "gritkit.cli", "generate", "--tiny", "qwen2_5_vl", "--data", str(data),
            "--images", str(IMAGES), "--out", str(out), "--max-new-tokens", "12", "--batch-size", "1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 2):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = out.read_bytes().count(b"\n")
    assert 2 <= written < n, "the run was not killed mid-way"
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert f"already holds {written} of {n} rows" in r.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == list(range(n))


def test_command_errors_say_how_to_fix(tmp_path, capsys):
    code, _, err = _main(capsys, "generate", "--data", str(DATA), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and "--model" in err and "--tiny" in err
    code, _, err = _main(capsys, "generate", "--model", "x", "--backend", "vllm", "--data", str(DATA),
                         "--out", str(tmp_path / "o"))
    assert code == 2 and "vLLM" in err
    code, _, err = _main(capsys, "generate", "--model", "x", "--data", str(DATA), "--out", str(tmp_path / "o"),
                         "--constrained-backend", "outlines")
    assert code == 2 and "xgrammar, llguidance" in err
    code, _, err = _main(capsys, "generate", "--tiny", "qwen2_5_vl", "--data", str(tmp_path / "none.jsonl"),
                         "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and "does not exist" in err
