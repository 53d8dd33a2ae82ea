"""``train --resume`` on damaged run folders and data: one line naming the file and the reason
(exit 2), the checkpoint and the data left as they were; what can be continued is continued
(stale temporaries removed, a log row cut by a kill dropped, a run killed before its first
checkpoint started again)."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest
import torch

from microgan.core import checkpoint as ck

TINY = [
    "generator.channels=[4,8]", "critic.base=4", "losses.perceptual.weight=0", "losses.pixel.weight=1",
    "train.critic_steps=1", "train.val_every=1", "train.ckpt_every=1", "train.val_max_crops=2", "train.threads=1",
]


def _train_args(data: Path, run: Path, *extra: str) -> List[str]:
    return ["train", "--data", str(data), "--out", str(run), "--quiet", *sum((["--set", s] for s in TINY), []), *extra]


@pytest.fixture(scope="session")
def trained(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder after one step (last, best, config.yaml, metrics.csv, tensorboard/)."""
    from microgan import cli

    run = tmp_path_factory.mktemp("fuzz-run") / "run"
    assert cli.main(_train_args(tiny_prepared, run, "--config", "microgan", "--steps", "1")) == 0
    return run


def _edit(change: Callable[[ck.Checkpoint], None]) -> Callable[[Path, Path], None]:
    def damage(run: Path, data: Path) -> None:
        state = ck.load_checkpoint(run / ck.LAST_NAME)
        change(state)
        ck.save_checkpoint(run / ck.LAST_NAME, state)

    return damage


def _nan(group: str) -> Callable[[ck.Checkpoint], None]:
    def change(state: ck.Checkpoint) -> None:
        weights = getattr(state, group)
        weights[sorted(weights)[0]].view(-1)[0] = float("nan")

    return change


def _raw_last(meta: str) -> Callable[[Path, Path], None]:
    def damage(run: Path, data: Path) -> None:
        from safetensors.torch import save_file

        save_file({"generator.w": torch.zeros(1)}, str(run / ck.LAST_NAME), metadata={ck.META_KEY: meta})

    return damage


def _manifest(rewrite: Callable[[bytes], bytes]) -> Callable[[Path, Path], None]:
    def damage(run: Path, data: Path) -> None:
        (data / "manifest.csv").write_bytes(rewrite((data / "manifest.csv").read_bytes()))

    return damage


def _rename_ids(text: bytes) -> bytes:
    import io

    rows = list(csv.reader(io.StringIO(text.decode())))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0]] + [["x" + r[0]] + r[1:] for r in rows[1:]])
    return out.getvalue().encode()


def _train_crops(data: Path) -> List[Path]:
    from microgan.data.manifest import read_manifest

    return [data / r.hr_path for r in read_manifest(data) if r.split == "train"]


def _first_train_crop(data: Path) -> Path:
    return _train_crops(data)[0]


def _unreadable_crops(run: Path, data: Path) -> None:
    """Every train HR crop overwritten by text: the next step reads one of them."""
    for path in _train_crops(data):
        path.write_text("lost")


def _stale_and_cut(run: Path, data: Path) -> None:
    """What a kill -9 leaves: temporaries of atomic writes and a log row cut short."""
    for name in (ck.LAST_NAME, "config.yaml", "metrics.csv"):
        (run / f".{name}.k9.tmp").write_bytes(b"half written")
    with open(run / "metrics.csv", "a") as fh:
        fh.write("2,0,3.1,train/gen")


def _before_first_checkpoint(run: Path, data: Path) -> None:
    for name in (ck.LAST_NAME, ck.BEST_NAME):
        (run / name).unlink()
    (run / f".{ck.LAST_NAME}.k9.tmp").write_bytes(b"half written")


def _best_without_last(run: Path, data: Path) -> None:
    (run / ck.LAST_NAME).unlink()


#: name -> (damage, exit code, reason on stderr, file the reason names: "last" | "manifest" | "crop" | "run" | None)
Case = Tuple[Callable[[Path, Path], None], int, str, Optional[str]]
CASES = {
    "last-truncated": (lambda run, data: (run / ck.LAST_NAME).write_bytes((run / ck.LAST_NAME).read_bytes()[:5000]), 2,
                       "corrupt or unreadable checkpoint", "last"),
    "last-nan-generator": (_edit(_nan("generator")), 2, "generator weight", "last"),
    "last-nan-critic": (_edit(_nan("critic")), 2, "critic weight", "last"),
    "last-meta-list": (_raw_last("[1]"), 2, "metadata is not a JSON object", "last"),
    "last-without-config": (_raw_last('{"format": 1, "step": 1}'), 2, "holds no training config", "last"),
    "last-without-position": (_edit(lambda state: state.meta.pop("position")), 2, "metadata lacks a valid step", "last"),
    "last-step-not-a-number": (_edit(lambda state: state.meta.update(step="ten")), 2, "metadata lacks a valid step", "last"),
    "best-copied-over-last": (lambda run, data: shutil.copy(run / ck.BEST_NAME, run / ck.LAST_NAME), 2,
                              "does not match this run's networks", "last"),
    "other-crops-same-count": (_manifest(_rename_ids), 2, "crop ids differ", "last"),
    "manifest-latin-1": (_manifest(lambda b: b.replace(b"train/hr/", "trän/hr/".encode("latin-1"), 1)), 2,
                         "not UTF-8 text", "manifest"),
    "manifest-nul": (_manifest(lambda b: b.replace(b",train,", b",tr\x00ain,", 1)), 2, "NUL byte", "manifest"),
    "manifest-gone": (lambda run, data: (data / "manifest.csv").unlink(), 2, "no manifest here", "manifest"),
    "crop-file-gone": (lambda run, data: _first_train_crop(data).unlink(), 2, "files are missing", None),
    "crop-files-not-images": (_unreadable_crops, 2, "not a PNG, JPEG or TIFF", "crop"),
    "empty-run-no-config": (lambda run, data: shutil.rmtree(run) or run.mkdir(), 2, "nothing to resume", "run"),
    "stale-temporaries-and-cut-log-row": (_stale_and_cut, 0, "", None),
    "killed-before-first-checkpoint": (_before_first_checkpoint, 0, "holds no checkpoint yet", "run"),
    # a trained model (best) without the state to resume from: refused, never deleted
    "best-without-last": (_best_without_last, 2, "no last.safetensors", "run"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume(name: str, trained: Path, tiny_prepared: Path, tmp_path: Path, check) -> None:
    damage, code, reason, names = CASES[name]
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    data = Path(shutil.copytree(tiny_prepared, tmp_path / "data"))
    damage(run, data)
    data_before = check.hashes(data)
    last_before = check.hashes(run / ck.LAST_NAME) if (run / ck.LAST_NAME).is_file() else None
    best_before = check.hashes(run / ck.BEST_NAME) if (run / ck.BEST_NAME).is_file() else None
    result = check.cli(*_train_args(data, run, "--resume", "--steps", "2"))
    assert result.code == code, result.err
    named = {"last": str(run / ck.LAST_NAME), "manifest": str(data / "manifest.csv"), "run": str(run),
             "crop": str(data / "train" / "hr")}.get(names or "", "")
    if reason:
        check.one_line_naming(result.err, named, reason)
    assert check.hashes(data) == data_before, "the prepared data was modified"
    if code == 0:
        assert ck.load_checkpoint(run / ck.LAST_NAME).meta["step"] == 2
        assert check.leftovers(run) == []
        with open(run / "metrics.csv", newline="") as fh:
            assert all(None not in row.values() and all(row.values()) for row in csv.DictReader(fh))
    elif last_before is not None:
        assert check.hashes(run / ck.LAST_NAME) == last_before, "a refused resume changed the checkpoint"
    if code != 0 and best_before is not None:
        assert check.hashes(run / ck.BEST_NAME) == best_before, "a refused resume changed or deleted best"
