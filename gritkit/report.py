"""Reward reports: distributions, means over training steps, and reward-hacking signs.

:func:`load_report_data` reads either

* a **scored file**: JSON Lines written by ``gritkit score --json`` (keys
  ``record``, ``ok``, ``total``, ``rewards``), optionally joined by record index
  with the original outputs file (GRIT schema, field ``output``) so that the
  outputs can be inspected too; a JSON Lines file of outputs alone (no
  ``rewards``) gives the hacking signs only; or
* **TRL's logged completions**: a training output directory (its
  ``completions/completions_<step>.parquet`` files, written when
  ``log_completions=True``), a ``completions`` directory, or parquet files.
  Columns are read tolerantly: ``step`` (else the step in the file name),
  ``completion`` (a string, or chat messages whose text is joined), ``prompt``,
  and every numeric column that is not a known bookkeeping column
  (``advantage``, ``step``, ``width`` ...) is taken as a reward.

:func:`write_report` then saves, under the output directory,

* ``reward_distributions.png``: a histogram of each reward (and the total);
* ``reward_means.png`` (training logs only): each reward's mean over steps;
* ``report.md``: per-reward statistics and the reward-hacking signs worth a look.

Reward-hacking signs (:func:`hacking_signs`), each from the parsed output:

==================  =======================================================================
sign                when
==================  =======================================================================
``many_boxes``      more than ``many_boxes`` boxes (default 10) in one output
``whole_image_box`` a box covering at least ``whole_image`` (default 95%, :mod:`gritkit.boxes`) of the image
                    (needs the image size; the box is converted to pixels first)
``duplicate_boxes`` the same four numbers written more than once in one section of an
                    output (re-citing a ``<think>`` box in ``<rethink>`` is not a sign)
``empty_answer``    no ``<answer>`` section, or an empty one
``hedged_answer``   an answer that hedges between options: ``A or B``, ``A/B``, both *yes*
                    and *no*, several option letters, or several different numbers
==================  =======================================================================

Example:
    >>> from gritkit.report import load_report_data, write_report  # doctest: +SKIP
    >>> data = load_report_data("runs/grit/completions")  # doctest: +SKIP
    >>> summary = write_report(data, "runs/grit/report")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from gritkit.boxes import WHOLE_IMAGE_FRACTION
from gritkit.errors import ConfigError, DataError

NON_REWARD_COLUMNS = frozenset({
    "step", "global_step", "epoch", "advantage", "advantages", "index", "record", "idx",
    "width", "height", "image_width", "image_height", "min_pixels", "max_pixels",
    "completion_length", "prompt_length", "num_tokens", "group", "seed",
})
"""Numeric parquet columns that are never taken as rewards."""

TOTAL_COLUMNS = ("total", "reward")
"""Column names that hold an already weighted total."""

_STEP_IN_NAME = re.compile(r"(\d+)(?=\.parquet$)")


@dataclass
class Row:
    """One scored completion.

    Attributes:
        index: its position (record index for scored files, row number for logs).
        step: the training step (``None`` for scored files).
        rewards: reward name to value (``None`` when not applicable).
        total: the weighted total, when known.
        text: the completion text, when known (needed for hacking signs).
        width, height: the image size, when known.
        box_format: the coordinate convention, when known.
        source: where the row came from (``file:line`` or ``file#row``).
    """

    index: int
    step: Optional[int] = None
    rewards: dict[str, Optional[float]] = field(default_factory=dict)
    total: Optional[float] = None
    text: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    box_format: Optional[str] = None
    source: str = ""


@dataclass
class ReportData:
    """What a report is made from.

    Attributes:
        rows: the scored completions.
        kind: ``"scored"``, ``"outputs"`` or ``"training"``.
        source: a readable description of the input.
        problems: lines or files that could not be used (one message each).
        unscored: lines of a scored file that carry an ``error`` instead of rewards
            (``gritkit score`` could not score them): ``(line, message)``, counted and
            listed apart from the completions.
    """

    rows: list[Row]
    kind: str
    source: str
    problems: list[str] = field(default_factory=list)
    unscored: list[tuple[int, str]] = field(default_factory=list)

    @property
    def reward_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.rows:
            for k in r.rewards:
                names.setdefault(k, None)
        return list(names)

    @property
    def steps(self) -> list[int]:
        return sorted({r.step for r in self.rows if r.step is not None})


def _num(v: Any) -> Optional[float]:
    """A reward value: a float (±inf kept, to be reported as non-finite), ``None`` for n/a or NaN."""
    if v is None or isinstance(v, bool):
        return None if v is None else float(v)
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except OverflowError:  # an int beyond float range
            return math.inf if v > 0 else -math.inf
        return None if math.isnan(f) else f
    return None


# --------------------------------------------------------------------------- reading
def message_text(value: Any) -> Optional[str]:
    """The text of a logged completion (a string, a message or a list of messages), or ``None``.

    >>> message_text([{"role": "assistant", "content": "<think>a</think>"}])
    '<think>a</think>'
    """
    from gritkit.records import completion_text

    if not isinstance(value, (str, Mapping, list, tuple)) and not hasattr(value, "tolist"):
        return None
    return completion_text(value)


def _read_jsonl(path: Path, problems: list[str]) -> list[tuple[int, Optional[dict]]]:
    from gritkit.io import read_records

    out = []
    for line in read_records(path):
        if line.error:
            if not line.problem.startswith("blank line"):
                problems.append(f"{path}: line {line.line}: {line.problem}; line skipped")
            continue
        out.append((line.index, line.record))
    return out


def _size(obj: Mapping[str, Any]) -> tuple[Optional[int], Optional[int]]:
    w, h = obj.get("width"), obj.get("height")
    try:
        w, h = int(w), int(h)
    except (TypeError, ValueError, OverflowError):  # missing, text, or 1e400 (inf)
        return None, None
    return (w, h) if w > 0 and h > 0 else (None, None)


def _load_jsonl(path: Path, outputs: Optional[Path], field_name: str) -> ReportData:
    problems: list[str] = []
    lines = _read_jsonl(path, problems)
    # `gritkit score` numbers records by their 0-based line in the file it scored.
    originals = dict(_read_jsonl(outputs, problems)) if outputs is not None else {}
    rows: list[Row] = []
    unscored: list[tuple[int, str]] = []
    scored = any("rewards" in obj for _, obj in lines)
    for lineno, obj in lines:
        idx = obj.get("record", lineno) if scored else lineno
        idx = idx if isinstance(idx, int) and not isinstance(idx, bool) else lineno
        rewards: dict[str, Optional[float]] = {}
        if scored and obj.get("error"):
            err = obj["error"]
            why = err.get("message", err) if isinstance(err, Mapping) else err
            unscored.append((lineno + 1, " ".join(str(why).split())[:200]))
            continue
        if scored:
            raw = obj.get("rewards")
            if not isinstance(raw, Mapping):
                err = obj.get("error")
                why = (err.get("message", err) if isinstance(err, Mapping) else err) if err else ""
                problems.append(f"{path}: line {lineno + 1}: no rewards" + (f" ({why})" if why else ""))
                continue
            rewards = {str(k): _num(v) for k, v in raw.items()}
        src = obj
        if outputs is not None:
            if idx not in originals:
                problems.append(f"{path}: line {lineno + 1}: record {idx} has no line in {outputs}")
            src = originals.get(idx, obj)
        text = src.get(field_name)
        w, h = _size(src)
        bf = src.get("box_format") if isinstance(src.get("box_format"), str) else None
        rows.append(Row(index=idx, rewards=rewards, total=_num(obj.get("total")),
                        text=text if isinstance(text, str) else None, width=w, height=h,
                        box_format=bf, source=f"{path.name}:{lineno + 1}"))
    return ReportData(rows, "scored" if scored else "outputs", str(path), problems, unscored)


def parquet_files(path: Union[str, Path]) -> list[Path]:
    """The completion parquet files of a TRL run directory, a folder, or one file.

    Looks in ``PATH/completions/`` first, then in ``PATH``; files are sorted by
    the step in their name (``completions_<step>.parquet``), then by name.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    for d in (p / "completions", p):
        files = [f for f in d.glob("*.parquet") if f.is_file()] if d.is_dir() else []
        if files:
            def key(f: Path):
                m = _STEP_IN_NAME.search(f.name)
                return (int(m.group(1)) if m else -1, f.name)
            return sorted(files, key=key)
    return []


def _load_parquet(files: Sequence[Path], source: str, reward_names: Optional[Sequence[str]]) -> ReportData:
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError as exc:  # pragma: no cover - pyarrow ships with the report extra
        raise ConfigError("Reading TRL completion logs needs pyarrow.\n"
                          "Install it with `pip install 'gritkit[report]'`.") from exc
    rows: list[Row] = []
    problems: list[str] = []
    n = 0
    for f in files:
        try:
            schema = pq.read_schema(f)
            names = list(schema.names)
            numeric = [c for c in names if pat.is_integer(schema.field(c).type)
                       or pat.is_floating(schema.field(c).type) or pat.is_boolean(schema.field(c).type)]
            # Only the columns a report reads: logged images can be large.
            wanted = set(numeric) | {"completion", "completions", "output", "text", "box_format"}
            table = pq.read_table(f, columns=[c for c in names if c in wanted])
        except Exception as exc:  # a truncated or foreign file
            problems.append(f"{f}: cannot be read as parquet ({exc}); file skipped")
            continue
        if reward_names:
            missing = [r for r in reward_names if r not in names]
            if missing:
                problems.append(f"{f}: no column {', '.join(map(repr, missing))} (columns: {', '.join(names)})")
            rcols = [r for r in reward_names if r in names]
        else:
            rcols = [c for c in numeric if c.lower() not in NON_REWARD_COLUMNS and c.lower() not in TOTAL_COLUMNS]
        tcol = next((c for c in names if c.lower() in TOTAL_COLUMNS), None)
        ccol = next((c for c in ("completion", "completions", "output", "text") if c in names), None)
        m = _STEP_IN_NAME.search(f.name)
        file_step = int(m.group(1)) if m else None
        if ccol is None:
            problems.append(f"{f}: no completion column (looked for 'completion', 'output', 'text'); "
                            "hacking signs skipped for it")
        data = table.to_pylist()
        for k, rec in enumerate(data):
            step = rec.get("step", file_step)
            try:
                step = int(step) if step is not None else None
            except (TypeError, ValueError):
                step = file_step
            w, h = _size(rec)
            bf = rec.get("box_format") if isinstance(rec.get("box_format"), str) else None
            rows.append(Row(index=n, step=step,
                            rewards={c: _num(rec.get(c)) for c in rcols},
                            total=_num(rec.get(tcol)) if tcol else None,
                            text=message_text(rec.get(ccol)) if ccol else None,
                            width=w, height=h, box_format=bf, source=f"{f.name}#{k}"))
            n += 1
    return ReportData(rows, "training", source, problems)


def load_report_data(path: Union[str, Path], *, outputs: Union[str, Path, None] = None,
                     field_name: str = "output", rewards: Optional[Sequence[str]] = None) -> ReportData:
    """Read a scored file, an outputs file, or TRL completion logs (see the module docs).

    Args:
        path: a ``.jsonl`` file, a ``.parquet`` file, or a directory holding
            ``completions/*.parquet`` or ``*.parquet``.
        outputs: for a scored file, the original outputs file (joined on
            ``record``), so that the outputs can be checked for hacking signs.
        field_name: the field holding the output text in JSON Lines.
        rewards: for parquet logs, the reward columns to use (default: every
            numeric column that is not a bookkeeping column).

    Raises:
        DataError: the path does not exist or holds nothing readable.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} does not exist.\n"
                        "Expected a scored file (`gritkit score --json`), an outputs .jsonl file, "
                        "a TRL output directory or completions_*.parquet files.")
    if p.is_dir() or p.suffix == ".parquet":
        files = parquet_files(p)
        if not files:
            raise DataError(f"No parquet files in {p} or {p / 'completions'}.\n"
                            "TRL writes them when GRPOConfig(log_completions=True); "
                            "pass that run's output directory.")
        data = _load_parquet(files, str(p), rewards)
    else:
        data = _load_jsonl(p, Path(outputs) if outputs else None, field_name)
    if not data.rows:
        raise DataError(f"Nothing to report in {p}: no readable rows."
                        + ("\n" + "\n".join(data.problems[:5]) if data.problems else ""))
    return data


# --------------------------------------------------------------------------- hacking signs
SIGNS = ("many_boxes", "whole_image_box", "duplicate_boxes", "empty_answer", "hedged_answer")
"""Every reward-hacking sign :func:`hacking_signs` can report."""

_OR = re.compile(r"\b\w[\w\s-]{0,30}?\s+or\s+\w", re.I)
_SLASH = re.compile(r"\b[A-Za-z]+\s*/\s*[A-Za-z]+\b")
_LETTER = re.compile(r"(?<![\w'])\(?([A-E])\)?(?![\w'])")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def hedging(answer: str) -> Optional[str]:
    """Why ``answer`` hedges between options, or ``None``.

    Example:
        >>> hedging("left or right")
        "'... or ...'"
        >>> hedging("cat/dog")
        "'A/B'"
        >>> hedging("(A) or (C)") is not None, hedging("The answer is B") is None
        (True, True)
        >>> hedging("3 or 4 cups") is not None, hedging("2") is None, hedging("red") is None
        (True, True, True)
    """
    a = answer.strip()
    if not a:
        return None
    words = re.findall(r"[a-z]+", a.lower())
    if "yes" in words and "no" in words:
        return "both yes and no"
    if _OR.search(a):
        return "'... or ...'"
    if _SLASH.search(a):
        return "'A/B'"
    letters = {m.group(1) for m in _LETTER.finditer(a)}
    if len(letters) >= 2:
        return f"several option letters ({', '.join(sorted(letters))})"
    numbers = {float(m.group(0)) for m in _NUMBER.finditer(a)}
    numbers |= {float(_NUMBER_WORDS.index(w)) for w in words if w in _NUMBER_WORDS}
    if len(numbers) >= 2 and len(words) <= 8:
        return "several different numbers"
    return None


@dataclass(frozen=True)
class Sign:
    """One reward-hacking sign in one output."""

    kind: str
    detail: str


def hacking_signs(text: str, *, width: Optional[int] = None, height: Optional[int] = None,
                  box_format: Optional[str] = None, many_boxes: int = 10,
                  whole_image: float = WHOLE_IMAGE_FRACTION, grammar: str = "grit") -> list[Sign]:
    """The reward-hacking signs of one output (see the module docs).

    Args:
        text: the output.
        width, height: the original image's size (for whole-image boxes).
        box_format: the coordinate convention of the boxes (default: pixels).
        many_boxes: more boxes than this is a sign.
        whole_image: a box covering at least this share of the image (clipped to it) is a sign
            (default :data:`gritkit.boxes.WHOLE_IMAGE_FRACTION`).
        grammar: the grammar to parse with.

    Example:
        >>> [s.kind for s in hacking_signs(
        ...     "<think>(0, 0, 100, 100) (0, 0, 100, 100)</think><rethink>x</rethink><answer>",
        ...     width=100, height=100)]
        ['whole_image_box', 'duplicate_boxes', 'empty_answer']
    """
    from gritkit.parsing import try_parse

    result = try_parse(text, grammar)
    signs: list[Sign] = []
    boxes = result.boxes
    if len(boxes) > many_boxes:
        signs.append(Sign("many_boxes", f"{len(boxes)} boxes"))
    if boxes:
        from gritkit.boxes import DUPLICATE_IOU, check_boxes, covered_fraction
        from gritkit.models import ImageSize, Sample

        size = ImageSize(width=width, height=height) if width and height else None
        try:
            # whole-image boxes are judged apart, so a repeated whole-image box is both signs
            verdicts = check_boxes(boxes, Sample(image_size=size, box_format=box_format),
                                   whole_image_fraction=None, duplicate_iou=DUPLICATE_IOU)
        except ConfigError:  # an unknown box_format in the data: the checks cannot be made
            verdicts = []
        if size is not None:
            hits = [v.box.index + 1 for v in verdicts if v.kind in (None, "duplicate", "outside")
                    and v.pixels is not None and covered_fraction(v.pixels, width, height) >= whole_image]
            if hits:
                signs.append(Sign("whole_image_box", f"box {', '.join(map(str, hits))} covers "
                                                     f">= {whole_image:.0%} of the image"))
        # Re-citing a <think> box in <rethink> is GRIT's design; repeating it within one
        # section is what inflates box counts (gritkit.boxes compares within a section).
        dups = [v for v in verdicts if v.kind == "duplicate"]
        if dups:
            first = dups[0].box
            where = f"in <{first.section}>" if first.section else "outside sections"
            signs.append(Sign("duplicate_boxes", f"{len(dups)} repeated; box {first.index + 1} "
                                                 f"{_coords(first.as_floats())} {dups[0].reason} {where}"))
    if result.answer is None:
        signs.append(Sign("empty_answer", "no <answer> section"))
    elif not result.answer.strip():
        signs.append(Sign("empty_answer", "empty <answer>"))
    else:
        why = hedging(result.answer)
        if why:
            signs.append(Sign("hedged_answer", f"{_short(result.answer)!r}: {why}"))
    return signs


def _coords(k: tuple) -> str:
    return "(" + ", ".join(f"{v:g}" for v in k) + ")"


def _short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


# --------------------------------------------------------------------------- statistics
def reward_stats(data: ReportData) -> dict[str, dict[str, Any]]:
    """Per reward (and ``total`` when known): n, n/a, mean, std, min, max.

    Example:
        >>> d = ReportData([Row(0, rewards={"a": 1.0}), Row(1, rewards={"a": None}),
        ...                 Row(2, rewards={"a": 0.0})], "scored", "x")
        >>> s = reward_stats(d)["a"]
        >>> s["n"], s["none"], s["mean"], s["min"], s["max"]
        (2, 1, 0.5, 0.0, 1.0)
    """
    import numpy as np

    names = data.reward_names
    cols = {n: [r.rewards.get(n) for r in data.rows] for n in names}
    if any(r.total is not None for r in data.rows):
        cols["total"] = [r.total for r in data.rows]
    out = {}
    for name, vals in cols.items():
        v = np.array([x for x in vals if x is not None and math.isfinite(x)], dtype=float)
        out[name] = {
            "n": int(v.size),
            "none": int(sum(1 for x in vals if x is None)),
            "mean": float(v.mean()) if v.size else None,
            "std": float(v.std()) if v.size else None,
            "min": float(v.min()) if v.size else None,
            "max": float(v.max()) if v.size else None,
        }
        bad = sum(1 for x in vals if x is not None and not math.isfinite(x))
        if bad:  # reported, never averaged
            out[name]["non_finite"] = bad
    return out


def step_means(data: ReportData) -> dict[str, list[tuple[int, float]]]:
    """Per reward (and ``total``): ``[(step, mean), ...]`` over steps, ``None`` and non-finite values skipped.

    Example:
        >>> d = ReportData([Row(0, 1, {"a": 1.0}), Row(1, 1, {"a": 0.0}), Row(2, 2, {"a": 1.0})],
        ...                "training", "x")
        >>> step_means(d)["a"]
        [(1, 0.5), (2, 1.0)]
    """
    names = list(data.reward_names)
    if any(r.total is not None for r in data.rows):
        names.append("total")
    acc: dict[str, dict[int, list[float]]] = {n: {} for n in names}
    for r in data.rows:
        if r.step is None:
            continue
        for n in names:
            v = r.total if n == "total" else r.rewards.get(n)
            if v is not None and math.isfinite(v):
                acc[n].setdefault(r.step, []).append(v)
    return {n: [(s, sum(v) / len(v)) for s, v in sorted(d.items())] for n, d in acc.items() if d}


# --------------------------------------------------------------------------- writing
def _matplotlib():
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError("Plotting needs matplotlib.\n"
                          "Install it with `pip install 'gritkit[report]'`.") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return math.ceil(n / cols), cols


def plot_distributions(data: ReportData, path: Path) -> Optional[Path]:
    """Save a histogram of each reward (and the total) to ``path``; ``None`` if no rewards."""
    names = data.reward_names + (["total"] if any(r.total is not None for r in data.rows) else [])
    if not names:
        return None
    plt = _matplotlib()
    rows, cols = _grid(len(names))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        vals = [r.total if name == "total" else r.rewards.get(name) for r in data.rows]
        v = [x for x in vals if x is not None and math.isfinite(x)]
        none = sum(1 for x in vals if x is None)
        bad = len(vals) - len(v) - none
        if v:
            ax.hist(v, bins=min(30, max(5, len(set(v)))), color="#1f77b4", edgecolor="white")
        notes = ([f"{none} n/a"] if none else []) + ([f"{bad} non-finite, not plotted"] if bad else [])
        ax.set_title(f"{name}" + (f"  ({', '.join(notes)})" if notes else ""), fontsize=10)
        ax.set_xlabel("value")
        ax.set_ylabel("completions")
    fig.suptitle(f"Reward distributions: {len(data.rows)} completions", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_step_means(data: ReportData, path: Path) -> Optional[Path]:
    """Save each reward's mean over steps to ``path``; ``None`` without steps."""
    means = step_means(data)
    if not means:
        return None
    plt = _matplotlib()
    names = list(means)
    rows, cols = _grid(len(names))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        xs, ys = zip(*means[name])
        ax.plot(xs, ys, marker="o" if len(xs) < 40 else None, color="#ff7f0e")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("mean")
    fig.suptitle("Reward means over training steps", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


@dataclass
class ReportSummary:
    """What :func:`write_report` produced.

    Attributes:
        stats: :func:`reward_stats`.
        signs: per sign kind, the rows showing it (``(row, Sign)``).
        checked: how many rows had an output text to check.
        files: the files written.
        markdown: the text of ``report.md``.
    """

    stats: dict[str, dict[str, Any]]
    signs: dict[str, list[tuple[Row, Sign]]]
    checked: int
    files: list[Path]
    markdown: str


def find_signs(data: ReportData, *, many_boxes: int = 10, whole_image: float = WHOLE_IMAGE_FRACTION,
               grammar: str = "grit", progress=None) -> tuple[dict[str, list[tuple[Row, Sign]]], int]:
    """Run :func:`hacking_signs` over every row with a text; returns the signs and the count checked."""
    found: dict[str, list[tuple[Row, Sign]]] = {k: [] for k in SIGNS}
    checked = 0
    for row in data.rows:
        if progress is not None:
            progress()
        if row.text is None:
            continue
        checked += 1
        for s in hacking_signs(row.text, width=row.width, height=row.height, box_format=row.box_format,
                               many_boxes=many_boxes, whole_image=whole_image, grammar=grammar):
            found[s.kind].append((row, s))
    return found, checked


def _f(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_markdown(data: ReportData, stats, signs, checked: int, files: Sequence[Path],
                    many_boxes: int, whole_image: float, examples: int = 5) -> str:
    """The text of ``report.md``."""
    unscored = f", {len(data.unscored)} lines not scored" if data.unscored else ""
    out = ["# Reward report", "", f"Source: `{data.source}` ({data.kind}, {len(data.rows)} completions{unscored}"
           + (f", steps {data.steps[0]}..{data.steps[-1]}" if data.steps else "") + ")", ""]
    if stats:
        out += ["## Rewards", "", "| reward | n | n/a | mean | std | min | max | non-finite |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, s in stats.items():
            out.append(f"| {name} | {s['n']} | {s['none']} | {_f(s['mean'])} | {_f(s['std'])} "
                       f"| {_f(s['min'])} | {_f(s['max'])} | {s.get('non_finite', 0)} |")
        out += ["", "Statistics are over finite values; non-finite values (±inf) are counted, not "
                "averaged or plotted.", ""]
    if data.unscored:
        out += [f"## Lines that were not scored ({len(data.unscored)})", "",
                "They carry an error instead of rewards and are not counted as completions.", ""]
        out += [f"- line {line}: {msg}" for line, msg in data.unscored[:20]]
        if len(data.unscored) > 20:
            out.append(f"- ... and {len(data.unscored) - 20} more")
        out.append("")
    out += ["## Reward-hacking signs worth a look", ""]
    if checked == 0:
        out += ["No output texts available, so no signs were checked. For a scored file, pass the "
                "original outputs with `--outputs FILE`.", ""]
    else:
        sized = sum(1 for r in data.rows if r.text is not None and r.width and r.height)
        out += [f"{checked} outputs checked. Thresholds: more than {many_boxes} boxes; a box covering "
                f">= {whole_image:.0%} of the image"
                + ("" if sized == checked else f" (only {sized} outputs have an image size)") + ".", "",
                "| sign | outputs | share |", "|---|---:|---:|"]
        for kind in SIGNS:
            out.append(f"| {kind} | {len(signs[kind])} | {len(signs[kind]) / checked:.1%} |")
        out.append("")
        for kind in SIGNS:
            if not signs[kind]:
                continue
            out.append(f"### {kind}")
            out.append("")
            for row, s in signs[kind][:examples]:
                where = f"step {row.step}, " if row.step is not None else ""
                out.append(f"- {where}record {row.index} ({row.source}): {s.detail}")
            if len(signs[kind]) > examples:
                out.append(f"- ... and {len(signs[kind]) - examples} more")
            out.append("")
    if data.problems:
        out += ["## Input problems", ""] + [f"- {p}" for p in data.problems[:20]]
        if len(data.problems) > 20:
            out.append(f"- ... and {len(data.problems) - 20} more")
        out.append("")
    if files:
        out += ["## Plots", ""] + [f"![{f.stem}]({f.name})" for f in files if f.suffix == ".png"] + [""]
    return "\n".join(out)


def write_report(data: ReportData, out: Union[str, Path], *, many_boxes: int = 10,
                 whole_image: float = WHOLE_IMAGE_FRACTION, grammar: str = "grit", plots: bool = True,
                 progress=None) -> ReportSummary:
    """Write the plots and ``report.md`` for ``data`` under ``out`` (created if needed).

    Args:
        data: from :func:`load_report_data`.
        out: the output directory.
        many_boxes, whole_image: thresholds of the hacking signs.
        grammar: the grammar the outputs are parsed with.
        plots: draw the PNG plots (matplotlib).
        progress: called once per row (for a progress bar).

    Returns:
        A :class:`ReportSummary`.
    """
    if many_boxes < 0:
        raise ConfigError(f"many_boxes must be >= 0, got {many_boxes}.")
    if not 0 < whole_image <= 1:
        raise ConfigError(f"whole_image must be in (0, 1], got {whole_image}.")
    from gritkit.evaluate import ensure_dir

    outdir = ensure_dir(out)
    stats = reward_stats(data)
    signs, checked = find_signs(data, many_boxes=many_boxes, whole_image=whole_image,
                                grammar=grammar, progress=progress)
    files: list[Path] = []
    if plots:
        p = plot_distributions(data, outdir / "reward_distributions.png")
        if p:
            files.append(p)
        if data.kind == "training":
            p = plot_step_means(data, outdir / "reward_means.png")
            if p:
                files.append(p)
    md = render_markdown(data, stats, signs, checked, files, many_boxes, whole_image)
    (outdir / "report.md").write_text(md, encoding="utf-8")
    files.append(outdir / "report.md")
    return ReportSummary(stats, signs, checked, files, md)
