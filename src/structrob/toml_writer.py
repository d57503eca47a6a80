"""TOML text from nested mappings: the one writer behind ``structrob config`` and the report.

The standard library reads TOML (``tomllib``) but does not write it; this module writes the
subset a study configuration needs: strings, booleans, integers, floats, arrays and tables.
TOML has no null, so keys whose value is None are left out (reading the text back gives the
mapping without them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: object) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{" + items + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as TOML text: top-level keys first, then one ``[section]`` per nested table.

    Parameters
    ----------
    data : mapping
        Nested mapping of str keys. Values are written as TOML scalars or arrays; other objects
        (paths, ...) as quoted strings; None values are left out.

    Returns
    -------
    str
        Text that ``tomllib.loads`` reads back into ``data`` (less its None values), ending in a
        newline.

    Examples
    --------
    >>> text = dumps({"name": "quick", "seed": 0, "out": None,
    ...               "plan": {"sizes": [400, 500], "train": {"lr": 0.001}}})
    >>> print(text, end="")
    name = "quick"
    seed = 0
    <BLANKLINE>
    [plan]
    sizes = [400, 500]
    <BLANKLINE>
    [plan.train]
    lr = 0.001
    >>> import tomllib; tomllib.loads(text)["plan"]["train"]
    {'lr': 0.001}
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping of str keys, got {type(data).__name__}")
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: list[str]) -> None:
        scalars = [(k, v) for k, v in table.items() if v is not None and not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars)
        for key, sub in tables:
            emit(sub, [*path, _key(key)])

    emit(data, [])
    return "\n".join(lines) + "\n"
