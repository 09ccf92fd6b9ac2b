"""The plugin API: gritkit's two hook specifications.

A plugin is a module (or object) with functions marked ``@gritkit.hookimpl``
whose names match the specs below. Plugins are found through the ``gritkit``
entry-point group, the ``GRITKIT_PLUGINS`` variable, ``gritkit -p FILE``, or
registered in code; the built-in rewards in ``plugins/`` use these same hooks.

Example (a whole plugin)::

    import gritkit

    def center_hit(result, sample):
        if not result.ok:
            return 0.0
        ...

    @gritkit.hookimpl
    def register_rewards(register):
        register(center_hit, name="center_hit", description="first box holds the centre")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar, cast

import pluggy

if TYPE_CHECKING:  # annotation-only imports keep this module cheap
    from gritkit.registry import BoxFormatRegistry, RewardRegistry

PROJECT = "gritkit"

F = TypeVar("F", bound=Callable[..., object])
hookspec = cast(Callable[[F], F], pluggy.HookspecMarker(PROJECT))
hookimpl = cast(Callable[[F], F], pluggy.HookimplMarker(PROJECT))


@hookspec
def register_rewards(register: "RewardRegistry") -> None:
    """Register reward functions, usable by name in reward configs and presets.

    Called once, when the plugin manager first loads (lazily, on the first
    lookup of a reward), for every plugin that implements it.

    Args:
        register: the :class:`~gritkit.registry.RewardRegistry`. Call it as
            ``register(fn, name=..., options=OptionsModel, description=...)``
            (``register.reward(...)`` is the same). A reward function takes
            ``(result: ParseResult, sample: Sample)`` and, when it declares an
            ``options`` model, a third argument with the validated options; it
            returns a ``float``, or ``None`` for "not applicable". Pass
            ``batched=True`` for a function over lists, or register an
            ``async def`` function. A duplicate name is an error unless
            ``replace=True``.

    Example:
        >>> @hookimpl
        ... def register_rewards(register):
        ...     register(lambda result, sample: float(result.ok), name="parses")
    """


@hookspec
def register_box_formats(register: "BoxFormatRegistry") -> None:
    """Register coordinate conventions that map written box numbers to pixels.

    Called once, when the plugin manager first loads. Geometric rewards convert
    every predicted box to absolute ``x1, y1, x2, y2`` pixels of the original
    image through the convention named by the sample (``Sample.box_format``)
    before comparing it with ground truth.

    Args:
        register: the :class:`~gritkit.registry.BoxFormatRegistry`. Call it as
            ``register(name, to_pixels, description=...)`` where
            ``to_pixels(coords, sample) -> (x1, y1, x2, y2)`` converts four
            written numbers to original-image pixels (``sample.image_size`` is
            known when it is called; raise ``ValueError`` when the convention
            needs something the sample lacks).

    Example:
        >>> @hookimpl
        ... def register_box_formats(register):
        ...     register("yxyx", lambda c, s: (c[1], c[0], c[3], c[2]))
    """
