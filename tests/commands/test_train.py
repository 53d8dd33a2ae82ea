"""``microgan train`` end to end with tiny networks: files written, refusal to mix runs, resume
with the run's own config, and ``kill -9`` leaving a loadable checkpoint to resume from."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from microgan import cli
from microgan.core.checkpoint import LAST_NAME, load_checkpoint

TINY_SETS = [
    "generator.channels=[4,8]", "critic.base=4", "losses.perceptual.weight=0", "losses.pixel.weight=1",
    "train.critic_steps=1", "train.val_every=2", "train.ckpt_every=2", "train.val_max_crops=2", "train.threads=1",
]


def _args(data: Path, out: Path, *extra: str) -> List[str]:
    sets = sum((["--set", s] for s in TINY_SETS), [])
    return ["train", "--data", str(data), "--out", str(out), "--quiet", *sets, *extra]


def test_train_resume_and_refusal(tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "2")) == 0
    for name in ("best.safetensors", "last.safetensors", "metrics.csv", "config.yaml", "tensorboard"):
        assert (run / name).exists(), name
    assert capsys.readouterr().out == ""  # --quiet

    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "3")) == 2
    assert "--resume" in capsys.readouterr().err
    assert load_checkpoint(run / LAST_NAME).meta["step"] == 2  # untouched

    # resume takes the run's saved config (no --config); the stop criterion is raised to 3 steps
    assert cli.main(_args(tiny_prepared, run, "--resume", "--steps", "3")) == 0
    meta = load_checkpoint(run / LAST_NAME).meta
    assert meta["step"] == 3 and meta["config"]["generator"]["channels"] == [4, 8]


def test_an_unknown_device_is_one_line_before_overwrite_touches_the_run(tiny_prepared: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("an earlier run's file")
    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--overwrite", "--device", "tpu")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "device 'tpu'" in err
    assert (run / "keep.txt").is_file()


def test_resume_without_a_checkpoint_starts_again_with_a_note(tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed before its first checkpoint (config.yaml, logs, a stale temporary) is started
    again from its own config.yaml; without one and without --config it is one clear line."""
    assert cli.main(_args(tiny_prepared, tmp_path / "empty", "--resume")) == 2
    assert "nothing to resume" in (err := capsys.readouterr().err) and "--config" in err
    run = tmp_path / "run"
    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "1")) == 0
    for name in ("last.safetensors", "best.safetensors"):
        (run / name).unlink()
    (run / ".last.safetensors.x1.tmp").write_bytes(b"half a checkpoint")
    assert cli.main(_args(tiny_prepared, run, "--resume", "--steps", "2")) == 0
    assert "holds no checkpoint yet" in capsys.readouterr().err
    assert load_checkpoint(run / LAST_NAME).meta["step"] == 2
    assert not list(run.glob(".*.tmp"))
    # --config names the config when the run never got as far as writing its own
    assert cli.main(_args(tiny_prepared, tmp_path / "fresh", "--resume", "--config", "microgan", "--steps", "1")) == 0
    assert load_checkpoint(tmp_path / "fresh" / LAST_NAME).meta["step"] == 1


def test_kill_9_leaves_a_checkpoint_to_resume_from(tiny_prepared: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = _args(tiny_prepared, run, "--config", "microgan", "--steps", "100000", "--set", "train.ckpt_every=1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "microgan", *args], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run / LAST_NAME).is_file():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 2 minutes"
            time.sleep(0.05)
        time.sleep(0.3)  # a checkpoint is written every step: the kill lands anywhere in the loop
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    step = load_checkpoint(run / LAST_NAME).meta["step"]
    assert 1 <= step < 100000
    # every file the kill left (temporaries aside, removed at the next start) is whole and loadable
    import csv

    import yaml

    for checkpoint in run.glob("*.safetensors"):  # best exists once a validation ran
        load_checkpoint(checkpoint)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["ckpt_every"] == 1
    assert list(csv.reader(open(run / "metrics.csv")))[0] == ["step", "epoch", "wall_s", "tag", "value"]
    assert cli.main(_args(tiny_prepared, run, "--resume", "--steps", str(step + 2))) == 0
    assert load_checkpoint(run / LAST_NAME).meta["step"] == step + 2
    assert not list(run.glob(".*.tmp"))


def test_retired_key_fails_naming_it_but_an_old_run_still_resumes(tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "1", "--set", "data.batching=single")) == 2
    err = capsys.readouterr().err
    assert "data.batching is no longer a setting" in err and "data.batch_size" in err and "Traceback" not in err

    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "1")) == 0
    # a checkpoint written before data.batching was retired: its saved config still holds the key
    from microgan.core import checkpoint as ck

    old = ck.load_checkpoint(run / LAST_NAME)
    old.meta["config"]["data"]["batching"] = "single"
    ck.save_checkpoint(run / LAST_NAME, old)
    assert cli.main(_args(tiny_prepared, run, "--resume", "--steps", "2")) == 0
    assert "ignoring data.batching" in capsys.readouterr().err
    assert load_checkpoint(run / LAST_NAME).meta["step"] == 2


BLIND_SET = [
    "--set", 'data.degradation={"type": "compose", "steps": [{"type": "blur", "sigma": [0.5, 3.0]}, {"type": "gaussian-noise", "sigma": [0, 0.03]}]}',
    "--set", "data.augment={flips: true, colour: 0.03}",
]


def test_init_from_fine_tunes_and_metadata_names_the_data(tiny_prepared: Path, tmp_path: Path, save_tiny_generator) -> None:
    """--init-from starts from another model's generator; the checkpoint records where it started
    and which crops and source images it trained on; a resume on another crop set is refused."""
    import torch

    from microgan.data.manifest import read_manifest
    from microgan.core.checkpoint import BEST_NAME

    start = save_tiny_generator(tmp_path / "start.safetensors")
    run = tmp_path / "run"
    args = _args(tiny_prepared, run, "--config", "microgan", "--steps", "2", "--init-from", str(start),
                 "--set", "train.pixel_warmup_steps=2", *BLIND_SET)
    assert cli.main(args) == 0
    meta = load_checkpoint(run / LAST_NAME).meta
    assert meta["init_from"]["path"] == str(start)
    data = meta["training_data"]
    train_ids = sorted({r.source for r in read_manifest(tiny_prepared) if r.split == "train"})
    assert data["folders"][0]["images"] == train_ids and data["crops"] == len([r for r in read_manifest(tiny_prepared) if r.split == "train"])
    assert load_checkpoint(run / BEST_NAME).meta["training_data"] == data
    tuned = load_checkpoint(run / LAST_NAME).generator
    original = load_checkpoint(start).generator
    assert any(not torch.equal(tuned[k], original[k]) for k in original)  # trained on from there
    # the first step started from the given weights: a 0-step run would equal them; here check the
    # initial loss is the start model's by re-running with lr 0
    lr0 = tmp_path / "lr0"
    assert cli.main(_args(tiny_prepared, lr0, "--config", "microgan", "--steps", "1", "--init-from", str(start),
                          "--set", "train.pixel_warmup_steps=1", "--set", "train.optimizer.lr=0.0")) == 0
    frozen = load_checkpoint(lr0 / LAST_NAME).generator
    assert all(torch.equal(frozen[k], original[k]) for k in original)


def test_init_from_is_refused_with_resume_or_a_mismatched_generator(tiny_prepared: Path, tmp_path: Path, save_tiny_generator,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    start = save_tiny_generator(tmp_path / "start.safetensors")
    assert cli.main(_args(tiny_prepared, tmp_path / "r", "--resume", "--init-from", str(start))) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
    assert cli.main(_args(tiny_prepared, tmp_path / "r2", "--config", "microgan", "--steps", "1", "--init-from", str(start),
                          "--set", "generator.channels=[4,8,16]")) == 2
    assert "does not match this config" in capsys.readouterr().err


def test_resume_refuses_another_crop_set_of_the_same_size(tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import shutil

    run = tmp_path / "run"
    assert cli.main(_args(tiny_prepared, run, "--config", "microgan", "--steps", "2")) == 0
    other = shutil.copytree(tiny_prepared, tmp_path / "renamed")
    rows = list(csv.reader(open(other / "manifest.csv")))
    with open(other / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerows([rows[0]] + [["x" + r[0]] + r[1:] for r in rows[1:]])
    assert cli.main(_args(other, run, "--resume", "--steps", "3")) == 2
    assert "crop ids differ" in capsys.readouterr().err
