"""Records: one JSON Lines record or trainer row turned into the completion text and a Sample.

This is the one home of that job. ``gritkit score``, ``eval``, ``render``,
``report`` and ``validate``, the TRL, verl and EasyR1 adapters and
:mod:`gritkit.testing` all go through it:

* :class:`ColumnMap` says which columns fill which :class:`~gritkit.models.Sample`
  fields (GRIT's data schema by default);
* :func:`parse_field_renames` / :func:`rename_fields` apply ``--field OLD=NEW``
  renames, all at once (so ``--field a=b --field b=a`` swaps two columns);
* :func:`completion_text`, :func:`prompt_question` read text out of chat
  messages (TRL's conversational completions, logged tables);
* :func:`image_size` reads an image's size from a PIL image, a path, a
  ``datasets`` dict or a list of those;
* :class:`RecordReader` puts it together: renames, the column map, a box format
  override or default, the pixel budget, image sizes from files, and a check that
  the record's box format is registered.

Nothing here imports a trainer, torch or transformers. Every helper that reads
model output tolerates garbage (non-strings, lone surrogates, odd message shapes);
every helper that reads user input raises :class:`~gritkit.errors.DataError` or
:class:`~gritkit.errors.ConfigError` saying what, where, and how to fix it.

>>> reader = RecordReader(renames={"response": "output"})
>>> text, sample = reader.read({"response": "<answer>7", "answer": 7, "width": 64, "height": 48})
>>> text, sample.answer, sample.image_size.width
('<answer>7', '7', 64)
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict

from gritkit.errors import ConfigError, DataError
from gritkit.models import ImageSize, Sample, fast_construct



def _to_names(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


Columns = Annotated[tuple[str, ...], BeforeValidator(_to_names)]


def _short(record: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(record, ensure_ascii=False, default=repr)
    except Exception:  # pragma: no cover - json.dumps with default=repr hardly fails
        text = repr(record)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ColumnMap(BaseModel):
    """Which dataset columns fill which :class:`~gritkit.models.Sample` fields.

    Each field names one column, or a list of alternatives (the first one present
    with a non-null value wins); an empty list maps nothing. The defaults follow
    GRIT's data schema. Every column not named here goes to ``Sample.extra``.

    Attributes:
        text: the completion text (not part of the sample; ``gritkit score`` reads it).
        answer: the reference answer (``answer`` or ``gt_answer``).
        gt_boxes: ground-truth boxes in original-image pixels (``bboxs`` or ``gt_boxes``).
        width, height: the original image's size.
        dataset, image, question, box_format, min_pixels, max_pixels, completion_ids:
            the sample fields of the same names.

    >>> s = ColumnMap().to_sample({"answer": 7, "bboxs": [[0, 0, 10, 10]], "width": 640,
    ...                            "height": 480, "dataset": "tallyqa", "split": "train"})
    >>> s.answer, s.gt_boxes, s.image_size.width, s.extra
    ('7', ((0.0, 0.0, 10.0, 10.0),), 640, {'split': 'train'})
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Columns = ("output",)
    answer: Columns = ("answer", "gt_answer")
    gt_boxes: Columns = ("bboxs", "gt_boxes")
    width: Columns = ("width",)
    height: Columns = ("height",)
    dataset: Columns = ("dataset",)
    image: Columns = ("image",)
    question: Columns = ("question",)
    box_format: Columns = ("box_format",)
    min_pixels: Columns = ("min_pixels",)
    max_pixels: Columns = ("max_pixels",)
    completion_ids: Columns = ("completion_ids",)

    @cached_property
    def _plan(self) -> tuple[frozenset, tuple[tuple[str, tuple[str, ...]], ...]]:
        # computed once per map: every column it reads, and (field, columns) pairs to look up
        fields = tuple((name, getattr(self, name)) for name in type(self).model_fields if name != "text")
        used = frozenset(c for name in type(self).model_fields for c in getattr(self, name))
        return used, fields

    def columns(self) -> set[str]:
        """Every column name this map reads."""
        return set(self._plan[0])

    def find(self, record: dict, field: str) -> tuple[Optional[str], Any]:
        """The first of ``field``'s columns present in ``record`` with a non-null value."""
        for column in getattr(self, field):
            value = record.get(column)
            if value is not None:
                return column, value
        return None, None

    def text_of(self, record: dict) -> str:
        """The completion text of ``record`` (``DataError`` when missing or not a string)."""
        column, value = self.find(record, "text")
        if column is None:
            names = " or ".join(repr(c) for c in self.text) or "(none configured)"
            raise DataError(
                f"The record has no completion text: expected the column {names}.\n"
                f"  record: {_short(record)}\n"
                "Rename the column (`gritkit score --field NAME=output`) or set columns.text in the config.")
        if not isinstance(value, str):
            raise DataError(
                f"The completion text in column {column!r} is a {type(value).__name__}; expected a string.\n"
                f"  record: {_short(record)}")
        return value

    def to_sample(self, record: dict, *, default_box_format: Optional[str] = None,
                  default_min_pixels: Optional[int] = None, default_max_pixels: Optional[int] = None,
                  index: Optional[int] = None):
        """Build the :class:`~gritkit.models.Sample` for one record.

        Every value is checked here, once; the sample is then built without
        pydantic re-validating it (this runs once per completion in training).

        Args:
            record: one dataset row.
            default_box_format: used when the record names no box format.
            default_min_pixels, default_max_pixels: used when the record has none.
            index: the record's position, for error messages.

        Returns:
            The sample.

        Raises:
            DataError: a value is unusable; the message names the field, the
                column, the record and what was expected.

        >>> ColumnMap().to_sample({"gt_answer": "Yes"}, default_box_format="qwen_1000").box_format
        'qwen_1000'
        """
        if not isinstance(record, dict):
            raise DataError(f"Record{_at(index)} is a {type(record).__name__}; expected a JSON object.")
        used, plan = self._plan
        get = record.get
        fields = dict(_SAMPLE_DEFAULTS)
        wcol = hcol = width = height = None
        # one pass over the fields: the first column present with a non-null value wins
        for name, columns in plan:
            for column in columns:
                value = get(column)
                if value is not None:
                    break
            else:
                continue
            kind = type(value)
            if name == "answer":
                if kind is str:
                    fields["answer"] = value
                elif kind is int or kind is float:
                    fields["answer"] = _num_text(value)
                elif isinstance(value, str):
                    fields["answer"] = str(value)
                else:
                    raise _bad(index, record, column, "a string or a number (the reference answer)", value)
            elif name == "gt_boxes":
                boxes = _boxes(value)
                if isinstance(boxes, str):
                    raise _bad(index, record, column, boxes, value)
                fields["gt_boxes"] = boxes
            elif name == "width":
                wcol, width = column, value
            elif name == "height":
                hcol, height = column, value
            elif name in ("dataset", "question", "box_format"):
                if kind is str:
                    fields[name] = value
                elif isinstance(value, (str, int, float)) and kind is not bool:
                    fields[name] = str(value)
                else:
                    raise _bad(index, record, column, "a string", value)
            elif name == "image":
                if isinstance(value, (str, os.PathLike)):
                    fields["image"] = os.fspath(value)
                else:  # e.g. a PIL image from a datasets column: keep it for the adapters
                    used = used - {column}
            elif name == "completion_ids":
                if not isinstance(value, (list, tuple)) or not all(
                        isinstance(t, int) and not isinstance(t, bool) for t in value):
                    raise _bad(index, record, column, "a list of integer token ids", value)
                fields["completion_ids"] = tuple(value)
            else:  # min_pixels, max_pixels
                number = _positive_int(value)
                if number is None:
                    raise _bad(index, record, column, "a positive whole number of pixels", value)
                fields[name] = number

        if wcol is not None or hcol is not None:
            if wcol is None or hcol is None:
                has, missing = ("width", "height") if hcol is None else ("height", "width")
                raise DataError(
                    f"Record{_at(index)} has a {has} but no {missing}; give both (columns "
                    f"{self.width + self.height}) or neither.\n  record: {_short(record)}")
            w = width if type(width) is int and width > 0 else _positive_int(width)
            h = height if type(height) is int and height > 0 else _positive_int(height)
            if w is None:
                raise _bad(index, record, wcol, "a positive whole number of pixels", width)
            if h is None:
                raise _bad(index, record, hcol, "a positive whole number of pixels", height)
            size = _SIZES.get((w, h))
            if size is None:
                size = _SIZES[(w, h)] = fast_construct(ImageSize, width=w, height=h)
                if len(_SIZES) > 4096:
                    _SIZES.clear()
            fields["image_size"] = size
        if fields["min_pixels"] is None and default_min_pixels is not None:
            fields["min_pixels"] = default_min_pixels
        if fields["max_pixels"] is None and default_max_pixels is not None:
            fields["max_pixels"] = default_max_pixels
        if fields["box_format"] is None and default_box_format is not None:
            fields["box_format"] = default_box_format
        fields["extra"] = {k: v for k, v in record.items() if k not in used}
        return fast_construct(Sample, **fields)


def _bad(index: Optional[int], record: dict, column: str, expected: str, value: Any) -> DataError:
    return DataError(
        f"Record{_at(index)}: column {column!r} is {_short(value, 60)}; expected {expected}.\n"
        f"  record: {_short(record)}\n"
        "Fix the value, or map another column to this field (--field / columns in the config).")


# ImageSize is immutable, and a dataset has few distinct sizes: one object per size.
_SIZES: dict[tuple[int, int], ImageSize] = {}

_SAMPLE_DEFAULTS = {
    "answer": None, "gt_boxes": (), "image_size": None, "dataset": None, "box_format": None,
    "question": None, "image": None, "min_pixels": None, "max_pixels": None, "completion_ids": None,
}


def _at(index: Optional[int]) -> str:
    return "" if index is None else f" {index}"


def _num_text(value: Union[int, float]) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _positive_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value > 0:
        return value
    return None


_NUMBER_TYPES = frozenset((int, float))


def _boxes(value: Any) -> Union[tuple, str]:
    """The boxes as a tuple of float 4-tuples, or a string saying what was expected."""
    if not isinstance(value, (list, tuple)):
        return "a list of boxes [[x1, y1, x2, y2], ...]"
    numbers = _NUMBER_TYPES
    out = []
    for i, box in enumerate(value):
        if type(box) in (list, tuple) and len(box) == 4:
            x1, y1, x2, y2 = box
            if type(x1) in numbers and type(y1) in numbers and type(x2) in numbers and type(y2) in numbers:
                b = (float(x1), float(y1), float(x2), float(y2))
                if b[0] - b[0] == 0 and b[1] - b[1] == 0 and b[2] - b[2] == 0 and b[3] - b[3] == 0:
                    out.append(b)
                    continue
        elif i == 0 and len(value) == 4 and all(type(v) in numbers for v in value):
            return "a list of boxes [[x1, y1, x2, y2], ...]; this is one flat box, wrap it in a list"
        return f"a list of boxes of 4 finite numbers [x1, y1, x2, y2]; box {i} is {_short(box, 40)}"
    return tuple(out)

_DEFAULT_MAP = ColumnMap()


# ---------------------------------------------------------------------------------------------
# Renames


def parse_field_renames(pairs: Iterable[Union[str, tuple[str, str]]]) -> dict[str, str]:
    """``["response=output"]`` -> ``{"response": "output"}``: the file's column ``OLD`` is read as ``NEW``.

    Pairs may also be given as ``(old, new)`` tuples.

    Raises:
        ConfigError: a pair is not ``OLD=NEW``, or one column is renamed twice.

    Example:
        >>> parse_field_renames(["response=output", "gt=answer"])
        {'response': 'output', 'gt': 'answer'}
    """
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, tuple):
            old, sep, new = pair[0], "=", pair[1]
        else:
            old, sep, new = str(pair).partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise ConfigError(f"--field {pair!r} is not OLD=NEW.\n"
                              "Write the file's column, '=', then the field gritkit reads, "
                              "e.g. --field response=output.")
        if old in out and out[old] != new:
            raise ConfigError(f"--field renames the column {old!r} twice (to {out[old]!r} and {new!r}); "
                              "give one --field per column.")
        out[old] = new
    return out


def rename_fields(record: dict, renames: Mapping[str, str]) -> dict:
    """A copy of ``record`` with the columns renamed, all at once.

    A renamed column replaces an existing column of the new name, and the renames
    do not chain: ``{"a": "b", "b": "a"}`` swaps the two columns.

    >>> rename_fields({"a": 1, "b": 2, "c": 3}, {"a": "b", "b": "a"})
    {'c': 3, 'b': 1, 'a': 2}
    """
    if not renames:
        return record
    out = {k: v for k, v in record.items() if k not in renames}
    for old, new in renames.items():
        if old in record:
            out[new] = record[old]
    return out


# ---------------------------------------------------------------------------------------------
# Text


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> str:
    """A valid-UTF-8 ``str`` for any value: lone surrogates become U+FFFD, bytes are decoded leniently."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:  # lone surrogates (legal in JSON, e.g. truncated emoji escapes)
            return _SURROGATE.sub("\ufffd", value)
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return clean_text(str(value))


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of blocks (text blocks joined)."""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, Mapping):
        return clean_text(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type", "text") == "text" and block.get("text"):
                parts.append(str(block["text"]))
        return clean_text("".join(parts))
    return clean_text(content)


THINK_TAGS = ("<think>", "</think>")
#: Message keys where chat parsers put the reasoning they cut out of ``content``
#: (TRL's ``parse_response``: ``reasoning_content``; LFM models: ``thinking``).
REASONING_KEYS = ("reasoning_content", "thinking")


def message_text(message: Mapping[str, Any], think_tags: tuple[str, str] = THINK_TAGS) -> str:
    """The text of one assistant message, with parsed-out reasoning put back in front.

    When a tokenizer has a response template, TRL decodes a completion with
    ``parse_response``, which moves the body of ``<think>…</think>`` into
    ``reasoning_content`` (``thinking`` for LFM models) and leaves the rest in
    ``content``. gritkit scores the whole text, so the reasoning is rewrapped in
    the grammar's think tags (``think_tags``): a parsed and an unparsed completion
    score the same.

    >>> message_text({"role": "assistant", "reasoning_content": "cars (1, 2, 3, 4)",
    ...               "content": "<rethink>ok</rethink><answer>2</answer>"})
    '<think>cars (1, 2, 3, 4)</think><rethink>ok</rethink><answer>2</answer>'
    """
    text = content_text(message.get("content"))
    for key in REASONING_KEYS:
        reasoning = message.get(key)
        if isinstance(reasoning, str) and reasoning:
            return f"{think_tags[0]}{clean_text(reasoning)}{think_tags[1]}{text}"
    return text


def completion_text(completion: Any, think_tags: tuple[str, str] = THINK_TAGS) -> str:
    """The text of one completion: a string, a message, or a list of messages.

    Conversational completions (TRL's, or a logged completions table's) join the
    texts of their assistant messages (tool turns are skipped); reasoning a chat
    parser moved out of ``content`` is put back (see :func:`message_text`).
    numpy arrays (from parquet) are read as lists. Anything else becomes its
    string form; never raises.

    Examples:
        >>> completion_text("<answer>7")
        '<answer>7'
        >>> completion_text([{"role": "assistant", "content": "<answer>7"}])
        '<answer>7'
        >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>7"}]}])
        '<answer>7'
    """
    if isinstance(completion, str):
        return clean_text(completion)
    if hasattr(completion, "tolist") and not isinstance(completion, (bytes, bytearray)):
        try:
            completion = completion.tolist()
        except Exception:
            return clean_text(completion)
    if isinstance(completion, Mapping):
        return message_text(completion, think_tags)
    if isinstance(completion, (list, tuple)):
        texts = [message_text(m, think_tags) for m in completion
                 if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
        if not texts and completion and not isinstance(completion[0], Mapping):
            return content_text(completion)
        return "".join(texts)
    return clean_text(completion)


def prompt_question(prompt: Any) -> Optional[str]:
    """The text of the last user message of a prompt (string or conversational), or ``None``."""
    if prompt is None:
        return None
    if isinstance(prompt, str):
        return clean_text(prompt)
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    if isinstance(prompt, (list, tuple)):
        for message in reversed(prompt):
            if isinstance(message, Mapping) and message.get("role") == "user":
                return content_text(message.get("content"))
    return None


def finite_or_none(value: Any) -> Optional[float]:
    """``float(value)``, or ``None`` for ``None``/NaN/±inf/non-numbers (TRL turns ``None`` into "not applicable")."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------------------------
# Images


_PATH_SIZES: "OrderedDict[str, Optional[tuple[int, int]]]" = OrderedDict()
_PATH_SIZES_LOCK = threading.Lock()


def _size_of_path(path: str) -> Optional[tuple[int, int]]:
    with _PATH_SIZES_LOCK:
        if path in _PATH_SIZES:
            return _PATH_SIZES[path]
    size = None
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            size = (int(im.width), int(im.height))
    except Exception:
        size = None
    with _PATH_SIZES_LOCK:
        _PATH_SIZES[path] = size
        while len(_PATH_SIZES) > 65536:
            _PATH_SIZES.popitem(last=False)
    return size


def image_size(value: Any, image_root: Optional[str] = None) -> Optional[tuple[int, int]]:
    """``(width, height)`` of an image column value, or ``None`` when it cannot be told.

    Accepts a PIL image, a path (relative paths resolve against ``image_root``),
    a dict (``width``/``height``, or ``bytes``/``path`` as ``datasets`` stores
    undecoded images), or a list of those (the first image; TRL's ``images``).
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return image_size(value[0], image_root) if value else None
    width, height = getattr(value, "width", None), getattr(value, "height", None)
    if isinstance(width, int) and isinstance(height, int) and not isinstance(value, Mapping):
        return (width, height) if width > 0 and height > 0 else None
    if isinstance(value, Mapping):
        w, h = value.get("width"), value.get("height")
        if w and h:
            try:
                return int(w), int(h)
            except (TypeError, ValueError):
                pass
        data = value.get("bytes")
        if data:
            try:
                from PIL import Image

                with Image.open(io.BytesIO(data)) as im:
                    return int(im.width), int(im.height)
            except Exception:
                pass
        return image_size(value.get("path"), image_root) if value.get("path") else None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if image_root and not os.path.isabs(path):
            path = os.path.join(image_root, path)
        return _size_of_path(path)
    return None


# ---------------------------------------------------------------------------------------------
# Records → (text, Sample)


class RecordReader:
    """Turns records (JSON objects, trainer rows) into the completion text and a :class:`Sample`.

    One reader is built per run (a command, an adapter) and applied to every record.

    Args:
        columns: the :class:`ColumnMap` (a dict of its fields works too; ``None``: GRIT's schema).
        renames: ``{file column: gritkit field}``, applied first (see :func:`rename_fields`).
        box_format: the coordinate convention of every record; overrides the record's own
            ``box_format`` (``--box-format``, ``to_trl(box_format=...)``).
        default_box_format: used when the record names none (the config's, a model family's).
        min_pixels, max_pixels: the pixel budget for records that give none.
        image_root: folder that relative image paths resolve against, to read image sizes.
        check_box_format: a record whose box format is not registered is that record's
            :class:`DataError` (not the run's end when the composer converts its boxes).
        fix: a line appended to every :class:`DataError` (how to fix the input at hand).

    Example:
        >>> r = RecordReader(box_format="norm_1000")
        >>> r.sample({"answer": "yes", "box_format": "xyxy"}).box_format
        'norm_1000'
    """

    def __init__(self, columns: Any = None, *, renames: Optional[Mapping[str, str]] = None,
                 box_format: Optional[str] = None, default_box_format: Optional[str] = None,
                 min_pixels: Optional[int] = None, max_pixels: Optional[int] = None,
                 image_root: Optional[str] = None, check_box_format: bool = True, fix: str = "") -> None:
        self.columns = as_column_map(columns)
        self.renames = dict(renames or {})
        self.box_format = box_format
        self.default_box_format = default_box_format
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.image_root = None if image_root is None else os.fspath(image_root)
        self.check_box_format = check_box_format
        self.fix = fix

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> "RecordReader":
        """A reader with a :class:`~gritkit.config.RewardConfig`'s columns, box format and pixel budget.

        Keyword arguments override (``columns=None`` keeps the config's).
        """
        if kwargs.get("columns") is None:
            kwargs["columns"] = getattr(config, "columns", None)
        kwargs.setdefault("default_box_format", getattr(config, "box_format", None))
        kwargs.setdefault("min_pixels", getattr(config, "min_pixels", None))
        kwargs.setdefault("max_pixels", getattr(config, "max_pixels", None))
        return cls(**kwargs)

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def rename(self, record: dict) -> dict:
        """``record`` with :attr:`renames` applied (the same object when there are none)."""
        return rename_fields(record, self.renames) if self.renames else record

    def text(self, record: dict, index: Optional[int] = None) -> str:
        """The completion text of ``record`` (renames applied); ``DataError`` when missing or not a string."""
        return self._text(self.rename(record), index)

    def _text(self, record: dict, index: Optional[int]) -> str:
        try:
            return self.columns.text_of(record)
        except DataError as exc:
            where = "" if index is None else f"Record {index}: "
            raise DataError(f"{where}{exc}") from None

    def sample(self, record: Mapping[str, Any], index: Optional[int] = None, *,
               question: Optional[str] = None, completion_ids: Any = None,
               fix: Optional[str] = None) -> Sample:
        """The :class:`Sample` of ``record`` (renames applied).

        ``fix`` replaces the reader's own ``fix`` line for this record's errors (a
        trainer adapter saying which row of its batch this is).

        What the record leaves open is filled in: the image size from the ``image``
        / ``images`` column (a PIL image, a path, or a dict), the box format
        (:attr:`box_format` > the record's own > :attr:`default_box_format`), the
        pixel budget, the completion's token ids and the question.

        Raises:
            DataError: a value is unusable (the message names the record, the
                column and what was expected), or the box format is not registered.
        """
        if not isinstance(record, dict):
            if isinstance(record, Mapping):
                record = dict(record)
            else:
                where = "" if index is None else f" {index}"
                raise DataError(f"Record{where} is a {type(record).__name__}; expected a JSON object.")
        return self._sample(self.rename(record), index, question, completion_ids,
                            self.fix if fix is None else fix)

    def read(self, record: dict, index: Optional[int] = None) -> tuple[str, Sample]:
        """``(text, sample)`` of one record, renames applied once."""
        if not isinstance(record, dict):
            where = "" if index is None else f" {index}"
            raise DataError(f"Record{where} is a {type(record).__name__}; expected a JSON object.")
        record = self.rename(record)
        return self._text(record, index), self._sample(record, index, None, None, self.fix)

    def _sample(self, record: dict, index: Optional[int], question: Optional[str],
                completion_ids: Any, fix: str) -> Sample:
        try:
            sample = self.columns.to_sample(
                record, default_box_format=self.default_box_format, default_min_pixels=self.min_pixels,
                default_max_pixels=self.max_pixels, index=index)
        except DataError as exc:
            if fix:
                raise DataError(f"{exc}\n{fix}") from None
            raise
        update: dict[str, Any] = {}
        if sample.image_size is None:
            for key in ("image", "images"):
                if record.get(key) is not None:
                    size = image_size(record[key], self.image_root)
                    if size is not None:
                        update["image_size"] = ImageSize(width=size[0], height=size[1])
                    break
        if self.box_format and self.box_format != sample.box_format:
            update["box_format"] = self.box_format
        if completion_ids is not None and sample.completion_ids is None:
            try:
                update["completion_ids"] = tuple(map(int, completion_ids))
            except (TypeError, ValueError):
                pass
        if question and sample.question is None:
            update["question"] = question
        if update:
            sample = sample.model_copy(update=update)
        if self.check_box_format and sample.box_format is not None:
            _check_box_format(sample.box_format, index, fix)
        return sample


def _check_box_format(name: str, index: Optional[int], fix: str) -> None:
    from gritkit.errors import unknown_name_message
    from gritkit.plugins import get_plugin_manager

    known = get_plugin_manager().box_formats.entries
    if name not in known:
        where = "" if index is None else f"Record {index}: "
        raise DataError(where + unknown_name_message(
            "box format", name, known, fix or "Fix the record's box_format, or give --box-format NAME."))


def as_column_map(columns: Any = None) -> "ColumnMap":
    """A :class:`ColumnMap` from ``None`` (GRIT's schema), a mapping of its fields, or a ColumnMap."""
    if columns is None:
        return _DEFAULT_MAP
    if isinstance(columns, ColumnMap):
        return columns
    if isinstance(columns, Mapping):
        try:
            return ColumnMap.model_validate(to_plain(columns))
        except Exception as exc:
            raise ConfigError(
                f"Invalid column map {dict(columns)!r}: {exc}\n"
                f"Expected the fields of gritkit.records.ColumnMap: {', '.join(ColumnMap.model_fields)}.") from exc
    raise ConfigError(f"columns must be a dict or a gritkit.records.ColumnMap, not {type(columns).__name__}.")


def check_columns(present: Iterable[str], cmap: Any, needed: Mapping[str, list[str]], *, where: str,
                  fix: str) -> None:
    """Raise :class:`DataError` when a field some reward needs has none of its columns present."""
    present = set(present)
    for field, users in needed.items():
        columns = tuple(getattr(cmap, field, ()) or ())
        if columns and not present.intersection(columns):
            raise DataError(
                f"The reward(s) {', '.join(map(repr, users))} need the sample's {field!r}, but {where} has "
                f"none of its columns ({', '.join(map(repr, columns))}).\n"
                f"Columns present: {', '.join(sorted(present)) or '(none)'}.\n{fix}")


# ---------------------------------------------------------------------------------------------
# Trainer rows (verl, EasyR1)


def parse_ground_truth(ground_truth: Any) -> dict[str, Any]:
    """A row dict from a trainer's ``ground_truth``: a dict, a JSON object string, or a plain answer.

    Examples:
        >>> parse_ground_truth("7")
        {'answer': '7'}
        >>> parse_ground_truth('{"answer": "Yes", "bboxs": [[0, 0, 5, 5]], "width": 10, "height": 10}')["width"]
        10
        >>> parse_ground_truth({"answer": 3})
        {'answer': 3}
    """
    if ground_truth is None:
        return {}
    if isinstance(ground_truth, Mapping):
        return _gt_aliases(dict(ground_truth))
    if isinstance(ground_truth, (bytes, bytearray)):
        ground_truth = bytes(ground_truth).decode("utf-8", "replace")
    if isinstance(ground_truth, str):
        text = ground_truth.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return _gt_aliases(value)
        return {"answer": ground_truth}
    if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
        return {"answer": ground_truth}
    if hasattr(ground_truth, "tolist"):  # numpy scalars / arrays from parquet
        return parse_ground_truth(ground_truth.tolist())
    return {"answer": str(ground_truth)}


def _gt_aliases(value: dict) -> dict:
    # Common spellings in verl/EasyR1 data: boxes / size → GRIT's bboxs / width, height.
    out = dict(value)
    if "boxes" in out and "bboxs" not in out and "gt_boxes" not in out:
        out["bboxs"] = out.pop("boxes")
    size = out.pop("size", None) if "width" not in out else None
    if isinstance(size, (list, tuple)) and len(size) == 2:
        out["width"], out["height"] = size
    elif isinstance(size, Mapping):
        out.setdefault("width", size.get("width"))
        out.setdefault("height", size.get("height"))
    return out


def to_plain(value: Any) -> Any:
    """Plain Python data from what trainers hand over, recursively.

    numpy arrays and scalars (parquet rows in verl) become lists and numbers; any
    mapping (OmegaConf's ``DictConfig``) becomes a ``dict``; any other sized,
    iterable container (``ListConfig``, tuples) becomes a ``list``.

    >>> to_plain({"a": (1, 2), "b": {"c": [3]}})
    {'a': [1, 2], 'b': {'c': [3]}}
    """
    if isinstance(value, (str, bytes, bytearray)) or value is None:
        return value
    if hasattr(value, "tolist"):
        try:
            return to_plain(value.tolist())
        except Exception:
            return value
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and hasattr(value, "__len__")
                                           and not isinstance(value, (set, frozenset))):
        return [to_plain(v) for v in value]
    return value
