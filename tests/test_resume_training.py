"""Resumable runs: SIGKILL in the middle of a stage, the same command again, same result."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fsbbt.train import TrainRecipe, fit_classifier, loop
from fsbbt.train.checkpoint import load_checkpoint

EPOCHS = 10
RUN = [
    "run",
    "digits",
    "--set",
    "methods=[student-alone/lenet5-half,standard-kd/lenet5]",
    "--set",
    "n_fewshot=500",
    "--set",
    "teacher.epochs=1",
    "--set",
    f"student.epochs={EPOCHS}",
    "--set",
    "student.augmentation=none",
    "--set",
    "curve_points=3",
]
STUDENTS = ("student-alone__lenet5-half__seed1.pt", "standard-kd__lenet5__seed1.pt")


def _kill_when(process: subprocess.Popen[str], path: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or stalled before writing {path}")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _assert_same_students(run: Path, reference_run: Path) -> None:
    for name in STUDENTS:
        state = torch.load(run / "students" / name, weights_only=True)
        reference = torch.load(reference_run / "students" / name, weights_only=True)
        for key, tensor in reference.items():
            assert torch.equal(state[key], tensor), f"{name}: {key} differs"


@pytest.fixture(scope="module")
def uninterrupted(run_cli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run both kill tests must end equal to, trained once for the module."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    run_cli(*RUN, "--out", out, "-q")
    return out


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(
    run_cli, fsbbt_command, cli_environment, tmp_path: Path, uninterrupted: Path
) -> None:
    out = tmp_path / "killed"
    checkpoint = out / "checkpoints" / "seed1__standard-kd__lenet5.ckpt"
    first_stage = out / "stages" / "seed1__student-alone__lenet5-half.json"
    # on one CPU the stages train one after another, so the kill falls in the second; the
    # resumed and the reference runs train side by side in workers (same weights either way)
    process = subprocess.Popen(
        ["taskset", "--cpu-list", "0", *fsbbt_command([*RUN, "--out", out, "-q"])],
        env=cli_environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _kill_when(process, checkpoint)

    assert first_stage.is_file(), "the first stage should have finished before the kill"
    assert not (out / "stages" / "seed1__standard-kd__lenet5.json").exists()
    assert not (out / "results.json").exists()
    epochs_done = load_checkpoint(checkpoint)["epoch"]
    assert 1 <= epochs_done < EPOCHS
    first_stage_written = first_stage.stat().st_mtime_ns

    resumed = run_cli(*RUN, "--out", out)
    assert "student-alone/lenet5-half: finished by an earlier run" in resumed.stderr
    assert f"after epoch {epochs_done}" in resumed.stderr
    assert first_stage.stat().st_mtime_ns == first_stage_written  # not redone
    assert "reusing teacher" in resumed.stderr
    results = json.loads((out / "results.json").read_text())
    curve = results["methods"]["standard-kd/lenet5"]["curves"][0]
    assert len(curve["epoch_loss"]) == EPOCHS  # the epochs before the kill are kept
    assert curve["eval_epochs"] == [3, 6, 9, 10]
    assert not checkpoint.exists()

    # Every draw is a function of (seed, epoch), so the resumed run ends with exactly the
    # weights of a run that was never interrupted (CPU, one thread per training: deterministic).
    _assert_same_students(out, uninterrupted)


@pytest.mark.slow
def test_run_killed_while_students_train_side_by_side_resumes(
    run_cli, fsbbt_command, cli_environment, tmp_path: Path, uninterrupted: Path
) -> None:
    out = tmp_path / "killed"
    process = subprocess.Popen(
        fsbbt_command([*RUN, "--out", out, "-q"]),
        env=cli_environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # both students train in worker processes; the kill takes them down with the run
    _kill_when(process, out / "checkpoints" / "seed1__standard-kd__lenet5.ckpt")
    assert not (out / "results.json").exists()
    run_cli(*RUN, "--out", out, "-q")
    _assert_same_students(out, uninterrupted)


def _tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (96, 1, 8, 8), dtype=np.uint8)
    return images, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(5)
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(64, 16),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(16, 3),
    )


@pytest.mark.parametrize("average_epochs", [0.0, 1.5])
def test_fit_classifier_resume_equals_uninterrupted(tmp_path: Path, average_epochs: float) -> None:
    images, targets = _tiny_data()
    model = _tiny_model
    recipe = TrainRecipe(epochs=4, batch_size=32, augmentation="combination", average_epochs=average_epochs)
    reference = model()
    reference_history = fit_classifier(reference, images, targets, recipe, seed=1)

    checkpoint = tmp_path / "stage.ckpt"
    interrupted = model()
    first_part = fit_classifier(
        interrupted,
        images,
        targets,
        TrainRecipe(**{**recipe.__dict__, "epochs": 2}),
        seed=1,
        checkpoint=checkpoint,
    )
    saved = load_checkpoint(checkpoint)
    assert saved["epoch"] == 2 and 0 < saved["history"]["seconds"] <= first_part.seconds
    resumed = model()  # a fresh process: new weights, overwritten from the checkpoint
    history = fit_classifier(resumed, images, targets, recipe, seed=1, checkpoint=checkpoint)
    assert history.epoch_loss == pytest.approx(reference_history.epoch_loss, abs=0)
    assert history.seconds > first_part.seconds  # the time of both processes
    for mine, theirs in zip(resumed.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs)


def test_averaged_weights_over_one_step_are_the_last_ones_and_longer_averages_differ() -> None:
    images, targets = _tiny_data()  # 3 steps per epoch

    def trained(average_epochs: float) -> list[torch.Tensor]:
        model = _tiny_model()
        recipe = TrainRecipe(epochs=3, batch_size=32, average_epochs=average_epochs)
        fit_classifier(model, images, targets, recipe, seed=1)
        return list(model.state_dict().values())

    last = trained(0.0)
    assert all(torch.equal(a, b) for a, b in zip(trained(1 / 3), last, strict=True))
    averaged = trained(2.0)
    assert not any(torch.allclose(a, b) for a, b in zip(averaged, last, strict=True))


def test_checkpoint_of_another_recipe_is_not_resumed(tmp_path: Path) -> None:
    images = np.zeros((8, 1, 4, 4), np.uint8)
    targets = np.full((8, 2), 0.5, np.float32)
    checkpoint = tmp_path / "stage.ckpt"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    fit_classifier(net, images, targets, TrainRecipe(epochs=2, batch_size=4), seed=1, checkpoint=checkpoint)
    history = fit_classifier(
        net, images, targets, TrainRecipe(epochs=2, batch_size=8, lr=0.1), seed=1, checkpoint=checkpoint
    )
    assert len(history.epoch_loss) == 2 and history.images_per_second > 0
    second_recipe = TrainRecipe(epochs=2, batch_size=8, lr=0.1)
    assert load_checkpoint(checkpoint)["fingerprint"] == loop._fingerprint(
        net, images, targets, second_recipe, 1
    )


def test_raising_the_epoch_count_continues_an_interrupted_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 1, 4, 4), dtype=np.uint8)
    targets = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    checkpoint = tmp_path / "stage.ckpt"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    first = fit_classifier(
        net, images, targets, TrainRecipe(epochs=2, batch_size=4), seed=1, checkpoint=checkpoint
    )
    longer = fit_classifier(
        net, images, targets, TrainRecipe(epochs=3, batch_size=4), seed=1, checkpoint=checkpoint
    )
    assert longer.epoch_loss[:2] == first.epoch_loss and len(longer.epoch_loss) == 3
    other_data = fit_classifier(
        net, 255 - images, targets, TrainRecipe(epochs=3, batch_size=4), seed=1, checkpoint=checkpoint
    )
    assert other_data.epoch_loss[:2] != first.epoch_loss  # other images: started afresh


def test_unreadable_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "stage.ckpt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="delete it to train this stage from the start"):
        load_checkpoint(broken)


def test_checkpoint_past_the_last_epoch_is_not_resumed(tmp_path: Path) -> None:
    images = np.zeros((8, 1, 4, 4), np.uint8)
    targets = np.full((8, 2), 0.5, np.float32)
    checkpoint = tmp_path / "stage.ckpt"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    fit_classifier(net, images, targets, TrainRecipe(epochs=3, batch_size=4), seed=1, checkpoint=checkpoint)
    history = fit_classifier(
        net, images, targets, TrainRecipe(epochs=2, batch_size=4), seed=1, checkpoint=checkpoint
    )
    assert len(history.epoch_loss) == 2  # trained 2 epochs afresh, not "3 of 2 done"
    assert load_checkpoint(checkpoint)["epoch"] == 2


def test_interrupted_teacher_training_resumes(tmp_path: Path, monkeypatch) -> None:
    from fsbbt.data import load_dataset
    from fsbbt.experiment.config import TeacherConfig
    from fsbbt.teacher import local, train_local

    digits = load_dataset("digits")
    settings = TeacherConfig(arch="lenet5-half", epochs=3, batch_size=128)
    train_local.train_teacher(settings, digits, tmp_path / "reference")
    reference = torch.load(tmp_path / "reference" / local.WEIGHTS_FILE, weights_only=True)
    assert not (tmp_path / "reference" / train_local.CHECKPOINT_FILE).exists()

    real_epoch_generators = loop.epoch_generators
    epochs_started: list[int] = []

    def dies_in_epoch_3(seed: int, epoch: int):
        if epoch == 3:
            raise KeyboardInterrupt  # killed at the start of epoch 3
        return real_epoch_generators(seed, epoch)

    def records_epochs(seed: int, epoch: int):
        epochs_started.append(epoch)
        return real_epoch_generators(seed, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "epoch_generators", dies_in_epoch_3)
        with pytest.raises(KeyboardInterrupt):
            train_local.train_teacher(settings, digits, tmp_path / "killed")
    assert load_checkpoint(tmp_path / "killed" / train_local.CHECKPOINT_FILE)["epoch"] == 2
    assert not (tmp_path / "killed" / local.METADATA_FILE).exists()

    monkeypatch.setattr(loop, "epoch_generators", records_epochs)
    train_local.train_teacher(settings, digits, tmp_path / "killed")
    assert epochs_started == [3]  # only the epoch the kill interrupted is trained again
    resumed = torch.load(tmp_path / "killed" / local.WEIGHTS_FILE, weights_only=True)
    assert all(torch.equal(resumed[key], reference[key]) for key in reference)
    assert not (tmp_path / "killed" / train_local.CHECKPOINT_FILE).exists()
