"""The experiment configuration: one YAML file, validated, unknown keys refused.

Every key has the paper's value as its default where the paper gives one; a config
file only says what differs (dataset, N, M, epochs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fsbbt.core.errors import FsbbtError
from fsbbt.core.precision import PrecisionName
from fsbbt.experiment.method_spec import parse_method_entry
from fsbbt.train.augment import GeometryName
from fsbbt.train.schedule import LrScheduleName

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TeacherKind = Literal["train", "local", "torchscript", "onnx", "python", "http"]
AugmentationName = Literal["none", "standard", "combination"]
TeacherOutput = Literal["probabilities", "logits", "label", "topk"]

# Keys each external kind understands. The training keys (arch, epochs, batch_size, lr,
# seed) are accepted with every kind, because presets set them and a user switching a
# preset to another teacher with --set should not have to unset them; they only matter
# for kind "train".
_TRAIN_KEYS = {"kind", "arch", "epochs", "batch_size", "lr", "seed", "augmentation",
               "geometry", "lr_schedule"}
_SHAPE_KEYS = {"output", "input_shape", "class_names"}
TEACHER_KIND_KEYS: dict[str, set[str]] = {
    "train": set(),
    "local": {"path"},
    "torchscript": {"path"} | _SHAPE_KEYS,
    "onnx": {"path"} | _SHAPE_KEYS,
    "python": {"function"} | _SHAPE_KEYS,
    "http": {"url", "headers", "token_env", "request_batch_size", "concurrency", "timeout_s",
             "retries", "max_backoff_s"} | _SHAPE_KEYS,
}
_REQUIRED_KEY = {"local": "path", "torchscript": "path", "onnx": "path", "python": "function",
                 "http": "url"}


class TeacherConfig(_Strict):
    """The teacher: trained by fsbbt (arch, epochs, ...), a saved one (path), or any other
    kind (docs/teachers.md). Without ``kind`` it is ``local`` if ``path`` is set, else
    ``train``."""

    kind: TeacherKind | None = None
    arch: str = "lenet5"
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    seed: int = 0
    augmentation: AugmentationName = Field(
        "none", description="the teacher's own training augmentation (its full training split)")
    geometry: GeometryName = "auto"
    lr_schedule: LrScheduleName = "constant"
    path: Path | None = None
    function: str | None = Field(None, description="module:function or file.py:function")
    url: str | None = None
    headers: dict[str, str] = {}
    token_env: str | None = Field(None, description="env var holding a bearer token (never logged)")
    request_batch_size: int = Field(64, ge=1)
    concurrency: int = Field(4, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(5, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    output: TeacherOutput = "probabilities"
    input_shape: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def resolved_kind(self) -> str:
        if self.kind is not None:
            return self.kind
        return "local" if self.path is not None else "train"

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> TeacherConfig:
        kind = self.resolved_kind
        stray = self.model_fields_set - _TRAIN_KEYS - TEACHER_KIND_KEYS[kind]
        if stray:
            raise ValueError(f"key(s) {', '.join(sorted(stray))} do not apply to teacher "
                             f"kind {kind!r}")
        required = _REQUIRED_KEY.get(kind)
        if required is not None and getattr(self, required) is None:
            raise ValueError(f"teacher kind {kind!r} needs teacher.{required}")
        return self


class StudentConfig(_Strict):
    """The student recipe. Baselines (trained on the N images only) have their own
    augmentation: with "none" they land on the paper's numbers, with "combination" 2-4
    points below (measured on Fashion-MNIST, see README)."""

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    augmentation: AugmentationName = "combination"
    baseline_augmentation: AugmentationName = "none"
    geometry: GeometryName = Field("auto", description="auto: cifar for colour images, else grey")
    lr_schedule: LrScheduleName = "constant"
    # What a student's saved batch-norm statistics are measured on (train/batch_norm.py):
    # "real", its N few images as they are, the kind of image it will classify;
    # "training", one more epoch of its training batches (MixUp images, batch mixing,
    # shifts), the reference's reading. Networks without batch norm ignore it.
    batch_norm_statistics: Literal["real", "training"] = "real"


class CvaeConfig(_Strict):
    kind: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = Field(2, ge=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    sampling: Literal["gaussian", "uniform", "hybrid"] = "hybrid"


class SynthesisConfig(_Strict):
    """M, the synthetic budget, and the MixUp rule; ``mixup``/``cvae`` switch either part off."""

    budget: int = Field(48_000, ge=0)
    mixup_alpha: float = Field(1.0, gt=0)
    threshold: float = Field(0.05, ge=0, lt=0.5)
    mixup: bool = True
    cvae: bool = True


class BbkdConfig(_Strict):
    """BBKD, the active-MixUp baseline (methods/bbkd.py says which choice is whose)."""

    budget: int | None = Field(None, ge=1, description="teacher queries in all, the N real "
                               "images included; default N + synthesis.budget, FS-BBT's")
    per_round: int = Field(10_000, ge=1, description="least-confident mixes queried per round")
    weights: tuple[float, ...] = tuple(round(0.30 + 0.04 * i, 2) for i in range(11))
    pool_cap: int | None = Field(100_000, ge=1, description="pool pairs scored per round (a "
                                 "random subsample, for CPU cost); null scores the whole pool")
    augmentation: AugmentationName = "standard"

    @model_validator(mode="after")
    def _cap_holds_a_round(self) -> BbkdConfig:
        if not self.weights or not all(0 < w < 1 for w in self.weights):
            raise ValueError("bbkd.weights must be a non-empty list of numbers in (0, 1)")
        if self.pool_cap is not None and self.pool_cap < self.per_round:
            raise ValueError(f"bbkd.pool_cap {self.pool_cap} must be at least bbkd.per_round "
                             f"{self.per_round}")
        return self


class ExperimentConfig(_Strict):
    dataset: str
    data_dir: Path | None = None
    n_fewshot: int = Field(2000, ge=1)
    seeds: list[int] = [1]
    methods: list[str] = ["student-alone/lenet5-half", "standard-kd/lenet5-half",
                          "fsbbt/lenet5-half", "fsbbt/lenet5"]
    query_batch_size: int = Field(256, ge=1)
    query_budget: int | None = Field(None, ge=0, description="most answers the ledger may hold")
    curve_points: int = Field(10, ge=0, description="test-accuracy points per training curve")
    precision: PrecisionName = Field("auto", description="see fsbbt.core.precision")
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    cvae: CvaeConfig = CvaeConfig()
    synthesis: SynthesisConfig = SynthesisConfig()
    bbkd: BbkdConfig = BbkdConfig()

    @field_validator("methods")
    @classmethod
    def _method_names_have_an_arch(cls, methods: list[str]) -> list[str]:
        keys = [parse_method_entry(entry).key for entry in methods]
        if len(set(keys)) != len(keys):
            raise ValueError("methods lists an entry twice; give each METHOD[...]/ARCH once")
        return methods


def config_with_overrides(config: ExperimentConfig, overrides: tuple[str, ...],
                          source: str) -> ExperimentConfig:
    """``config`` with ``key=value`` assignments applied (a method variant's config)."""
    if not overrides:
        return config
    # only the keys the user set: a full dump would "set" every teacher key, which the
    # teacher section refuses for kinds they do not apply to
    return config_from_tree(config.model_dump(mode="json", exclude_unset=True), list(overrides),
                            source)


def _apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` (value parsed as YAML) to a nested dict."""
    if "=" not in assignment:
        raise FsbbtError(f"--set {assignment!r} is not KEY=VALUE; write e.g. --set student.epochs=5")
    dotted, raw_value = assignment.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise FsbbtError(f"--set {dotted}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw_value)


def _one_line(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown config key '{key}'")
        elif item["type"] == "missing":
            problems.append(f"missing config key '{key}'")
        else:
            problems.append(f"'{key}': {item['msg']}")
    return (f"{source}: {'; '.join(problems)}; fix the key (see the config reference in "
            "README.md)")


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file path, or the name of a bundled preset (``digits``, ``fashion-mnist``...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    preset = PRESET_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    presets = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
    raise FsbbtError(f"config {name_or_path} not found; give a YAML path or a preset ({presets})")


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override (``--set``) and validate a config; a wrong key is a one-line error."""
    path = resolve_config_path(name_or_path)
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise FsbbtError(f"{path} is not valid YAML ({exc}); fix the file") from exc
    if not isinstance(tree, dict):
        raise FsbbtError(f"{path} must hold a mapping of config keys")
    return config_from_tree(tree, overrides, str(path))


def config_from_tree(tree: dict[str, Any], overrides: list[str] | None,
                     source: str) -> ExperimentConfig:
    """Validate a config built in code (``fsbbt distill``) the same way as a file."""
    for assignment in overrides or []:
        _apply_override(tree, assignment)
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as exc:
        raise FsbbtError(_one_line(exc, source)) from None
