"""Recipes: every training stage that makes a model, in one file, run by one command.

A bundled model is rarely one ``microgan train``: ``microgan-blind`` is seven, each starting from an
earlier one with its own data mix, steps and learning rate. A recipe (``configs/recipes/NAME.yaml``,
or any YAML file) holds the chain::

    name: microgan-blind
    data: [bccd, chula-rbc12]          # the --data folders it reads, by name
    stages:
      - {name: bccd, config: microgan-bccd, data: [bccd]}
      - name: blind
        config: microgan-blind          # a bundled config or a YAML file
        from: bccd                      # an earlier stage (its best; STAGE:last for its last), a bundled
                                        # model or checkpoint, or nothing (from scratch)
        data: [bccd, chula-rbc12]
        set: {train.steps: 14000, data.repeat: [8, 1]}   # overrides, as --set

``microgan train --recipe NAME --data bccd=PREP chula-rbc12=PREP --out RUN`` checks every stage
(configs, overrides, starts, data) before anything runs, then trains the stages in order into
``RUN/NN-STAGE/``. ``RUN/recipe.json`` records each finished stage (written atomically), so a killed
run continued with ``--resume`` skips the finished stages and resumes the one that was running
exactly. The model is the last stage's ``best.safetensors`` (:func:`output_checkpoint`), whose
``init_from`` chain is the recipe (``scripts/bundle_pretrained.py`` copies it into ``lineage``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from microgan.config import apply_overrides, load_config, read_yaml, set_dotted
from microgan.core import checkpoint as ck
from microgan.core.atomic import atomic_write_json
from microgan.errors import CheckpointError, ConfigError, MicroGANError
from microgan.train.settings import check_config, refuse_unknown

RECIPES_DIR = Path(str(resources.files("microgan.configs").joinpath("recipes")))
STATE_NAME = "recipe.json"
STAGE_KEYS = ("name", "config", "from", "data", "set")


@dataclass
class Stage:
    name: str
    config: str
    data: List[str]
    start: Optional[str] = None  # "STAGE", "STAGE:last", a bundled model or checkpoint, or None
    overrides: Dict[str, Any] = field(default_factory=dict)

    def folder(self, out: Path, index: int) -> Path:
        return out / f"{index + 1:02d}-{self.name}"

    def settings(self, extra: Sequence[str] = ()) -> Dict[str, Any]:
        """The stage's run config: its config, its overrides, then ``extra`` (``--set``, last)."""
        config = load_config(self.config)
        for key, value in self.overrides.items():
            set_dotted(config, key, value)
        return apply_overrides(config, extra)


@dataclass
class Recipe:
    name: str
    data: List[str]
    stages: List[Stage]
    source: Path

    def index(self, name: str) -> int:
        return [s.name for s in self.stages].index(name)


def bundled_recipe_names() -> List[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def load_recipe(ref: str) -> Recipe:
    """A bundled recipe by name or a recipe YAML file, with its stages' shapes checked."""
    path = Path(ref)
    if not path.is_file():
        path = RECIPES_DIR / f"{Path(ref).stem}.yaml"
        if not path.is_file():
            raise ConfigError(f"{ref}: no such recipe file or bundled recipe (bundled: {', '.join(bundled_recipe_names())})")
    doc = read_yaml(path)
    refuse_unknown(doc, ["name", "data", "stages"], f"recipe key(s) in {path}")
    data, stages = doc.get("data"), doc.get("stages")
    if not isinstance(data, list) or not data or not all(isinstance(d, str) for d in data):
        raise ConfigError(f"{path}: 'data' must list the names of the data folders the recipe reads")
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{path}: 'stages' must be a non-empty list")
    parsed: List[Stage] = []
    for i, entry in enumerate(stages):
        where = f"{path}: stage {i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping with {', '.join(STAGE_KEYS)}")
        refuse_unknown(entry, STAGE_KEYS, f"key(s) in {where}")
        name, config = entry.get("name"), entry.get("config")
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}: 'name' must be a word (letters, digits, - and _), got {name!r}")
        if name in [s.name for s in parsed]:
            raise ConfigError(f"{where}: stage name '{name}' is used twice")
        if not isinstance(config, str):
            raise ConfigError(f"{where} ({name}): 'config' must name a bundled config or a YAML file")
        uses = entry.get("data", data)
        if (not isinstance(uses, list) or not uses or not all(isinstance(d, str) for d in uses)
                or set(uses) - set(data)):
            raise ConfigError(f"{where} ({name}): 'data' must list names from the recipe's data {data}, got {uses!r}")
        overrides = entry.get("set") or {}
        if not isinstance(overrides, dict) or not all(isinstance(k, str) and k and "" not in k.split(".")
                                                      for k in overrides):
            raise ConfigError(f"{where} ({name}): 'set' must map dotted keys (train.steps) to values")
        start = entry.get("from")
        if start is not None and not isinstance(start, str):
            raise ConfigError(f"{where} ({name}): 'from' must name an earlier stage, a bundled model or a checkpoint")
        parsed.append(Stage(name, config, list(uses), start, dict(overrides)))
    recipe = Recipe(str(doc.get("name") or path.stem), list(data), parsed, path)
    for stage in recipe.stages:
        _start_of(recipe, stage)  # an earlier stage, or a model that exists
    return recipe


def _start_of(recipe: Recipe, stage: Stage) -> Optional[tuple]:
    """``("stage", name, file name)``, ``("model", ref)`` or None, checked."""
    if stage.start is None:
        return None
    name, _, which = stage.start.partition(":")
    names = [s.name for s in recipe.stages]
    if name in names:
        if names.index(name) >= names.index(stage.name):
            raise ConfigError(f"{recipe.source}: stage '{stage.name}' starts from '{name}', which is not an earlier stage")
        if which not in ("", "best", "last"):
            raise ConfigError(f"{recipe.source}: stage '{stage.name}': from '{stage.start}': say STAGE, STAGE:best or STAGE:last")
        return ("stage", name, ck.LAST_NAME if which == "last" else ck.BEST_NAME)
    try:
        ck.resolve_model_path(stage.start)
    except CheckpointError:
        raise ConfigError(f"{recipe.source}: stage '{stage.name}' starts from '{stage.start}': neither an earlier stage "
                          "nor a bundled model or checkpoint") from None
    return ("model", stage.start)


def check_recipe(recipe: Recipe, data: Mapping[str, Path], extra: Sequence[str] = ()) -> None:
    """Everything a run needs, before any stage trains: every data folder named, every stage's
    config (with its overrides and ``extra``) valid."""
    missing = [d for d in recipe.data if d not in data]
    unknown = sorted(set(data) - set(recipe.data))
    if missing or unknown:
        raise ConfigError(f"recipe {recipe.name} reads --data {' '.join(f'{d}=PREPARED' for d in recipe.data)}"
                          + (f"; missing: {', '.join(missing)}" if missing else "")
                          + (f"; not read by it: {', '.join(unknown)}" if unknown else ""))
    for stage in recipe.stages:
        try:
            check_config(stage.settings(extra))
        except ConfigError as exc:
            raise ConfigError(f"recipe {recipe.name}, stage {stage.name}: {exc}") from None


def _read_state(out: Path) -> Dict[str, Any]:
    path = out / STATE_NAME
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MicroGANError(f"{path}: not a readable recipe state; remove it to start the recipe again") from None
    if not isinstance(state, dict) or not isinstance(state.get("done", []), list):
        raise MicroGANError(f"{path}: not a recipe state written by microgan; remove it to start the recipe again")
    return state


def output_checkpoint(out: Path) -> Path:
    """The model a finished recipe run made: its last stage's best checkpoint."""
    state = _read_state(Path(out))
    if not state or state.get("done") != state.get("stages"):
        raise MicroGANError(f"{out}: not a finished recipe run ({STATE_NAME} lists unfinished stages)")
    return Path(out) / state["folders"][-1] / ck.BEST_NAME


def run_recipe(
    recipe: Recipe,
    data: Mapping[str, Path],
    out: Path,
    *,
    train: Callable[..., Dict[str, Any]],
    resume: bool = False,
    overwrite: bool = False,
    extra: Sequence[str] = (),
    log: Callable[[str], None] = lambda line: None,
    **train_kwargs: Any,
) -> Path:
    """Train every stage in order (``train`` is :func:`microgan.train.trainer.run_training`);
    returns the model (the last stage's best checkpoint)."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other")
    check_recipe(recipe, data, extra)
    out = Path(out)
    state = _read_state(out)
    names = [s.name for s in recipe.stages]
    if state and state.get("stages") != names:
        raise MicroGANError(f"{out}: holds a run of another recipe (stages {state.get('stages')}); choose another --out")
    if state and not (resume or overwrite):
        raise MicroGANError(f"{out}: already holds a run of recipe {state.get('recipe')}; pass --resume to continue "
                            "it or --overwrite to start again")
    done = list(state.get("done", [])) if resume else []
    folders = [stage.folder(out, i).name for i, stage in enumerate(recipe.stages)]
    out.mkdir(parents=True, exist_ok=True)

    def record() -> None:
        atomic_write_json(out / STATE_NAME, {"recipe": recipe.name, "source": str(recipe.source), "stages": names,
                                             "folders": folders, "done": done, "extra": list(extra)})

    record()
    for i, stage in enumerate(recipe.stages):
        folder = stage.folder(out, i)
        if stage.name in done:
            log(f"stage {i + 1}/{len(names)} {stage.name}: done before, skipped")
            continue
        start = _start_of(recipe, stage)
        init_from = None
        if start is not None:
            init_from = str(out / folders[recipe.index(start[1])] / start[2]) if start[0] == "stage" else start[1]
        continuing = resume and (folder / ck.LAST_NAME).is_file()
        log(f"stage {i + 1}/{len(names)} {stage.name}: {stage.config}"
            + (f" from {stage.start}" if stage.start else "") + (" (resumed)" if continuing else "") + f" -> {folder}")
        paths = [Path(data[d]) for d in stage.data]
        # a stage folder is only ever cleared on --overwrite; a resume of a stage that holds best but
        # no last is refused by the trainer, never cleared (best is a trained model)
        summary = train(stage.settings(extra), paths[0] if len(paths) == 1 else paths, folder, resume=resume,
                        overwrite=overwrite, init_from=None if continuing else init_from, **train_kwargs)
        reason = str((summary or {}).get("reason", ""))
        if not reason.startswith("reached") or reason.endswith("minutes"):  # stopped by the clock: not finished
            log(f"stage {i + 1}/{len(names)} {stage.name} stopped before its end ({reason or 'no reason'}); "
                "the same command with --resume continues it")
            raise StageUnfinished(f"{out}: stage {stage.name} stopped before its end ({reason}); "
                                  "continue with --resume")
        done.append(stage.name)
        record()
    return output_checkpoint(out)


class StageUnfinished(MicroGANError):
    """A stage stopped before its steps or epochs (``--max-minutes``): the recipe is not finished."""
