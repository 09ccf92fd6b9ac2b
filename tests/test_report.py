"""`gritkit report`: scored files, TRL completion parquet logs, plots and hacking signs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from gritkit.cli import main
from gritkit.errors import DataError
from gritkit.report import (ReportData, Row, hacking_signs, hedging, load_report_data, message_text,
                            reward_stats, step_means, write_report)

GOOD = "<think>The cat is at (10, 10, 50, 50).</think><rethink>Yes.</rethink><answer>Yes</answer>"
MANY = "<think>" + " ".join(f"({i}, 0, {i + 5}, 5)" for i in range(12)) + "</think><rethink>.</rethink><answer>12"
WHOLE = "<think>The scene (0, 0, 100, 100).</think><rethink>.</rethink><answer>Yes"
DUPS = "<think>(1, 1, 9, 9) and (1, 1, 9, 9) and (1, 1, 9, 9)</think><rethink>.</rethink><answer>3"
EMPTY = "<think>(1, 1, 9, 9)</think><rethink>.</rethink><answer>\n</answer>"
NO_ANSWER = "<think>(1, 1, 9, 9) and then the text stops"
HEDGE = "<think>(1, 1, 9, 9)</think><rethink>.</rethink><answer>left or right</answer>"


def kinds(text: str, **kw) -> list[str]:
    return [s.kind for s in hacking_signs(text, **kw)]


def test_hacking_signs_one_by_one():
    assert kinds(GOOD, width=100, height=100) == []
    assert kinds(MANY) == ["many_boxes"]
    assert kinds(MANY, many_boxes=12) == []
    assert kinds(WHOLE, width=100, height=100) == ["whole_image_box"]
    assert kinds(WHOLE) == []  # no image size, no whole-image check
    # (0, 0, 1000, 1000) in the 0..1000 convention covers a 640x480 image
    assert kinds("<think>(0, 0, 1000, 1000)</think><rethink>.</rethink><answer>1",
                 width=640, height=480, box_format="norm_1000") == ["whole_image_box"]
    assert kinds(DUPS) == ["duplicate_boxes"]
    # re-citing a think box in rethink is GRIT's design, not a sign
    assert kinds("<think>(1, 1, 9, 9)</think><rethink>(1, 1, 9, 9)</rethink><answer>1") == []
    assert kinds(EMPTY) == ["empty_answer"]
    assert kinds(NO_ANSWER) == ["empty_answer"]
    assert kinds(HEDGE) == ["hedged_answer"]


@pytest.mark.parametrize("answer", ["left or right", "Yes/No", "yes, no", "(A) or (B)", "A, C", "3 or 4",
                                    "two or three", "either 2 or 3 cups"])
def test_hedges(answer):
    assert hedging(answer) is not None


@pytest.mark.parametrize("answer", ["left", "Yes", "7", "A", "The answer is B", "red car", "3 cups",
                                    "a dog", "I think it's B.", "2.5"])
def test_not_hedges(answer):
    assert hedging(answer) is None


def test_message_text_variants():
    assert message_text("plain") == "plain"
    assert message_text([{"role": "assistant", "content": "<think>a</think>"}]) == "<think>a</think>"
    assert message_text([{"role": "assistant", "content": [{"type": "text", "text": "x"}]}]) == "x"
    assert message_text(None) is None and message_text(5) is None


def test_stats_and_step_means_by_hand():
    data = ReportData([Row(0, 1, {"a": 1.0, "b": None}, total=1.0), Row(1, 1, {"a": 0.0, "b": 2.0}, total=2.0),
                       Row(2, 2, {"a": 0.5, "b": 4.0}, total=4.5)], "training", "x")
    st = reward_stats(data)
    # a: values 1, 0, 0.5 -> mean 0.5, population std sqrt(((.5)^2 + (.5)^2 + 0) / 3) = 0.40825
    assert st["a"]["mean"] == pytest.approx(0.5) and st["a"]["std"] == pytest.approx(0.408248, abs=1e-6)
    assert st["b"] == {"n": 2, "none": 1, "mean": 3.0, "std": 1.0, "min": 2.0, "max": 4.0}
    means = step_means(data)
    assert means["a"] == [(1, 0.5), (2, 0.5)]
    assert means["b"] == [(1, 2.0), (2, 4.0)]  # the None of step 1 is skipped
    assert means["total"] == [(1, 1.5), (2, 4.5)]


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture()
def trl_run(tmp_path: Path) -> Path:
    """A TRL output dir with completions/completions_<step>.parquet as log_completions writes them."""
    comp = tmp_path / "run" / "completions"
    comp.mkdir(parents=True)
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]

    def row(step, text, fmt, ans, adv):
        return {"step": step, "prompt": prompt, "completion": [{"role": "assistant", "content": text}],
                "format": fmt, "answer": ans, "advantage": adv}

    write_parquet(comp / "completions_10.parquet",
                  [row(10, GOOD, 1.5, 1.0, 0.7), row(10, MANY, 1.5, 0.0, -0.7)])
    write_parquet(comp / "completions_20.parquet",
                  [row(20, HEDGE, 1.5, None, 0.0), row(20, DUPS, 1.0, 1.0, 0.0)])
    # a later file written by another TRL version: plain-string completions, no step column, a NaN
    write_parquet(comp / "completions_30.parquet",
                  [{"prompt": "How many?", "completion": EMPTY, "format": 0.5, "answer": float("nan"),
                    "advantage": 0.1}])
    return tmp_path / "run"


def test_trl_logs_are_read_tolerantly(trl_run: Path):
    data = load_report_data(trl_run)
    assert data.kind == "training" and not data.problems
    assert data.reward_names == ["format", "answer"]  # advantage and step are not rewards
    assert data.steps == [10, 20, 30]  # step 30 comes from the file name
    assert [r.text for r in data.rows][:2] == [GOOD, MANY]
    assert data.rows[4].rewards == {"format": 0.5, "answer": None}  # NaN reads as not applicable
    means = step_means(data)
    assert means["format"] == [(10, 1.5), (20, 1.25), (30, 0.5)]
    assert means["answer"] == [(10, 0.5), (20, 1.0)]


def test_report_from_trl_run_writes_plots_and_signs(trl_run: Path, tmp_path: Path, capsys):
    out = tmp_path / "rep"
    code = main(["report", str(trl_run), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    for name in ("reward_distributions.png", "reward_means.png"):
        img = Image.open(out / name)
        img.load()
        assert img.width > 300 and img.height > 200
        # a real plot: many distinct colours, not a blank canvas
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20)) > 20
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md == printed.rstrip("\n") or md in printed
    assert "| many_boxes | 1 | 20.0% |" in md
    assert "| duplicate_boxes | 1 | 20.0% |" in md
    assert "| empty_answer | 1 | 20.0% |" in md
    assert "| hedged_answer | 1 | 20.0% |" in md
    assert "| format | 5 | 0 |" in md and "| answer | 3 | 2 |" in md


def test_report_from_a_parquet_file_with_chosen_rewards(trl_run: Path, tmp_path: Path):
    data = load_report_data(trl_run / "completions" / "completions_10.parquet", rewards=["answer"])
    assert data.reward_names == ["answer"] and data.steps == [10]
    summary = write_report(data, tmp_path / "o", plots=False)
    assert [f.name for f in summary.files] == ["report.md"]


def test_scored_file_with_outputs(tmp_path: Path, capsys):
    outputs = tmp_path / "outputs.jsonl"
    texts = [GOOD, WHOLE, HEDGE]
    outputs.write_text("\n".join(json.dumps({"output": t, "answer": "Yes", "width": 100, "height": 100})
                                 for t in texts) + "\n", encoding="utf-8")
    scored = tmp_path / "scores.jsonl"
    lines = [json.dumps({"record": i, "ok": True, "total": 1.0 + i, "rewards": {"format": 1.0, "answer": v}})
             for i, v in enumerate([1.0, 0.0, None])]
    lines.append(json.dumps({"record": 3, "ok": False, "total": None, "rewards": None,
                             "error": {"message": "not valid JSON"}}))
    scored.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["report", str(scored), "--outputs", str(outputs)])
    captured = capsys.readouterr()
    assert code == 1  # one scored line had no rewards
    assert "not scored, no rewards (not valid JSON)" in captured.err
    out = tmp_path / "scores.jsonl.report"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "3 outputs checked" in md
    assert "| whole_image_box | 1 | 33.3% |" in md and "| hedged_answer | 1 | 33.3% |" in md
    assert "| total | 3 | 0 | 2.000 |" in md
    assert (out / "reward_distributions.png").exists() and not (out / "reward_means.png").exists()


def test_scored_file_alone_says_signs_need_outputs(tmp_path: Path):
    scored = tmp_path / "s.jsonl"
    scored.write_text(json.dumps({"record": 0, "ok": True, "total": 1.0, "rewards": {"a": 1.0}}) + "\n")
    summary = write_report(load_report_data(scored), tmp_path / "o", plots=False)
    assert summary.checked == 0 and "--outputs" in summary.markdown


def test_bad_inputs_give_clear_errors(tmp_path: Path, capsys):
    with pytest.raises(DataError, match="does not exist"):
        load_report_data(tmp_path / "nope.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No parquet files"):
        load_report_data(tmp_path / "empty")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="no readable rows"):
        load_report_data(bad)
    assert main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "run" / "completions"
    broken.mkdir(parents=True)
    (broken / "completions_1.parquet").write_bytes(b"PAR1 truncated")
    write_parquet(broken / "completions_2.parquet", [{"step": 2, "completion": GOOD, "r": 1.0}])
    data = load_report_data(tmp_path / "run")
    assert len(data.rows) == 1 and "cannot be read as parquet" in data.problems[0]


def test_sample_data_signs(tmp_path: Path):
    root = Path(__file__).resolve().parents[1] / "examples" / "data"
    summary = write_report(load_report_data(root / "sample_outputs.jsonl"), tmp_path, plots=False)
    counts = {k: len(v) for k, v in summary.signs.items()}
    assert counts == {"many_boxes": 0, "whole_image_box": 1, "duplicate_boxes": 1, "empty_answer": 2,
                      "hedged_answer": 1}
