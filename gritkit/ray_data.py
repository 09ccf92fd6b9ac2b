"""Scoring a large outputs file with Ray Data: when one machine (``gritkit score --workers N``) is not enough.

The recipe::

    import ray
    from gritkit.ray_data import ScoreLines, score_with_ray

    ray.init()                                   # or ray.init(address="auto") on a cluster
    for obj in score_with_ray("outputs.jsonl", config="grit", actors=8, num_cpus=1):
        ...                                      # the objects `gritkit score --json` writes, in input order

or, to compose it with other Ray Data steps yourself::

    ds = ray.data.read_text("outputs.jsonl", drop_empty_lines=False)
    ds = ds.map_batches(ScoreLines, fn_constructor_kwargs={"config": "grit"}, batch_size=1000,
                        compute=ray.data.ActorPoolStrategy(size=8), num_cpus=1)

Why it looks like this:

* **``read_text`` plus JSON per line**, not ``read_json``: ``read_json`` infers one
  type per column and rejects GRIT files whose ``answer`` mixes numbers and strings
  (the test checks it: the same records with string answers read fine), and a
  single bad line fails the whole read. ``drop_empty_lines=False`` keeps blank
  lines, so no line is lost (they come back as error objects).
* **A callable class** (:class:`ScoreLines`): each actor builds its
  :class:`~gritkit.compose.Composer` once and scores a whole batch with one
  ``score_many`` call, exactly as ``gritkit score`` scores a chunk (the same code).
* **``num_cpus`` per actor** must let the actor pool fit the cluster: on a 2-CPU
  machine, 2 actors with the default ``num_cpus=1`` left Ray nothing for the read
  tasks and it hung; ``num_cpus=0.5`` works.
* **Order**: ``score_with_ray`` sets ``preserve_order`` so the objects come back in
  input order and get their record numbers (a batch does not know where it starts).
  Errors of lines that are not JSON objects are renumbered to the file's lines;
  other errors are those of ``gritkit score``.

Ray itself is not a gritkit dependency: install it (tested with ``ray[data]==2.60.0``,
see ``constraints-verl.txt``). This module imports Ray only inside
:func:`score_with_ray`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Optional

__all__ = ["ScoreLines", "score_with_ray"]

_LINE_PREFIX = re.compile(r"^line \d+: ")


class ScoreLines:
    """A ``map_batches`` callable: a batch of raw JSON Lines (column ``text``) → ``gritkit score`` objects.

    Args:
        config: a preset name, config file, mapping or ``RewardConfig`` (default ``"grit"``).
        field_renames: ``{"new name": "name in the file"}``, as ``gritkit score --field``.
        box_format: the coordinate convention, as ``gritkit score --box-format``.

    Each output row has ``record`` (the index within the batch; :func:`score_with_ray`
    turns it into the file's), ``ok``, ``total``, ``rewards`` (a JSON string, since
    Arrow wants one type per column) and ``error`` (``""`` when none).
    """

    def __init__(self, config: Any = "grit", field_renames: Optional[Mapping[str, str]] = None,
                 box_format: Optional[str] = None):
        from gritkit.commands.score import Scorer
        from gritkit.config import load_config

        self.scorer = Scorer(load_config(config), dict(field_renames or {}), box_format)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list]:
        import json

        from gritkit.io import parse_line

        lines = [parse_line(raw, i) for i, raw in enumerate(batch["text"])]
        objs = self.scorer.score_chunk([tuple(line) for line in lines])
        bad_line = [line.error is not None for line in lines]
        return {
            "record": [o["record"] for o in objs],
            "ok": [bool(o["ok"]) for o in objs],
            "total": [o["total"] for o in objs],
            "rewards": [json.dumps(o["rewards"]) for o in objs],
            "error": [_LINE_PREFIX.sub("", o.get("error") or "") if bad else (o.get("error") or "")
                      for o, bad in zip(objs, bad_line)],
            "line_error": bad_line,
        }


def score_with_ray(path: str, config: Any = "grit", *, actors: int = 2, num_cpus: float = 0.5,
                   batch_size: int = 1000, field_renames: Optional[Mapping[str, str]] = None,
                   box_format: Optional[str] = None) -> Iterator[dict]:
    """Score a JSON Lines file on the running Ray cluster; yield ``gritkit score --json`` objects in order.

    Args:
        path: the outputs file (anything ``ray.data.read_text`` reads: local, ``s3://`` …).
        config, field_renames, box_format: as :class:`ScoreLines`.
        actors: the actor pool's size.
        num_cpus: CPUs each actor reserves; ``actors * num_cpus`` must leave room for
            Ray's read tasks (on 2 CPUs: 2 actors at 0.5).
        batch_size: lines per ``map_batches`` batch.

    Yields:
        ``{"record", "ok", "total", "rewards", "error"?}`` for every line of the file.

    Raises:
        ImportError: Ray is not installed (``pip install 'ray[data]'``).
    """
    import json

    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("score_with_ray needs Ray: pip install 'ray[data]' (tested with 2.60).") from exc

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.read_text(path, drop_empty_lines=False)
    ds = ds.map_batches(ScoreLines, fn_constructor_kwargs={"config": config, "field_renames": field_renames,
                                                           "box_format": box_format},
                        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                        num_cpus=num_cpus)
    for index, row in enumerate(ds.iter_rows()):
        obj = {"record": index, "ok": bool(row["ok"]), "total": _number(row["total"]),
               "rewards": json.loads(row["rewards"])}
        if row["error"]:
            obj["error"] = f"line {index + 1}: {row['error']}" if row["line_error"] else row["error"]
        yield obj


def _number(value: Any) -> Optional[float]:
    # pandas turns a column of floats and Nones into floats and NaN
    if value is None:
        return None
    value = float(value)
    return None if value != value else value
