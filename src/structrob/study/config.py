"""Study configuration: a TOML file validated by pydantic, presets, ``--set`` overrides.

A study's settings split in two: those that change results (graphs, training, attacks,
pruning, data, seed) and those that only change how it runs (executor, workers, device,
progress). Only the first part is hashed into unit ids and guarded against changes under an
existing study directory.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from structrob import toml_writer
from structrob.graphs import GENERATORS
from structrob.validation import check_int
from structrob.vocabulary import INIT_SCHEMES

__all__ = [
    "ConfigError",
    "StudyConfig",
    "apply_overrides",
    "config_hash",
    "grid_axes",
    "list_presets",
    "load_config",
    "load_preset",
    "preset_text",
    "science",
    "to_toml",
]

RUNTIME_KEYS = ("executor", "workers", "threads", "ray_address", "device", "retries")


class ConfigError(ValueError):
    """A study configuration that cannot be used; the message names the key and what is allowed.

    Examples
    --------
    >>> try:
    ...     apply_overrides(load_preset("quick"), ["train.epochs=0"])
    ... except ConfigError as error:
    ...     print(error)
    invalid study configuration:
      train.epochs: Input should be greater than or equal to 1
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: Marks a setting added after studies were first run: left out of the science hash and of
#: unit ids while it has its default, so adding it changed no existing study's hash or seeds.
_LATER = {"omit_at_default": True}


def _later(default: Any, **kwargs: Any) -> Any:
    """A :func:`pydantic.Field` for a setting added later (marked :data:`_LATER`)."""
    return Field(default, json_schema_extra=_LATER, **kwargs)


def hashed(model: BaseModel) -> dict[str, Any]:
    """A settings model as the JSON mapping hashes are taken over.

    Every field as ``model_dump(mode="json")`` gives it, except fields marked as added later
    (``omit_at_default``) while they hold their default: those are left out, so adding an
    option changes the hash of no study that does not use it.

    Parameters
    ----------
    model : pydantic.BaseModel
        A study config or one of its sections.

    Returns
    -------
    dict

    Examples
    --------
    >>> "rewiring" in hashed(GraphsConfig()), hashed(GraphsConfig(rewiring="endpoints"))["rewiring"]
    (False, 'endpoints')
    """
    data = model.model_dump(mode="json")
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("omit_at_default") and value == field.default:
            del data[name]
        elif isinstance(value, BaseModel):
            data[name] = hashed(value)
    return data


def grid_axes(generator: str) -> list[str]:
    """The grid keys of a generator, in the order draws take them: its required parameters.

    The grid spans a generator's parameters without defaults (options with defaults, such as
    watts_strogatz's ``rewiring``, are settings of their own), in the order of its signature.
    :func:`structrob.study.plan.sample_graphs` draws a grid point's values in this order, so
    the order of the keys in a config file does not matter.

    Parameters
    ----------
    generator : str
        A key of :data:`structrob.graphs.GENERATORS`.

    Returns
    -------
    list of str

    Examples
    --------
    >>> grid_axes("watts_strogatz"), grid_axes("barabasi_albert")
    (['size', 'nei', 'p'], ['n', 'm'])
    """
    return [
        name
        for name, parameter in inspect.signature(GENERATORS[generator]).parameters.items()
        if name != "seed" and parameter.default is inspect.Parameter.empty
    ]


class GraphsConfig(_Strict):
    """How graph priors are sampled: a generator, a grid of its parameters, a parameter range."""

    generator: Literal["watts_strogatz", "erdos_renyi", "barabasi_albert"] = "watts_strogatz"
    grid: dict[str, list[float | int]] = Field(
        default_factory=lambda: {
            "size": [250, 300, 350, 400, 500],
            "nei": [2, 4, 6, 8, 10, 20],
            "p": [0.5, 0.6, 0.7, 0.8, 0.9],
        }
    )
    count: int = Field(100, ge=1, description="graphs to accept")
    min_parameters: int = Field(50_000, ge=0)
    max_parameters: int = Field(91_000, ge=1)
    max_draws: int = Field(20_000, ge=1, description="give up after this many draws")
    rewiring: Literal["edges", "endpoints"] = _later(
        "edges",
        description="watts_strogatz rewiring: networkx's one end per edge, or igraph's both ends",
    )
    sinks: Literal["own", "last"] = _later(
        "own", description="where vertices without outgoing edges sit: own depth, or the last layer"
    )

    @field_validator("grid")
    @classmethod
    def _canonical_order(cls, grid: dict[str, list[float | int]], info: Any) -> dict:
        # A grid is a set of axes: the draws take their grid points axis by axis in the
        # generator's signature order, whatever order a file (or the store's sorted JSON)
        # gives the keys, so a config.toml written from a store reproduces its draws.
        generator = info.data.get("generator")
        if generator not in GENERATORS:
            return grid
        order = grid_axes(generator)
        return {
            **{k: grid[k] for k in order if k in grid},
            **{k: v for k, v in grid.items() if k not in order},
        }

    @model_validator(mode="after")
    def _check(self) -> GraphsConfig:
        if self.min_parameters > self.max_parameters:
            raise ValueError(
                f"min_parameters ({self.min_parameters}) exceeds "
                f"max_parameters ({self.max_parameters})"
            )
        # the grid spans the generator's required parameters; options with defaults (e.g.
        # watts_strogatz's rewiring) are keys of their own
        allowed = grid_axes(self.generator)
        unknown = sorted(set(self.grid) - set(allowed))
        missing = sorted(set(allowed) - set(self.grid))
        if unknown or missing:
            raise ValueError(
                f"grid of {self.generator} needs exactly the keys {allowed}; "
                + (f"unknown {unknown} " if unknown else "")
                + (f"missing {missing}" if missing else "")
            )
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key} is empty; give at least one value")
        return self


class TrainConfig(_Strict):
    """Training settings (the study's: Adam 1e-3, 30 epochs, batch 128, six initialisations)."""

    inits: list[str] = Field(default_factory=lambda: list(INIT_SCHEMES))
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    train_images: int | None = Field(
        None, ge=1, description="first N of a seeded permutation; None = all"
    )
    init_fans: Literal["sparse", "block"] = _later(
        "sparse", description="fans: real connections, or layer widths"
    )
    init_layers: Literal["all", "hidden"] = _later(
        "all", description="blocks the scheme draws; hidden: nn.Linear outside"
    )
    bias_init: Literal["zeros", "normal"] = _later(
        "zeros", description="biases of the drawn blocks: 0 or N(0, 0.1^2)"
    )

    @field_validator("inits")
    @classmethod
    def _inits(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v not in INIT_SCHEMES]
        if bad or not value:
            raise ValueError(f"unknown initialisation(s) {bad}; allowed: {list(INIT_SCHEMES)}")
        if len(set(value)) != len(value):
            raise ValueError("initialisations must be distinct")
        return value


class FGSMConfig(_Strict):
    enabled: bool = True
    eps: float = Field(0.1, gt=0, le=1)
    images: int | None = Field(None, ge=1, description="first N test images; None = all 10,000")


class MinimalFGSMConfig(_Strict):
    enabled: bool = True
    start: float = Field(0.001, ge=0)
    step: float = Field(0.01, gt=0)
    max_eps: float = Field(1.0, gt=0, le=1)
    images: int | None = Field(None, ge=1)


class OnePixelConfig(_Strict):
    enabled: bool = True
    pop_size: int = Field(500, ge=4)
    max_iter: int = Field(500, ge=0)
    images: int = Field(
        100, ge=1, description="first N correctly classified images of a seeded order"
    )
    strategy: Literal["rand1", "best1bin"] = "rand1"
    mutation: float | list[float] = _later(
        0.5, description="F, or [low, high] to dither per generation"
    )
    recombination: float = _later(0.7, ge=0, le=1, description="crossover probability (best1bin)")
    integer_candidates: bool = _later(
        False, description="truncate to integer row, column, intensity"
    )
    out_of_bounds: Literal["clip", "resample"] = _later("clip")
    selection: Literal["greedy", "strict", "study"] = _later("greedy")
    early_stop: Literal["any", "best"] = _later(
        "any", description="stop on any fooling candidate, or the best"
    )


class PGDConfig(_Strict):
    enabled: bool = False
    eps: float = Field(0.1, gt=0, le=1)
    step_size: float = Field(0.01, gt=0)
    steps: int = Field(20, ge=1)
    random_start: bool = True
    images: int | None = Field(1000, ge=1)


class AttacksConfig(_Strict):
    fgsm: FGSMConfig = Field(default_factory=FGSMConfig)
    min_fgsm: MinimalFGSMConfig = Field(default_factory=MinimalFGSMConfig)
    onepixel: OnePixelConfig = Field(default_factory=OnePixelConfig)
    pgd: PGDConfig = Field(default_factory=PGDConfig)


class PruningConfig(_Strict):
    """The random-pruning baseline: a dense layered net pruned step by step."""

    enabled: bool = False
    widths: list[int] = Field(default_factory=lambda: [50, 100, 100, 50])
    steps: int = Field(20, ge=1)
    fraction: float = Field(0.2, gt=0, lt=1)
    retrain_epochs: int = Field(2, ge=0)
    repetitions: int = _later(
        1,
        ge=1,
        description="independent pruning chains (each trained from its own initialisation)",
    )
    masks: Literal["shared", "per_init"] = _later(
        "shared",
        description="one random mask sequence for a chain's six initialisations, or one each",
    )

    @field_validator("widths")
    @classmethod
    def _widths(cls, value: list[int]) -> list[int]:
        if len(value) < 2:
            raise ValueError(
                "widths needs at least two positive layer widths, e.g. [50, 100, 100, 50]"
            )
        return [check_int(f"widths[{i}]", width, 1) for i, width in enumerate(value)]


class AnalysisConfig(_Strict):
    """How the correlations are computed from the stored runs (not part of the science hash:
    a finished study can be analysed again with other settings)."""

    outlier_rule: Literal["per_measure", "per_attack"] = Field(
        "per_measure", description="IQR filter per measure, or a run's whole attack at once"
    )
    pruning_rows: Literal["step_means", "pooled"] = Field(
        "step_means", description="Table 2 over step means, or over every pooled run"
    )
    properties: Literal["networkx", "study_code", "both"] = Field(
        "networkx",
        description="Table rows: networkx definitions (dag_*), the study code's igraph ones "
        "(dag_study_* in place of their dag_* counterparts), or both",
    )
    n_boot: int = Field(1000, ge=0, description="bootstrap resamples of the intervals")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")


class StudyConfig(_Strict):
    """A whole study. Every field has the study's default; presets change a few.

    Settings that change results: ``name`` (not hashed), ``seed``, ``dataset``, ``priors``,
    ``graphs``, ``train``, ``attacks``, ``pruning``; how it runs (:data:`RUNTIME_KEYS`):
    ``device``, ``executor``, ``workers``, ``threads``, ``ray_address``, ``retries``. Attack
    settings are checked against the attacks themselves when a study starts
    (:func:`structrob.study.attack_setup.build_attacks`).

    Examples
    --------
    >>> cfg = load_preset("quick")
    >>> cfg.graphs.generator, cfg.train.inits[:2]
    ('watts_strogatz', ['glorot_normal', 'glorot_uniform'])
    """

    name: str = "study"
    seed: int = 0
    dataset: Literal["mnist", "fashion_mnist", "kmnist"] = "mnist"
    priors: bool = Field(True, description="run the graph-prior arm (Table 1)")
    graphs: GraphsConfig = Field(default_factory=GraphsConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    attacks: AttacksConfig = Field(default_factory=AttacksConfig)
    pruning: PruningConfig = Field(default_factory=PruningConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    # how it runs (not hashed)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    executor: Literal["local", "ray"] = "local"
    workers: int | None = Field(None, ge=1, description="worker processes; None = one per core")
    threads: int = Field(1, ge=1, description="torch threads per worker")
    ray_address: str | None = None
    retries: int = Field(2, ge=0, description="extra attempts for a unit that fails")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\") or value.startswith("."):
            raise ValueError("name must be a plain folder name (no '/', not starting with '.')")
        return value


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(root)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "invalid study configuration:\n" + "\n".join(lines)


def _validate(data: dict[str, Any]) -> StudyConfig:
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error)) from None


def list_presets() -> list[str]:
    """Names of the presets that ship with the package.

    Returns
    -------
    list of str
        Sorted preset names (``structrob config NAME`` prints one).

    Examples
    --------
    >>> "quick" in list_presets() and "paper" in list_presets()
    True
    """
    folder = resources.files("structrob.study") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    """The TOML text of a preset (a starting point for a custom study).

    Parameters
    ----------
    name : str
        A name of :func:`list_presets`.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the presets.

    Examples
    --------
    >>> preset_text("quick").splitlines()[0].startswith("#")
    True
    """
    if name not in list_presets():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    return (resources.files("structrob.study") / "presets" / f"{name}.toml").read_text()


def load_preset(name: str) -> StudyConfig:
    """A shipped preset as a validated config.

    Parameters
    ----------
    name : str
        A name of :func:`list_presets` (an unknown one raises :class:`ConfigError`, as for
        :func:`preset_text`).

    Returns
    -------
    StudyConfig

    Examples
    --------
    >>> load_preset("paper").graphs.count
    100
    """
    return _validate(tomllib.loads(preset_text(name)))


def load_config(path: str | Path) -> StudyConfig:
    r"""Read and validate a study TOML file.

    Parameters
    ----------
    path : str or path-like
        A TOML file; keys it leaves out take the defaults of :class:`StudyConfig`.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        A missing file, invalid TOML, or keys and values the schema refuses (every one named).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.toml"
    >>> _ = path.write_text('name = "mine"\n[train]\nepochs = 3\n')
    >>> config = load_config(path)
    >>> config.name, config.train.epochs, config.train.batch_size
    ('mine', 3, 128)
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return _validate(data)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as cuda or a name


def apply_overrides(config: StudyConfig, overrides: list[str]) -> StudyConfig:
    """Apply ``key.sub=value`` overrides (values in TOML syntax: ``[1, 2]``, ``0.5``, ``true``).

    Parameters
    ----------
    config : StudyConfig
        Left unchanged.
    overrides : list of str
        ``--set`` items; a bare word is taken as a string (``device=cpu``).

    Returns
    -------
    StudyConfig
        A new, validated config.

    Raises
    ------
    ConfigError
        An unknown key (with the keys allowed there) or a value the schema refuses.

    Examples
    --------
    >>> cfg = apply_overrides(load_preset("quick"), ["train.epochs=3", "graphs.grid.nei=[2]"])
    >>> cfg.train.epochs, cfg.graphs.grid["nei"]
    (3, [2])
    """
    data = config.model_dump()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key.sub=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[: i + 1])
                options = sorted(node) if isinstance(node, dict) else []
                raise ConfigError(
                    f"unknown key {where!r} in --set {item!r}; allowed here: {options}"
                )
            node = node[part]
        if not isinstance(node, dict) or (parts[-1] not in node and parts[-2:-1] != ["grid"]):
            options = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(f"unknown key {key!r} in --set {item!r}; allowed here: {options}")
        node[parts[-1]] = _parse_value(text.strip())
    return _validate(data)


def science(config: StudyConfig) -> dict[str, Any]:
    """The part of the config that changes results (everything but how it runs).

    Parameters
    ----------
    config : StudyConfig
        A validated study config.

    Returns
    -------
    dict
        The config as JSON values without its name and runtime keys (``RUNTIME_KEYS``).

    Examples
    --------
    >>> sorted(science(load_preset("quick")))
    ['attacks', 'dataset', 'graphs', 'priors', 'pruning', 'seed', 'train']
    """
    data = hashed(config)
    for key in RUNTIME_KEYS + ("name", "analysis"):
        data.pop(key, None)
    return data


def config_hash(data: Any) -> str:
    """Stable sha256 of a JSON-serialisable value (sorted keys), 16 hex digits.

    Parameters
    ----------
    data : object
        A JSON-serialisable value; dict key order does not matter.

    Returns
    -------
    str

    Examples
    --------
    >>> config_hash({"a": 1, "b": [2]}) == config_hash({"b": [2], "a": 1})
    True
    >>> len(config_hash(science(load_preset("quick"))))
    16
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_toml(config: StudyConfig) -> str:
    """A config as TOML text (:func:`structrob.toml_writer.dumps`; None values left out).

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    str
        Text that :func:`load_config` reads back into ``config``.

    Examples
    --------
    >>> text = to_toml(load_preset("quick"))
    >>> text.splitlines()[0], "[attacks.min_fgsm]" in text
    ('name = "quick"', True)
    """
    return toml_writer.dumps(config.model_dump(mode="json"))
