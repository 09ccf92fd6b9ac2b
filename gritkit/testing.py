"""Test helpers for gritkit plugin authors; also a pytest plugin (entry point ``pytest11``).

Fixtures (available in every pytest run once gritkit is installed):

* ``grit_pm``: a fresh, isolated plugin manager with the built-in plugins only
  (no entry points, no ``GRITKIT_*`` variables), active while the test runs.
* ``registered``: a function that registers plugins for the rest of the test
  (``registered(my_module)``, ``registered(my_reward_fn)``); undone at teardown.

Helpers:

* :func:`registered`: the same as a context manager.
* :func:`score`: parse a completion and score it with one reward in one call.
* :func:`load_reward_cases`: data-driven YAML cases, each with ``.check()``.
* :func:`assert_picklable`: a pickle round trip that keeps ``__name__``.

Example::

    from gritkit.testing import registered, score
    import gritkit_center

    def test_center_hit(grit_pm):
        with registered(gritkit_center):
            assert score("center_hit", "<answer>(0, 0, 10, 10)</answer>", width=10, height=10) == 1.0

This module stays cheap to import (pytest loads it in every run): gritkit's
own modules are imported inside the functions.
"""

from __future__ import annotations

import glob as _glob
import inspect
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import pytest

__all__ = ["RewardCase", "assert_picklable", "load_reward_cases", "make_sample", "registered", "score"]


@contextmanager
def registered(*plugins: Any, pm=None) -> Iterator[list[str]]:
    """Register plugins on the active plugin manager for the duration of a block.

    Args:
        *plugins: modules or objects with ``@gritkit.hookimpl`` functions, bare
            hook functions (``register_rewards(register)``), bare reward
            functions (registered under their own name, ``_reward`` stripped),
            or paths of ``.py`` plugin files.
        pm: the plugin manager (default: :func:`gritkit.get_plugin_manager`, i.e.
            the isolated one inside ``grit_pm``).

    Yields:
        The plugins' names.

    >>> from gritkit.plugins import isolated_plugin_manager
    >>> def shout(result, sample):
    ...     return 1.0
    >>> with isolated_plugin_manager(builtins=False) as pm:
    ...     with registered(shout):
    ...         print(pm.rewards.names())
    ...     print(pm.rewards.names())
    ['shout']
    []
    """
    from gritkit.plugins import _load_local, get_plugin_manager

    pm = pm if pm is not None else get_plugin_manager()
    names: list[str] = []
    try:
        for plugin in plugins:
            if isinstance(plugin, (str, os.PathLike)):
                plugin, name, _ = _load_local(plugin)
                names.append(pm.add_plugin(plugin, name=name, kind="local"))
            else:
                names.append(pm.add_plugin(plugin))
        yield names
    finally:
        for name in reversed(names):
            pm.remove_plugin(name, collect=False)
        pm.collect()


def make_sample(**fields: Any):
    """A :class:`~gritkit.models.Sample` from keyword fields.

    Accepts the ``Sample`` field names (``answer``, ``gt_boxes``, ``dataset``,
    ``box_format``, ...), GRIT's column names (``gt_answer``, ``bboxs``,
    ``width``, ``height``) and ``image_size=(width, height)``; anything else
    goes to ``extra``.

    >>> make_sample(answer=7, width=640, height=480, split="train").image_size.width
    640
    """
    from gritkit.models import Sample
    from gritkit.records import ColumnMap

    fields = dict(fields)
    size = fields.pop("image_size", None)
    if size is not None:
        if isinstance(size, dict):
            fields["width"], fields["height"] = size["width"], size["height"]
        elif hasattr(size, "width"):
            fields["width"], fields["height"] = size.width, size.height
        else:
            fields["width"], fields["height"] = size
    extra = fields.pop("extra", None) or {}
    sample = ColumnMap().to_sample(fields)
    if extra:
        sample = Sample(**{**sample.model_dump(exclude={"extra"}), "extra": {**sample.extra, **extra}})
    return sample


def score(reward: Union[str, Callable[..., Any]], completion: str, *, options: Optional[dict] = None,
          grammar: str = "grit", pm=None, **sample_fields: Any) -> Optional[float]:
    """Parse ``completion`` and score it with one reward.

    Args:
        reward: a registered reward name, or a reward function
            ``fn(result, sample[, options])`` (sync or async).
        completion: the completion text.
        options: the reward's options (validated against its options model).
        grammar: the grammar to parse with.
        pm: the plugin manager (default: the active one).
        **sample_fields: the sample, as for :func:`make_sample`.

    Returns:
        The reward's value (``None``: not applicable).

    Raises:
        RewardError: the reward raised (the cause is chained).
        ConfigError: unknown reward or invalid options.

    >>> score(lambda result, sample: float(len(result.boxes)), "<think>(1, 2, 3, 4)</think>")
    1.0
    """
    from gritkit.compose import Composer, run_coroutine
    from gritkit.parsing import try_parse

    sample = make_sample(**sample_fields)
    if callable(reward) and not isinstance(reward, str):
        result = try_parse(completion, grammar)
        value = reward(result, sample) if options is None else reward(result, sample, options)
        if inspect.isawaitable(value):
            async def wait():
                return await value
            value = run_coroutine(wait())
        return None if value is None else float(value)
    config = {"rewards": [{"name": reward, "options": options or {}}], "grammar": grammar}
    composer = Composer(config, pm, warn=False)
    return composer.score(completion, sample).rewards[reward]


class RewardCase:
    """One data-driven reward case (see :func:`load_reward_cases`).

    Attributes:
        id: ``file.yaml::name`` (or ``::#index``).
        reward, completion, sample, options, expected, approx, grammar: the case.
    """

    KEYS = {"name", "reward", "completion", "sample", "options", "expected", "approx", "grammar"}

    def __init__(self, *, id: str, reward: str, completion: str, sample: dict, options: dict,
                 expected: Optional[float], approx: float, grammar: str) -> None:
        self.id = id
        self.reward = reward
        self.completion = completion
        self.sample = sample
        self.options = options
        self.expected = expected
        self.approx = approx
        self.grammar = grammar

    def __repr__(self) -> str:
        return f"RewardCase({self.id})"

    def __str__(self) -> str:  # for pytest's ``ids=str``
        return self.id

    def run(self, pm=None) -> Optional[float]:
        """The reward's value on this case."""
        return score(self.reward, self.completion, options=self.options or None, grammar=self.grammar,
                     pm=pm, **self.sample)

    def check(self, pm=None) -> None:
        """Assert that the reward gives ``expected`` (within ``approx``)."""
        got = self.run(pm)
        if self.expected is None:
            assert got is None, f"{self.id}: reward {self.reward!r} gave {got!r}, expected None"
            return
        assert got is not None, f"{self.id}: reward {self.reward!r} gave None, expected {self.expected!r}"
        assert math.isclose(got, self.expected, rel_tol=0.0, abs_tol=self.approx), (
            f"{self.id}: reward {self.reward!r} gave {got!r}, expected {self.expected!r} ± {self.approx}")


def _caller_dir(depth: int = 2) -> Optional[Path]:
    frame = inspect.stack()[depth]
    filename = frame.filename
    return Path(filename).resolve().parent if filename and os.path.exists(filename) else None


def load_reward_cases(pattern: str, *, approx: float = 1e-9) -> list[RewardCase]:
    """Load data-driven reward cases from YAML files.

    Each file is either a list of cases or a mapping with a default ``reward``
    (and optionally its ``options``, ``grammar``, ``approx``) and a ``cases`` list.
    A case has ``completion``, ``expected`` (a number or ``null``), and
    optionally ``name``, ``reward``, ``sample`` (fields as for :func:`score`),
    ``options``, ``approx`` (absolute tolerance) and ``grammar``::

        reward: center_hit
        cases:
          - name: hit
            completion: "<answer>(0, 0, 10, 10)</answer>"
            sample: {width: 10, height: 10}
            expected: 1.0

    A relative ``pattern`` is looked up next to the calling test file first,
    then in the current directory.

    Args:
        pattern: a glob, e.g. ``"cases/*.yaml"``.
        approx: the default absolute tolerance.

    Returns:
        The cases; use ``@pytest.mark.parametrize("case", load_reward_cases(...), ids=str)``
        and call ``case.check()``.

    Raises:
        FileNotFoundError: nothing matches ``pattern`` (a test without cases
            would pass without testing anything).
        ValueError: a case is malformed; the message names the file and case.
    """
    import yaml

    paths: list[str] = []
    if not os.path.isabs(pattern):
        base = _caller_dir()
        if base is not None:
            paths = sorted(_glob.glob(str(base / pattern), recursive=True))
    if not paths:
        paths = sorted(_glob.glob(pattern, recursive=True))
    if not paths:
        raise FileNotFoundError(f"No reward case files match {pattern!r} (looked next to the test file "
                                f"and in {os.getcwd()}).")
    cases: list[RewardCase] = []
    for path in paths:
        label = os.path.basename(path)
        with open(path, encoding="utf-8") as fh:
            try:
                data = yaml.safe_load(fh)
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        defaults: dict[str, Any] = {}
        if isinstance(data, dict):
            unknown = set(data) - {"reward", "options", "grammar", "approx", "cases"}
            if unknown or "cases" not in data:
                raise ValueError(f"{path}: a case file is a list of cases, or a mapping with 'cases' "
                                 f"(and reward, options, grammar, approx); got keys {sorted(data)}")
            defaults = {k: v for k, v in data.items() if k != "cases"}
            data = data["cases"]
        if not isinstance(data, list) or not data:
            raise ValueError(f"{path}: expected a non-empty list of cases")
        for i, raw in enumerate(data):
            where = f"{path}, case {i}"
            if not isinstance(raw, dict):
                raise ValueError(f"{where}: a case is a mapping, got {type(raw).__name__}")
            unknown = set(raw) - RewardCase.KEYS
            if unknown:
                raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(RewardCase.KEYS)}")
            for key in ("completion", "expected"):
                if key not in raw:
                    raise ValueError(f"{where}: missing {key!r}")
            reward = raw.get("reward", defaults.get("reward"))
            if not isinstance(reward, str):
                raise ValueError(f"{where}: no reward name (set 'reward' in the case or the file)")
            if not isinstance(raw["completion"], str):
                raise ValueError(f"{where}: 'completion' must be a string")
            expected = raw["expected"]
            if expected is not None and (isinstance(expected, bool) or not isinstance(expected, (int, float))):
                raise ValueError(f"{where}: 'expected' must be a number or null, got {expected!r}")
            sample = raw.get("sample") or {}
            if not isinstance(sample, dict):
                raise ValueError(f"{where}: 'sample' must be a mapping of sample fields")
            # the file's options belong to the file's reward; a case naming another reward has its own
            base = defaults.get("options") if reward == defaults.get("reward") else None
            options = {**(base or {}), **(raw.get("options") or {})}
            name = raw.get("name", f"#{i}")
            cases.append(RewardCase(
                id=f"{label}::{name}", reward=reward, completion=raw["completion"], sample=sample,
                options=options, expected=None if expected is None else float(expected),
                approx=float(raw.get("approx", defaults.get("approx", approx))),
                grammar=raw.get("grammar", defaults.get("grammar", "grit"))))
    return cases


def assert_picklable(obj: Any, *, call_with: Optional[tuple] = None) -> Any:
    """Pickle round trip (what TRL's async workers do to reward functions).

    Asserts that ``obj`` survives ``pickle.dumps``/``loads``, that ``__name__``
    is kept, and, with ``call_with=(args...)``, that the copy returns what the
    original returns.

    Returns:
        The copy.

    >>> from gritkit.compose import _float_or_error
    >>> assert_picklable(_float_or_error).__name__
    '_float_or_error'
    """
    import pickle

    try:
        data = pickle.dumps(obj)
    except Exception as exc:
        raise AssertionError(f"{obj!r} is not picklable: {type(exc).__name__}: {exc}. Reward functions must be "
                             "module-level functions or instances of module-level classes, not closures "
                             "or lambdas.") from exc
    copy = pickle.loads(data)
    name = getattr(obj, "__name__", None)
    assert getattr(copy, "__name__", None) == name, (
        f"__name__ changed in the round trip: {name!r} -> {getattr(copy, '__name__', None)!r}")
    if call_with is not None:
        expected, got = obj(*call_with), copy(*call_with)
        assert got == expected, f"the unpickled copy returns {got!r}, the original {expected!r}"
    return copy


# ------------------------------------------------------------------------------------------
# pytest fixtures


@pytest.fixture
def grit_pm():
    """A fresh plugin manager with the built-ins only, active for the test."""
    from gritkit.plugins import isolated_plugin_manager

    with isolated_plugin_manager(builtins=True, entry_points=False) as pm:
        yield pm


@pytest.fixture(name="registered")
def _registered_fixture():
    """``registered(*plugins)`` registers plugins until the test ends."""
    stack = []

    def register(*plugins: Any, pm=None) -> list[str]:
        cm = registered(*plugins, pm=pm)
        names = cm.__enter__()
        stack.append(cm)
        return names

    yield register
    while stack:
        stack.pop().__exit__(None, None, None)
