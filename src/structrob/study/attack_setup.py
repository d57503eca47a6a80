"""The study's attacks built from its settings: where ``attacks.*`` keys meet constructors.

:func:`build_attacks` is the one place that turns an :class:`~structrob.study.config.
AttacksConfig` into attack objects. The driver calls it once when a study starts, before any
sampling or training, so a setting the configuration accepts but an attack's constructor
refuses (``attacks.min_fgsm.start = 0``, a ``start`` above ``max_eps``) is reported at once,
as a :class:`~structrob.study.config.ConfigError` naming the key; each unit then builds its
attacks the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from structrob import attacks
from structrob.seeds import derive_seed
from structrob.study.config import AttacksConfig, ConfigError

__all__ = ["build_attacks"]

#: Attack seeds are drawn below 2**31 (the attacks' generators take 32-bit seeds).
_SEED_RANGE = 2**31


def _fgsm(c: Any, seed: int) -> Any:
    return attacks.FGSM(eps=c.eps)


def _min_fgsm(c: Any, seed: int) -> Any:
    return attacks.MinimalFGSM(start=c.start, step=c.step, max_eps=c.max_eps)


def _onepixel(c: Any, seed: int) -> Any:
    return attacks.OnePixel(
        pop_size=c.pop_size,
        max_iter=c.max_iter,
        n_images=c.images,
        strategy=c.strategy,
        mutation=tuple(c.mutation) if isinstance(c.mutation, list) else c.mutation,
        recombination=c.recombination,
        integer_candidates=c.integer_candidates,
        out_of_bounds=c.out_of_bounds,
        selection=c.selection,
        early_stop=c.early_stop,
        seed=derive_seed(seed, "onepixel") % _SEED_RANGE,
        # a study stores the error rate and the confidence over successes, which a search of
        # an image the line tables prove robust cannot change: such searches are not run
        skip_proven=True,
    )


def _pgd(c: Any, seed: int) -> Any:
    return attacks.PGD(
        eps=c.eps,
        step_size=c.step_size,
        steps=c.steps,
        random_start=c.random_start,
        seed=derive_seed(seed, "pgd") % _SEED_RANGE,
    )


#: attack -> (constructor from its settings and the study seed, constructor arguments whose
#: setting has another name). The order is the order units run the attacks in.
_BUILDERS: dict[str, tuple[Callable[[Any, int], Any], dict[str, str]]] = {
    "fgsm": (_fgsm, {}),
    "min_fgsm": (_min_fgsm, {}),
    "onepixel": (_onepixel, {"n_images": "images"}),
    "pgd": (_pgd, {}),
}


def _config_error(name: str, settings: Any, renames: dict[str, str], error: ValueError) -> str:
    """``attacks.<name>.<key>: <what is wrong>; set it to <what is allowed>``."""
    text = str(error)
    fields = [f for f in type(settings).model_fields if f != "enabled"]
    arguments = {**{f: f for f in fields}, **renames}
    pattern = r"\b(" + "|".join(re.escape(a) for a in sorted(arguments, key=len, reverse=True))
    found = re.search(pattern + r")\b", text)
    if found is None:
        return f"attacks.{name}: {text}"
    detail = text[found.end() :].strip()
    allowed = re.match(r"must be (.+?), got ", detail)
    hint = f"; set it to {allowed.group(1)}" if allowed else ""
    return f"attacks.{name}.{arguments[found.group(1)]}: {detail}{hint}"


def build_attacks(settings: AttacksConfig, seed: int) -> dict[str, Any]:
    r"""Every enabled attack, constructed from its settings (each constructor checks them).

    Parameters
    ----------
    settings : AttacksConfig
        The study's ``attacks`` settings.
    seed : int
        The study seed; One-Pixel's and PGD's seeds derive from it.

    Returns
    -------
    dict
        Attack name -> attack object (:class:`structrob.attacks.FGSM`, ``MinimalFGSM``,
        ``OnePixel``, ``PGD``), enabled attacks only, in the order units run them.

    Raises
    ------
    ConfigError
        A setting an attack refuses, e.g. ``attacks.min_fgsm.start: must be a number > 0.0
        and <= 1.0, got 0.0; set it to a number > 0.0 and <= 1.0``.

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> list(build_attacks(load_preset("quick").attacks, seed=0))
    ['fgsm', 'min_fgsm', 'onepixel', 'pgd']
    >>> bad = apply_overrides(load_preset("quick"), ["attacks.min_fgsm.start=0"])
    >>> try:
    ...     build_attacks(bad.attacks, seed=0)
    ... except ConfigError as error:
    ...     print(str(error).replace("; ", ";\n"))
    attacks.min_fgsm.start: must be a number > 0.0 and <= 1.0, got 0.0;
    set it to a number > 0.0 and <= 1.0
    """
    built = {}
    for name, (construct, renames) in _BUILDERS.items():
        section = getattr(settings, name)
        if not section.enabled:
            continue
        try:
            built[name] = construct(section, seed)
        except ValueError as error:
            raise ConfigError(_config_error(name, section, renames, error)) from None
    return built
