"""gritkit: grammar-checked parsing, reward plugins and GRPO adapters for VLMs that think with images.

>>> import gritkit
>>> r = gritkit.try_parse("<think>the cat (10, 20, 30, 40)</think><rethink>ok</rethink><answer>1")
>>> r.ok, len(r.boxes), r.answer
(True, 1, '1')

Importing gritkit loads no plugin and no heavy dependency; everything below is
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    # parsing
    "parse": "gritkit.parsing",
    "try_parse": "gritkit.parsing",
    "clear_cache": "gritkit.parsing",
    # models
    "Box": "gritkit.models",
    "Section": "gritkit.models",
    "Deviation": "gritkit.models",
    "ErrorInfo": "gritkit.models",
    "GroundedOutput": "gritkit.models",
    "ParseResult": "gritkit.models",
    "Sample": "gritkit.models",
    "ImageSize": "gritkit.models",
    # errors
    "GritError": "gritkit.errors",
    "GritSyntaxError": "gritkit.errors",
    "GrammarError": "gritkit.errors",
    "ConfigError": "gritkit.errors",
    "PluginError": "gritkit.errors",
    "RewardError": "gritkit.errors",
    "DataError": "gritkit.errors",
    # plugins
    "hookimpl": "gritkit.hookspecs",
    "RewardOptions": "gritkit.registry",
    "get_plugin_manager": "gritkit.plugins",
    "reset_plugin_manager": "gritkit.plugins",
    # composition
    "RewardConfig": "gritkit.config",
    "RewardSpec": "gritkit.config",
    "ColumnMap": "gritkit.records",
    "RecordReader": "gritkit.records",
    "load_config": "gritkit.config",
    "Composer": "gritkit.compose",
    "compose": "gritkit.compose",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gritkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from gritkit.compose import Composer, compose
    from gritkit.config import RewardConfig, RewardSpec, load_config
    from gritkit.errors import (ConfigError, DataError, GrammarError, GritError, GritSyntaxError,
                                PluginError, RewardError)
    from gritkit.hookspecs import hookimpl
    from gritkit.models import (Box, Deviation, ErrorInfo, GroundedOutput, ImageSize, ParseResult,
                                Sample, Section)
    from gritkit.parsing import clear_cache, parse, try_parse
    from gritkit.plugins import get_plugin_manager, reset_plugin_manager
    from gritkit.records import ColumnMap, RecordReader
    from gritkit.registry import RewardOptions
