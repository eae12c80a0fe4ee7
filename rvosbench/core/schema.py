"""Typed schemas of every config section, so a bad value is refused before any work starts.

Each section of a study has a pydantic (v2) schema: the study itself, a variant, ``train``, ``eval``, a
model card's ``card``, and, per registered class, a model's or a benchmark's keys. Schemas are *strict*
(``"64"`` is not an integer, ``true`` is not a number) and *closed* (an unknown key is an error, even
one added with ``--set +key=...``) unless a section declares itself open.

Schemas only check: they never rewrite a config. The configs hashed into the result store's content
keys stay exactly as written, so a new check never changes a key (nor retrains a cell).

Registered classes (models, benchmarks, backbones, text encoders; plug-ins too) get their schema from
their constructor: one field per parameter, typed by its annotation, with its default; ``**kwargs``
leaves the schema open. A class refines it with ``config_rules``: a :class:`Section` subclass whose
``field_types`` constrain parameters (``{"num_heads": PositiveInt}``) and whose validators add
cross-field rules (``hidden_dim % num_heads == 0``); subclasses inherit their parent's rules. A class
may instead give a complete schema as ``config_schema``. :func:`schema_of` returns either.

Validation errors become :class:`Problem` s (the keys involved, what is wrong, an example of a good
value) without pydantic's wording; the caller adds *where* (``file:line`` or the ``--set``) and raises
one :class:`~rvosbench.core.errors.ConfigError` line.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt,
                      PositiveFloat, PositiveInt, ValidationError, create_model, model_validator, with_config)
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict, is_typeddict

from rvosbench.core.errors import ConfigError, did_you_mean

# -- base classes ---------------------------------------------------------------------------------


class Section(BaseModel):
    """A closed, strictly typed config section: unknown keys and wrong types are errors."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, protected_namespaces=(),
                              arbitrary_types_allowed=True)

    #: what the section is, for "<label> needs 'key'" (nested sections say their dotted key instead)
    label: ClassVar[str] = "the section"
    #: for derived schemas (:func:`derive_schema`): the type, with constraints, of a constructor parameter
    #: by name (``{"num_heads": PositiveInt}``); parameters without an entry keep their annotation.
    field_types: ClassVar[dict[str, Any]] = {}
    #: for derived schemas: True when the rules declare every key the constructor's ``**kwargs`` takes
    #: (the schema then stays closed); False leaves the schema of a ``**kwargs`` constructor open.
    options_declared: ClassVar[bool] = False
    #: for derived schemas: what the constructor passes its ``**kwargs`` to (e.g. a dataclass of options);
    #: its parameters become fields too, and the schema stays closed.
    options_from: ClassVar[Callable | None] = None


class RuleViolation(ValueError):
    """A rule failed; ``keys`` are the fields involved (the error points at the one the user set last,
    e.g. the ``--set``), ``hint`` what to do."""

    def __init__(self, message: str, keys: Sequence[str] = (), hint: str | None = None):
        super().__init__(message)
        self.keys = tuple(keys)
        self.hint = hint


@dataclass(frozen=True)
class BuiltBy:
    """Field marker: the value is a ``{type: ..., **kwargs}`` config of ``registry`` (e.g. a model's
    ``backbone``), checked against the schema of the class it names."""

    registry: Any


def unique(values: list[Any]) -> list[Any]:
    """Validator: no value twice (a frame count measured twice, a benchmark scored twice)."""
    repeated = sorted({repr(v) for v in values if values.count(v) > 1})
    if repeated:
        raise RuleViolation(f"{', '.join(repeated)} is listed more than once", hint="list each value once")
    return values


def unique_seeds(seeds: list[int]) -> list[int]:
    """Validator: a seed listed twice would train one cell once and count it twice in every mean."""
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise RuleViolation(f"{', '.join(map(str, repeated))} is listed more than once: one cell would be trained "
                            "once and counted twice in every mean and standard deviation", hint="list each seed once")
    return seeds


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # NumPy's seed range
NAME_PATTERN, SHA256_PATTERN = r"^[^/\\\s]+$", r"^[0-9a-f]{64}$"
Name = Annotated[str, Field(min_length=1, pattern=NAME_PATTERN)]  # becomes a folder name
BenchmarkRef = str | dict[str, Any]  # "synth/test" or {name: synth, split: test, ...}


# -- option blocks that stay plain dicts at run time ----------------------------------------------
@with_config(ConfigDict(strict=True, extra="forbid"))
class InputOptions(TypedDict, total=False):
    """A card's ``input`` section, or the keys of it that ``train.input`` / ``eval.input`` override."""

    num_frames: PositiveInt
    short_side: PositiveInt
    max_size: PositiveInt | None
    mean: Annotated[list[float], Field(min_length=3, max_length=3)]
    std: Annotated[list[PositiveFloat], Field(min_length=3, max_length=3)]
    #: how frames are resized (rvosbench.data.transforms.RESAMPLERS): float F.interpolate with antialiasing
    #: (the default), or PIL's 8-bit bilinear filter as the ReferFormer/MTTR authors' transforms do
    resample: Literal["torch_antialias", "pil_bilinear"]


def check_input_sizes(options: dict[str, Any]) -> dict[str, Any]:
    """``short_side <= max_size`` when both are given (else every frame is shrunk below ``short_side``)."""
    short, longest = options.get("short_side"), options.get("max_size")
    if isinstance(short, int) and isinstance(longest, int) and longest < short:
        raise RuleViolation(f"max_size {longest} is smaller than short_side {short} (need short_side <= max_size)",
                            ["short_side", "max_size"])
    return options


Input = Annotated[InputOptions, AfterValidator(check_input_sizes)]


@with_config(ConfigDict(strict=True, extra="forbid"))
class ClipOptions(TypedDict, total=False):
    """``train.clips``: options of :class:`rvosbench.data.clips.TrainClips` (frame sampling)."""

    max_skip: PositiveInt
    redraws: NonNegativeInt


@with_config(ConfigDict(strict=True, extra="forbid"))
class AugmentOptions(TypedDict, total=False):
    """``train.augment``: options of :class:`rvosbench.data.transforms.TrainTransform`."""

    scales: Annotated[list[PositiveInt], Field(min_length=1)] | None
    flip: Fraction
    brightness: NonNegativeFloat
    contrast: NonNegativeFloat


# -- train and eval -------------------------------------------------------------------------------
class TrainSettings(Section):
    """How one (variant, seed) is trained (the ``train:`` section). Steps count optimiser updates.

    Defaults follow ReferFormer's recipe where it applies (AdamW, backbone 0.5x and text encoder 0.1x of
    the base rate, gradient clipping 0.1; paper.md §7); the study files set what the CPU budget needs.
    ``steps: 0`` trains nothing and evaluates the card's checkpoint as it is; for a card without one the
    plan refuses it (it would score a randomly initialised model) unless ``evaluate_untrained: true`` says
    that the model as built is what is meant (e.g. a floor for a table).
    """

    benchmark: BenchmarkRef | None = Field(None, examples=["synth/train"])  # resolved by the plan
    steps: NonNegativeInt = 1000
    batch_size: PositiveInt = 2  # clips per optimiser micro-batch over all processes (split evenly across them)
    accumulate: PositiveInt = 1  # micro-batches per optimiser step
    num_frames: PositiveInt | None = Field(None, examples=[5])  # clip length; default: the card's input.num_frames
    lr: PositiveFloat = 1e-4
    group_lr: dict[str, NonNegativeFloat] = Field(default_factory=dict, examples=[{"backbone": 0.5}])  # per group
    weight_decay: NonNegativeFloat = 5e-4
    warmup: NonNegativeInt = 0
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[PositiveInt] = Field(default_factory=list, examples=[[3000, 4000]])
    gamma: PositiveFloat = 0.1
    min_lr_ratio: Fraction = 0.0
    clip_grad: PositiveFloat | None = 0.1  # max gradient norm; null turns clipping off
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward and loss under autocast
    num_workers: NonNegativeInt = 0
    clips: ClipOptions = Field(default_factory=dict, examples=[{"max_skip": 3}])  # TrainClips options
    augment: AugmentOptions = Field(default_factory=dict, examples=[{"flip": 0.5}])  # training transform options
    input: Input = Field(default_factory=dict, examples=[{"short_side": 64}])  # overrides of the card's input
    checkpoint_every: PositiveInt = 200
    keep_checkpoints: NonNegativeInt = 1  # numbered step_<n>.pt files kept next to last.pt
    log_every: PositiveInt = 10
    val_every: NonNegativeInt = 0  # 0: no periodic validation
    val_benchmark: BenchmarkRef | None = Field(None, examples=["synth/val"])
    val_limit: PositiveInt | None = 32  # validation samples (null: all)
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower)
    evaluate_untrained: bool = False  # with steps: 0 and no card checkpoint, score the model as built (a floor)

    @model_validator(mode="after")
    def _validation_needs_a_split(self) -> TrainSettings:
        if self.val_every and self.val_benchmark is None:
            raise RuleViolation("val_every is set but val_benchmark is not, so no validation would run "
                                "(set train.val_benchmark, e.g. synth/val, or val_every: 0)", ["val_every"])
        if self.evaluate_untrained and self.steps:
            raise RuleViolation(f"evaluate_untrained is set but train.steps is {self.steps}",
                                ["evaluate_untrained", "steps"], hint="set train.steps: 0 with it, or remove it")
        return self

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> TrainSettings:
        return parse_section(cls, data, "train")


class EvalSettings(Section):
    """How a trained model is evaluated on a benchmark (the ``eval:`` section)."""

    window: PositiveInt | None = 36  # frames per inference window for long videos (null: whole video)
    #: how a video is cut into windows (rvosbench.data.clips.EVAL_CLIPS): consecutive windows, or one window
    #: of ``window`` frames centred on each annotated frame (MTTR's A2D/JHMDB-Sentences evaluation)
    clips: Literal["consecutive", "centred"] = "consecutive"
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    input: Input = Field(default_factory=dict, examples=[{"short_side": 64}])  # overrides of the card's input
    limit: PositiveInt | None = Field(None, examples=[20])  # evaluate the first N samples only (smoke tests)
    save_predictions: bool = False  # masks in the benchmark's native layout inside the cell
    strips: NonNegativeInt = 3  # qualitative strips kept: the first N and the worst N samples
    strip_frames: PositiveInt = 6
    measure_cost: bool = True  # params, FLOPs and latency of one window (cost.jsonl)
    scaling: Annotated[list[PositiveInt], AfterValidator(unique)] = Field(default_factory=list,
                                                                          examples=[[4, 8, 16]])
    scaling_limit: PositiveInt = 16  # samples used per scaling point

    @model_validator(mode="after")
    def _centred_windows_need_a_length(self) -> EvalSettings:
        if self.clips == "centred" and self.window is None:
            raise RuleViolation("clips: centred needs a window (the number of frames centred on each annotated "
                                "frame), but window is null", ["clips", "window"], hint="set eval.window, e.g. 10")
        return self

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> EvalSettings:
        return parse_section(cls, data, "eval")


# -- model cards ----------------------------------------------------------------------------------
class CheckpointSpec(Section):
    """``card.checkpoint``: released weights (a path relative to the checkout, or absolute) and their hash."""

    path: str | None = Field(None, examples=["checkpoints/proxyformer_r50.pt"])
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None


class CardSection(Section):
    """A model card's ``card:`` section (its ``model:`` section is checked by the model's own schema)."""

    name: Name
    description: str = ""
    input: Input = Field(default_factory=dict, examples=[{"num_frames": 5, "short_side": 360, "max_size": 640}])
    checkpoint: CheckpointSpec | str | None = None
    published: list[dict[str, Any]] | dict[str, Any] = Field(default_factory=list)  # read by the leaderboard
    notes: str = ""
    file: str | None = None  # where the card was read from (set by the loader)


# -- studies --------------------------------------------------------------------------------------
class VariantSection(Section):
    """One entry of a study's ``variants`` mapping: what it changes on top of the shared sections."""

    description: str = ""
    model: dict[str, Any] = Field(default_factory=dict, examples=[{"loss": {"jsc_weight": 0.0}}])
    train: dict[str, Any] = Field(default_factory=dict, examples=[{"steps": 2000}])
    eval: dict[str, Any] = Field(default_factory=dict, examples=[{"window": 36}])


class StudySection(Section):
    """The top level of a study file. ``model``, ``train`` and ``eval`` are checked per cell, once merged
    with each variant's overrides; ``report`` is open here (the report package checks its keys)."""

    label = "a study"

    base: str | list[str] | None = Field(None, alias="_base_")
    schema_version: PositiveInt = 1
    name: Name | None = Field(None, examples=["jsc"])
    title: str | None = None
    description: str | None = None
    model: dict[str, Any] = Field(default_factory=dict, examples=[{"card": "proxyformer_tiny"}])
    train: dict[str, Any] = Field(default_factory=dict, examples=[{"steps": 5000}])
    eval: dict[str, Any] = Field(default_factory=dict, examples=[{"window": 36}])
    benchmarks: Annotated[list[BenchmarkRef], Field(min_length=1)] = Field(examples=[["synth/test"]])
    seeds: Seed | Annotated[list[Seed], Field(min_length=1), AfterValidator(unique_seeds)] = Field(0, examples=[[0, 1, 2]])
    plugins: list[str] = Field(default_factory=list, examples=[["my_rival.py"]])
    report: dict[str, Any] = Field(default_factory=dict, examples=[{"plots": ["bars"]}])
    baseline: Name | None = None
    variants: Annotated[dict[Name, VariantSection | None], Field(min_length=1)] = Field(
        examples=[{"proxyformer": {}}])


# -- schemas of registered classes ----------------------------------------------------------------
class ModelConfig(Section):
    """Base of model schemas: a model config is ``{type: <registered name>, **constructor keys}``."""

    type: str


class BenchmarkConfig(Section):
    """Base of benchmark schemas: ``benchmarks/<name>.yaml`` keys besides the constructor's."""

    label = "a benchmark config"

    type: str
    name: str | None = None
    description: str | None = None
    protocol: str | None = None  # overrides the benchmark's declared protocol


def _hints(target: Callable) -> dict[str, Any]:
    function = target if dataclasses.is_dataclass(target) else target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # an annotation that cannot be resolved: check what can be
        return {}


def _default_factories(target: Callable) -> dict[str, Callable[[], Any]]:
    """A dataclass's ``field(default_factory=...)`` by name (its signature shows only a placeholder)."""
    if not dataclasses.is_dataclass(target):
        return {}
    return {f.name: f.default_factory for f in dataclasses.fields(target)
            if f.default_factory is not dataclasses.MISSING}


def field_types(rules: type[Section]) -> dict[str, Any]:
    """The ``field_types`` of ``rules`` and its parents (a subclass's entries win)."""
    merged: dict[str, Any] = {}
    for klass in reversed(rules.__mro__):
        merged.update(klass.__dict__.get("field_types", {}))
    return merged


def derive_schema(target: Callable, base: type[Section] = Section, name: str | None = None) -> type[Section]:
    """A schema from ``target``'s signature (a class's constructor, a function or a dataclass).

    Each parameter becomes a field with its default, typed by ``base.field_types`` (constraints such as
    ``PositiveInt``) where it has an entry, else by its annotation. Entries for parameters the signature
    lacks are ignored, so one set of rules serves several classes. ``**kwargs`` takes the parameters of
    ``base.options_from`` when given, else opens the schema unless ``base.options_declared``; ``base``'s
    validators (cross-field rules) apply.
    """
    types = field_types(base)
    fields: dict[str, Any] = {}
    open_schema = inspect.isclass(target) and target.__init__ is object.__init__  # nothing declared: unknown
    owners = [] if open_schema else [target]
    while owners:
        owner = owners.pop(0)
        hints, factories = _hints(owner), _default_factories(owner)
        for parameter in inspect.signature(owner).parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                if base.options_from is not None and owner is target:
                    owners.append(base.options_from)
                else:
                    open_schema = not base.options_declared
            elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL and parameter.name != "self":
                default = ... if parameter.default is inspect.Parameter.empty else parameter.default
                if parameter.name in factories:
                    default = Field(default_factory=factories[parameter.name])
                fields[parameter.name] = (types.get(parameter.name, hints.get(parameter.name, Any)), default)
    if open_schema:
        base = type(base.__name__, (base,), {"model_config": ConfigDict(extra="allow")})
    return create_model(name or f"{getattr(target, '__name__', 'Config')}Config", __base__=base,
                        __module__=getattr(target, "__module__", __name__), **fields)


@functools.cache
def schema_of(cls: type, base: type[Section] = Section) -> type[Section]:
    """The config schema of a registered class: its own ``config_schema``, else one derived from its
    constructor refined by its (possibly inherited) ``config_rules``."""
    explicit = cls.__dict__.get("config_schema")
    if explicit is not None:
        return explicit
    rules = getattr(cls, "config_rules", None) or base
    return derive_schema(cls, rules, name=f"{cls.__name__}Config")


def builder_schema(builder: Callable, base: type[Section] = Section) -> type[Section]:
    """The schema of what a registry builds from: a class's (:func:`schema_of`) or a function's."""
    return schema_of(builder, base) if inspect.isclass(builder) else derive_schema(builder, base)


# -- turning validation errors into problems ------------------------------------------------------
@dataclass
class Problem:
    """One thing wrong in a section: the dotted keys involved (relative to the section, most relevant
    first), what is wrong, and an example of a good value (``None`` when there is no sensible one)."""

    keys: tuple[str, ...]
    what: str
    example: Any = None
    hint: str | None = None

    def fix(self, dotted_key: str, via_override: bool) -> str | None:
        """The hint line: the given hint, or "write e.g. ..." in the syntax the value was written in."""
        if self.hint:
            return self.hint
        if self.example is None:
            return None
        from rvosbench.core.config import dump_flow

        value = dump_flow(self.example)
        return f"write e.g. --set {dotted_key}={value}" if via_override \
            else f"write e.g. {dotted_key.rsplit('.', 1)[-1]}: {value}"


_EXPECTED = {
    "int_type": ("a whole number", 8), "int_parsing": ("a whole number", 8),
    "float_type": ("a number", 0.5), "float_parsing": ("a number", 0.5),
    "bool_type": ("true or false", True), "bool_parsing": ("true or false", True),
    "string_type": ("text", None), "list_type": ("a list", None), "tuple_type": ("a list", None),
    "dict_type": ("a mapping", None), "model_type": ("a mapping", None), "model_attributes_type": ("a mapping", None),
    "none_required": ("null", None), "typed_dict_type": ("a mapping", None),
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _node_schema(schema: Any, path: Sequence[Any]) -> Any:
    """The schema (model, TypedDict or annotation) that describes the value at ``path``, if known."""
    node = schema
    for part in path:
        fields = _fields(node)
        if fields is None:
            args = typing.get_args(_strip(node))
            if typing.get_origin(_strip(node)) in (dict, list) and args:
                node = args[-1]
                continue
            return None
        if part not in fields:
            return None
        node = fields[part]
    return node


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` → ``X`` (the part that has fields or arguments)."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) and len(args) == 1:
        return _strip(args[0])
    return annotation


def _fields(node: Any) -> dict[str, Any] | None:
    """Field annotations of a model or TypedDict schema (None for other annotations)."""
    node = _strip(node)
    if inspect.isclass(node) and issubclass(node, BaseModel):
        return {(f.alias or name): _annotated(f) for name, f in node.model_fields.items()}
    if inspect.isclass(node) and is_typeddict(node):
        return typing.get_type_hints(node, include_extras=True)
    return None


def _annotated(field: FieldInfo) -> Any:
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def known_keys(schema: Any, path: Sequence[Any] = ()) -> list[str]:
    """Keys the section at ``path`` accepts (for did-you-mean hints)."""
    fields = _fields(_node_schema(schema, path))
    return sorted(k for k in (fields or {}) if not k.startswith("_"))


def _example(schema: Any, path: Sequence[Any], fallback: Any) -> Any:
    """A good value for ``path``: the field's ``examples``, else its default, else ``fallback``."""
    if not path:
        return fallback
    parent = _strip(_node_schema(schema, path[:-1]))
    if inspect.isclass(parent) and issubclass(parent, BaseModel):
        by_key = {(f.alias or n): f for n, f in parent.model_fields.items()}
        field = by_key.get(path[-1])
        if field is not None:
            if field.examples:
                return field.examples[0]
            if field.default not in (None, ...) and not callable(field.default) \
                    and type(field.default).__module__ == "builtins":
                return field.default
    return fallback


def _real_path(loc: Sequence[Any], data: Any, error_type: str) -> tuple[Any, ...]:
    """Drop pydantic's union member tags (``'int'``, ``'list[int]'``) from ``loc``: keep the keys that
    exist in ``data`` (and a missing field's name)."""
    path, node = [], data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, Mapping) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif last and error_type == "missing":
            path.append(part)
    return tuple(path)


def _dotted(prefix: str, path: Sequence[Any]) -> str:
    return ".".join([prefix, *map(str, path)] if prefix else map(str, path))


def _is_type_error(error: dict[str, Any]) -> bool:
    return error["type"] in _EXPECTED or error["type"] in ("literal_error", "is_instance_of")


def problems_of(error: ValidationError, data: Any, schema: Any, prefix: str = "") -> list[Problem]:
    """Readable problems from a pydantic error, one per key (a union's branches merged into one)."""
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in error.errors(include_url=False):
        grouped.setdefault(_real_path(item["loc"], data, item["type"]), []).append(item)
    result = []
    for path, items in grouped.items():
        if all(_is_type_error(i) and len(i["loc"]) > len(path) for i in items) and \
                any(other[: len(path)] == path and len(other) > len(path) for other in grouped):
            continue  # a union branch refused the type while another branch found what is wrong inside
        specific = [i for i in items if not (_is_type_error(i) and len(i["loc"]) > len(path))]
        if len(items) > 1 and not specific:  # every branch of a union refused the value's type
            expected = sorted({_EXPECTED.get(i["type"], (i["type"], None))[0] for i in items})
            result.append(_problem(items[0], path, data, schema, prefix, " or ".join(expected)))
        else:
            result.append(_problem((specific or items)[0], path, data, schema, prefix))
    return result


def _problem(item: dict[str, Any], path: tuple[Any, ...], data: Any, schema: Any, prefix: str,
             expected: str | None = None) -> Problem:
    kind, value, ctx = item["type"], item.get("input"), item.get("ctx") or {}
    key = _dotted(prefix, path)
    keys = (key,)
    shown = repr(value) if isinstance(value, str) else _short(value)
    if kind == "extra_forbidden":
        known = known_keys(schema, path[:-1])
        section = f"'{_dotted(prefix, path[:-1])}'" if prefix or path[:-1] else getattr(schema, "label", "it")
        choices = did_you_mean(str(path[-1]), known) if known else "it takes no keys"
        return Problem(keys, f"unknown key '{key}'",
                       hint=f"{choices}{' ' if choices.endswith('?') else '; '}{section} has a fixed set of keys")
    if kind == "missing":
        owner = f"'{_dotted(prefix, path[:-1])}'" if prefix or path[:-1] else getattr(schema, "label", "the section")
        return Problem(keys, f"{owner} needs '{path[-1]}'", _example(schema, path, None))
    if expected or kind in _EXPECTED:
        expected = expected or _EXPECTED[kind][0]
        example = _example(schema, path, _EXPECTED.get(kind, (None, None))[1])
        what = f"{key} must be {expected}, got {shown}"
        if isinstance(value, str) and kind.startswith("float") and _is_number(value):
            mantissa, exponent = f"{float(value):.1e}".split("e")
            return Problem(keys, what, hint=f"YAML reads {value} as text: write {float(value)!r} or "
                                            f"{mantissa}e{int(exponent):+d}")
        return Problem(keys, what, example)
    if kind in _BOUNDS:
        sign, bound = _BOUNDS[kind], next(iter(ctx.values()))
        if isinstance(value, int) and sign == ">" and bound == 0:
            sign, bound = ">=", 1
        return Problem(keys, f"{key} must be {sign} {bound}, got {shown}", _example(schema, path, None))
    if kind == "literal_error":
        choices = [c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        return Problem(keys, f"{key} must be one of: {', '.join(choices)}; got {shown}",
                       hint=did_you_mean(str(value), choices) if isinstance(value, str) else None)
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length", ctx.get("max_length"))
        bound = "at least" if kind == "too_short" else "at most"
        if ctx.get("min_length") == ctx.get("max_length", -1):
            bound = "exactly"
        return Problem(keys, f"{key} must have {bound} {size} item(s), got {ctx.get('actual_length', '?')}",
                       _example(schema, path, None))
    if kind == "string_pattern_mismatch":
        form, hint = _PATTERNS.get(ctx.get("pattern"), (f"text matching {ctx.get('pattern')}", None))
        return Problem(keys, f"{key} must be {form}, got {shown}", hint=hint)
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        message = str(cause) if cause is not None else item["msg"]
        hint = None
        if isinstance(cause, RuleViolation):
            keys = tuple(_dotted(prefix, (*path, k)) for k in cause.keys) or keys
            hint = cause.hint
        if path:
            message = f"{key}: {message}"
        return Problem(keys, message, hint=hint)
    return Problem(keys, f"{key}: {item['msg']}, got {shown}")


_PATTERNS = {
    NAME_PATTERN: ("a name without '/', '\\' or spaces", "it names a folder in the result store"),
    SHA256_PATTERN: ("64 lowercase hexadecimal digits (a sha256)", "compute it with: sha256sum <file>"),
}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check(schema: Any, data: Any, prefix: str = "") -> list[Problem]:
    """Validate ``data`` against ``schema`` (a model class or any annotation); the problems, if any."""
    try:
        if inspect.isclass(schema) and issubclass(schema, BaseModel):
            schema.model_validate(data)
        else:
            _adapter(schema).validate_python(data)
    except ValidationError as error:
        return problems_of(error, data, schema, prefix)
    return []


@functools.cache
def _adapter(annotation: Any):
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def check_registered(registry: Any, config: Mapping[str, Any], prefix: str,
                     base: type[Section] = Section) -> list[Problem]:
    """Check a ``{type: name, **kwargs}`` config of ``registry`` against the named class's schema.

    A dotted variant name is its base plus the variant's overrides, merged over the config as
    :meth:`~rvosbench.core.registry.Registry.build_from` does. Fields marked :class:`BuiltBy` (a model's
    ``backbone``) are checked the same way against their own registry.
    """
    from rvosbench.core.registry import deep_merge

    name = config.get("type")
    if not isinstance(name, str):
        return [Problem((_dotted(prefix, ("type",)),), f"{_dotted(prefix, ('type',))} must be the name of a "
                        f"registered {registry.name}", hint=did_you_mean(str(name), registry.names()))]
    if name not in registry:
        return [Problem((_dotted(prefix, ("type",)),), f"unknown {registry.name} '{name}'",
                        hint=did_you_mean(name, registry.names()))]
    builder, overrides = registry.resolve(name)
    merged = deep_merge(config, overrides)
    schema = builder_schema(builder, base)
    data = merged if "type" in schema.model_fields else {k: v for k, v in merged.items() if k != "type"}
    found = check(schema, data, prefix)
    if found:
        return found
    for key, field in schema.model_fields.items():
        marker = next((m for m in field.metadata if isinstance(m, BuiltBy)), None)
        value = data.get(key)
        if marker is not None and isinstance(value, Mapping) and "type" in value:
            found += check_registered(marker.registry, value, _dotted(prefix, (key,)))
    return found


def parse_section(schema: type[Section], data: Mapping[str, Any] | None, section: str) -> Any:
    """Validate a section at run time (the plan checked it already) into its typed settings object."""
    data = dict(data or {})
    problems = check(schema, data, section)
    if problems:
        first = problems[0]
        raise ConfigError(first.what, where=first.keys[0], hint=first.fix(first.keys[0], via_override=False))
    return schema.model_validate(data)
