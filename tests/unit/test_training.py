"""pf.training.Trainer against a hand-written PyTorch loop: same initial weights, same batches,
same loss at every step; one compiled program per fit (a short last batch is padded and masked);
history and metrics; callbacks; checkpoint + resume continues identically; evaluate."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import pyflame as pf
from pyflame import nn
from pyflame.nn import CrossEntropyLoss
from pyflame.nn import functional as F
from pyflame.optim import SGD, Adam
from pyflame.training import Trainer, TrainerConfig, loss_rule

IN, HIDDEN, CLASSES, SAMPLES, BATCH = 8, 16, 3, 10, 4  # batches of 4, 4 and a short 2


pytestmark = pytest.mark.usefixtures("small_target")


# --------------------------------------------------------------------------- the problem


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "fc1.weight": (rng.standard_normal((HIDDEN, IN)) * 0.4).astype(np.float32),
        "fc1.bias": (rng.standard_normal(HIDDEN) * 0.1).astype(np.float32),
        "fc2.weight": (rng.standard_normal((CLASSES, HIDDEN)) * 0.4).astype(np.float32),
        "fc2.bias": (rng.standard_normal(CLASSES) * 0.1).astype(np.float32),
    }


class MLP(nn.Module):
    """8 -> 16 -> 3 with ReLU; `dropout` adds pf.dropout in training mode only."""

    def __init__(self, seed: int = 0, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(IN, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, CLASSES)
        self.load_state_dict(weights(seed))
        self.p = dropout

    def forward_train(self, x):
        h = pf.relu(self.fc1(x))
        return self.fc2(pf.dropout(h, self.p) if self.p else h)

    def forward_eval(self, x):
        return self.fc2(pf.relu(self.fc1(x)))


def torch_mlp(seed: int = 0) -> torch.nn.Module:
    model = torch.nn.Sequential()
    model.add_module("fc1", torch.nn.Linear(IN, HIDDEN))
    model.add_module("relu", torch.nn.ReLU())
    model.add_module("fc2", torch.nn.Linear(HIDDEN, CLASSES))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights(seed).items()})
    return model


def data(seed: int = 1, samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, IN)).astype(np.float32)
    y = rng.integers(0, CLASSES, samples)  # int64, as sklearn and torch give them
    return x, y


def batches(x: np.ndarray, y: np.ndarray, size: int = BATCH) -> list:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def quiet(**kw) -> TrainerConfig:
    return TrainerConfig(progress_bar=False, **kw)


def params_of(model) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- vs PyTorch

LOSSES = {
    # name: (pyflame loss_fn, torch loss_fn, float targets?, expected rule)
    "CrossEntropyLoss": (
        lambda: CrossEntropyLoss(),
        torch.nn.CrossEntropyLoss,
        False,
        "ignore_index",
    ),
    "F.cross_entropy": (
        lambda: F.cross_entropy,
        lambda: torch.nn.functional.cross_entropy,
        False,
        "ignore_index",
    ),
    "F.mse_loss": (lambda: F.mse_loss, lambda: torch.nn.functional.mse_loss, True, "reduction"),
    "BCEWithLogitsLoss": (
        lambda: pf.nn.BCEWithLogitsLoss(),
        torch.nn.BCEWithLogitsLoss,
        True,
        "reduction",
    ),
    "KLDivLoss_batchmean": (  # the sum over each sample, the mean over samples
        lambda: pf.nn.KLDivLoss(reduction="batchmean"),
        lambda: torch.nn.KLDivLoss(reduction="batchmean"),
        True,
        "reduction",
    ),
    "lambda": (
        lambda: lambda out, t: F.cross_entropy(out, t),
        lambda: torch.nn.functional.cross_entropy,
        False,
        "per_row",
    ),
}


def torch_losses(loss_fn, x, y, epochs, lr=0.1, momentum=0.9, float_targets=False):
    model = torch_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(epochs):
        for xb, yb in batches(x, y):
            target = torch.from_numpy(yb)
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(xb)), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, {k: v.detach().numpy() for k, v in model.state_dict().items()}


def fit_two_epochs(loss_fn, x, y):
    """(model, trainer, the loss of every step) of the MLP trained two epochs by SGD with
    momentum on (x, y) in batches of BATCH."""
    model = MLP()
    losses: list[float] = []
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        loss_fn,
        quiet(
            max_epochs=2,
            callbacks=[
                pf.training.LambdaCallback(
                    on_step_end=lambda tr, step, logs: losses.append(logs["loss"])
                )
            ],
        ),
    )
    trainer.fit(batches(x, y))
    return model, trainer, losses


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_match_pytorch_at_every_step(name):
    make_pf, make_torch, float_targets, rule = LOSSES[name]
    x, y = data()
    if float_targets:
        y = np.eye(CLASSES, dtype=np.float32)[y]
    expected, expected_weights = torch_losses(make_torch(), x, y, epochs=2)
    model, trainer, losses = fit_two_epochs(make_pf(), x, y)
    assert trainer._rule == rule == loss_rule(make_pf(), not float_targets)
    np.testing.assert_allclose(losses, expected, rtol=2e-3, atol=1e-6)
    for k, v in params_of(model).items():
        np.testing.assert_allclose(v, expected_weights[k], rtol=2e-3, atol=1e-5)


def test_adam_matches_pytorch():
    x, y = data()
    model = MLP()
    losses = []
    trainer = Trainer(
        model,
        Adam(model.parameters(), lr=0.01),
        CrossEntropyLoss(),
        quiet(
            max_epochs=2,
            callbacks=[
                pf.training.LambdaCallback(
                    on_step_end=lambda tr, step, logs: losses.append(logs["loss"])
                )
            ],
        ),
    )
    trainer.fit(batches(x, y))
    tmodel = torch_mlp()
    opt = torch.optim.Adam(tmodel.parameters(), lr=0.01)
    expected = []
    for _ in range(2):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                tmodel(torch.from_numpy(xb)), torch.from_numpy(yb)
            )
            loss.backward()
            opt.step()
            expected.append(loss.item())
    np.testing.assert_allclose(losses, expected, rtol=2e-3, atol=1e-6)


PADDED_LOSSES = {
    "CrossEntropyLoss(weight, label_smoothing)": (
        lambda: nn.CrossEntropyLoss(
            weight=np.array([0.5, 2.0, 1.0], np.float32), label_smoothing=0.1
        ),
        lambda: torch.nn.CrossEntropyLoss(
            weight=torch.tensor([0.5, 2.0, 1.0]), label_smoothing=0.1
        ),
        False,
    ),
    "CrossEntropyLoss(sum, probabilities)": (
        lambda: nn.CrossEntropyLoss(reduction="sum"),
        lambda: torch.nn.CrossEntropyLoss(reduction="sum"),
        True,
    ),
    "MSELoss(sum)": (
        lambda: nn.MSELoss(reduction="sum"),
        lambda: torch.nn.MSELoss(reduction="sum"),
        True,
    ),
    "MSELoss": (nn.MSELoss, torch.nn.MSELoss, True),
}


@pytest.mark.parametrize("name", list(PADDED_LOSSES))
def test_a_padded_batch_has_the_loss_of_its_real_rows(name):
    make_pf, make_torch, float_targets = PADDED_LOSSES[name]
    x, y = data(samples=3)
    if float_targets:
        y = np.eye(CLASSES, dtype=np.float32)[y]
    model = MLP()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), make_pf(), quiet(batch_size=8))
    got = trainer.evaluate([(x, y)])["loss"]  # 3 real rows padded to 8
    with torch.no_grad():
        expected = make_torch()(torch_mlp()(torch.from_numpy(x)), torch.from_numpy(y)).item()
    assert got == pytest.approx(expected, rel=2e-3)


IGNORING_LOSSES = {
    # name: (pyflame loss_fn, torch loss_fn)
    "F.cross_entropy": (lambda: F.cross_entropy, lambda: torch.nn.functional.cross_entropy),
    "partial(F.cross_entropy, weight)": (
        lambda: functools.partial(F.cross_entropy, weight=pf.tensor([0.5, 2.0, 1.0])),
        lambda: functools.partial(
            torch.nn.functional.cross_entropy, weight=torch.tensor([0.5, 2.0, 1.0])
        ),
    ),
    "partial(F.cross_entropy, ignore_index=1, label_smoothing)": (
        lambda: functools.partial(F.cross_entropy, ignore_index=1, label_smoothing=0.2),
        lambda: functools.partial(
            torch.nn.functional.cross_entropy, ignore_index=1, label_smoothing=0.2
        ),
    ),
    "partial(F.nll_loss, weight, sum)": (
        lambda: functools.partial(F.nll_loss, weight=pf.tensor([2.0, 1.0, 0.5]), reduction="sum"),
        lambda: functools.partial(
            torch.nn.functional.nll_loss, weight=torch.tensor([2.0, 1.0, 0.5]), reduction="sum"
        ),
    ),
}


@pytest.mark.parametrize("name", list(IGNORING_LOSSES))
def test_loss_functions_with_ignored_targets_and_class_weights_match_pytorch(name):
    """A loss function (not a module) with an ignore_index parameter gets the ignore_index
    rule: it was asked for reduction='none' and averaged over every row, so a target it
    ignores (-100 by default) still counted in the mean and class weights were left out of
    the denominator: the loss and the training differed from PyTorch's, without padding.
    Full batches of 4 (targets ignored in them), then a padded one of 3."""
    make_pf, make_torch = IGNORING_LOSSES[name]
    x, y = data(samples=11)
    # ignored targets (the default -100, or the partial's 1), in full and padded batches
    y[[1, 5, 6, 10]] = 1 if "ignore_index=1" in name else -100
    expected, expected_weights = torch_losses(make_torch(), x, y, epochs=2)
    model, trainer, losses = fit_two_epochs(make_pf(), x, y)
    assert trainer._rule == "ignore_index"
    np.testing.assert_allclose(losses, expected, rtol=2e-3, atol=1e-6)
    for k, v in params_of(model).items():
        np.testing.assert_allclose(v, expected_weights[k], rtol=2e-3, atol=1e-5)


# --------------------------------------------------------------------------- compile once


def test_fit_compiles_once_with_a_short_last_batch():
    x, y = data(samples=11)  # 4, 4, 3
    model = MLP()
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        CrossEntropyLoss(),
        quiet(max_epochs=3, metrics=("loss", "accuracy")),
    )
    pf.cache_clear()
    trainer.fit(batches(x, y))
    assert pf.cache_info().misses == 1
    assert pf.cache_info().hits == 3 * 3 - 1
    trainer.evaluate(batches(x, y))  # its own program (no backward, no updates), once
    trainer.evaluate(batches(x, y))
    assert pf.cache_info().misses == 2


def test_guide_pattern_2_option_1():
    """The migration guide's snippet, as written: defaults are one epoch, a progress bar."""
    x, y = data()
    model = MLP()
    optimizer = SGD(model.parameters(), lr=0.1)
    criterion = CrossEntropyLoss()
    train_loader = batches(x, y)
    trainer = pf.training.Trainer(model=model, optimizer=optimizer, loss_fn=criterion)
    trainer.fit(train_loader)
    assert trainer.epoch == 1 and trainer.global_step == 3
    assert len(trainer.history["loss"]) == 1


# --------------------------------------------------------------------------- metrics, history


def test_history_is_the_sample_weighted_mean_of_step_metrics():
    x, y = data(samples=11)
    model = MLP()
    steps = []
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.05),
        CrossEntropyLoss(),
        quiet(
            max_epochs=2,
            metrics=("loss", "accuracy"),
            callbacks=[
                pf.training.LambdaCallback(on_step_end=lambda tr, s, logs: steps.append(logs))
            ],
        ),
    )
    history = trainer.fit(batches(x, y))
    assert history is trainer.history and set(history) == {"loss", "accuracy"}
    for epoch in range(2):
        logs = [s for s in steps if s["epoch"] == epoch]
        assert [s["samples"] for s in logs] == [4, 4, 3]
        for name in ("loss", "accuracy"):
            mean = sum(s[name] * s["samples"] for s in logs) / 11
            assert history[name][epoch] == pytest.approx(mean, rel=1e-6)
    for s in steps:  # a batch's accuracy counts real rows only: a multiple of 1/rows
        assert s["accuracy"] * s["samples"] == pytest.approx(round(s["accuracy"] * s["samples"]))


def test_evaluate_matches_pytorch_and_does_not_update():
    x, y = data(samples=11)
    model = MLP()
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1),
        CrossEntropyLoss(),
        quiet(metrics=("loss", "accuracy")),
    )
    before = params_of(model)
    result = trainer.evaluate(batches(x, y))
    for k, v in params_of(model).items():
        np.testing.assert_array_equal(v, before[k])
    with torch.no_grad():
        logits = torch_mlp()(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
        acc = (logits.argmax(1).numpy() == y).mean()
    assert result["loss"] == pytest.approx(loss, rel=2e-3)
    assert result["accuracy"] == pytest.approx(acc)
    assert model.training  # the mode is restored


def test_val_loader_metrics_and_custom_metric():
    x, y = data(samples=11)
    model = MLP()

    def top1_error(out, target):
        return (out.argmax(dim=1) != target).astype(pf.float32)

    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1),
        CrossEntropyLoss(),
        quiet(max_epochs=2, metrics=("accuracy", top1_error)),
    )
    history = trainer.fit(batches(x, y), val_loader=batches(x, y, 8))
    assert set(history) == {
        "loss",
        "accuracy",
        "top1_error",
        "val_loss",
        "val_accuracy",
        "val_top1_error",
    }
    for a, e in zip(history["val_accuracy"], history["val_top1_error"], strict=True):
        assert a + e == pytest.approx(1.0)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        TrainerConfig(metrics=("loss", "f1"))


# --------------------------------------------------------------------------- loaders


def test_loader_kinds():
    x, y = data()
    model = MLP()
    trainer = Trainer(
        model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss(), quiet(max_epochs=2)
    )
    trainer.fit(lambda: iter(batches(x, y)))  # a callable: a fresh iterator per epoch
    assert trainer.global_step == 6
    tensors = [(pf.from_numpy(a), pf.from_numpy(b)) for a, b in batches(x, y)]
    trainer.config.max_epochs = 3
    trainer.fit(tensors)  # pf tensors; max_epochs is the total: one more epoch
    assert trainer.epoch == 3 and trainer.global_step == 9
    trainer.config.max_epochs = 5
    with pytest.raises(ValueError, match="one-shot iterator"):
        trainer.fit(iter(batches(x, y)))


def test_a_batch_larger_than_the_first_is_refused():
    x, y = data()
    model = MLP()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss(), quiet())
    with pytest.raises(ValueError, match="more than the compiled batch size 2"):
        trainer.fit([(x[:2], y[:2]), (x[2:6], y[2:6])])


@pytest.mark.parametrize("tqdm", [True, False])
def test_progress_bar_shows_the_loss(capsys, monkeypatch, tqdm):
    if not tqdm:
        monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)  # import fails
    elif __import__("importlib").util.find_spec("tqdm") is None:
        pytest.skip("tqdm is not installed")
    x, y = data()
    model = MLP()
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1),
        CrossEntropyLoss(),
        TrainerConfig(max_epochs=1, log_every_n_steps=2),
    )
    trainer.fit(batches(x, y))
    out = capsys.readouterr()
    assert "epoch 1/1" in out.err and "loss" in out.err
    assert "step 2: loss" in out.out


# --------------------------------------------------------------------------- callbacks


def test_callbacks_objects_and_callables():
    x, y = data()
    events = []

    class Recorder(pf.training.Callback):
        def on_fit_start(self, trainer):
            events.append("start")

        def on_step_end(self, trainer, step, logs):
            events.append(("step", step, logs["epoch"], logs["batch"]))

        def on_epoch_end(self, trainer, epoch, logs):
            events.append(("epoch", epoch, round(logs["loss"], 6)))

        def on_fit_end(self, trainer):
            events.append("end")

    plain = []
    model = MLP()
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1),
        CrossEntropyLoss(),
        quiet(max_epochs=2, callbacks=[Recorder(), lambda tr, epoch, logs: plain.append(epoch)]),
    )
    trainer.fit(batches(x, y))
    assert events[0] == "start" and events[-1] == "end"
    assert [e[1:] for e in events if e[0] == "step"] == [
        (1, 0, 0),
        (2, 0, 1),
        (3, 0, 2),
        (4, 1, 0),
        (5, 1, 1),
        (6, 1, 2),
    ]
    assert [e[1] for e in events if e[0] == "epoch"] == [0, 1]
    assert [e[2] for e in events if e[0] == "epoch"] == [
        round(v, 6) for v in trainer.history["loss"]
    ]
    assert plain == [0, 1]


def test_a_callback_can_stop_training():
    x, y = data()
    model = MLP()

    def stop(trainer, step, logs):
        if step == 2:
            trainer.should_stop = True

    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1),
        CrossEntropyLoss(),
        quiet(max_epochs=5, callbacks=[pf.training.LambdaCallback(on_step_end=stop)]),
    )
    trainer.fit(batches(x, y))
    assert trainer.global_step == 2 and trainer.epoch == 1


# --------------------------------------------------------------------------- checkpoints


def _fit(tmp_path, epochs, **kw):
    x, y = data(samples=11)
    model = MLP(dropout=0.25)  # dropout: resuming must also restore the random state
    trainer = Trainer(
        model,
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        CrossEntropyLoss(),
        quiet(max_epochs=epochs, metrics=("loss", "accuracy"), **kw),
    )
    trainer.fit(batches(x, y))
    return model, trainer


def test_resume_from_an_epoch_checkpoint_continues_identically(tmp_path):
    pf.manual_seed(7)
    straight, t_straight = _fit(tmp_path, 2)

    pf.manual_seed(7)
    _, first = _fit(tmp_path, 1, checkpoint_dir=tmp_path)
    assert first.last_checkpoint == tmp_path / "epoch-0001.ckpt.safetensors"
    saved = pf.load(first.last_checkpoint)  # a plain pf.save file: no pickle
    assert saved["epoch"] == 1 and saved["step"] == 3 and saved["batch_in_epoch"] == 0
    assert list(saved["model"]) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert set(saved["optimizer"]) == {"state", "param_groups"}
    assert saved["history"] == first.history
    pf.manual_seed(123)  # the checkpoint's random state wins
    resumed, t_resumed = _fit(tmp_path, 2, resume_from=first.last_checkpoint)
    assert t_resumed.global_step == 6 and t_resumed.epoch == 2
    for k, v in params_of(resumed).items():
        np.testing.assert_array_equal(v, params_of(straight)[k])
    assert t_resumed.history == t_straight.history


def test_resume_in_the_middle_of_an_epoch(tmp_path):
    pf.manual_seed(3)
    straight, t_straight = _fit(tmp_path, 2)

    pf.manual_seed(3)
    _, first = _fit(
        tmp_path, 2, checkpoint_dir=tmp_path, checkpoint_every_n_steps=2, keep_last=None
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{name}.ckpt.safetensors"
        for name in ("epoch-0001", "epoch-0002", "step-00000002", "step-00000004", "step-00000006")
    ]
    # step 4 is the first batch of epoch 2 (3 batches per epoch)
    resumed, t_resumed = _fit(tmp_path, 2, resume_from=tmp_path / "step-00000004.ckpt.safetensors")
    for k, v in params_of(resumed).items():
        np.testing.assert_array_equal(v, params_of(straight)[k])
    assert t_resumed.history == t_straight.history


def test_resume_from_a_directory_takes_the_newest(tmp_path):
    _, first = _fit(tmp_path, 1, checkpoint_dir=tmp_path, checkpoint_every_n_steps=1)
    assert pf.training.latest_checkpoint(tmp_path) == tmp_path / "epoch-0001.ckpt.safetensors"
    _, resumed = _fit(tmp_path, 1, resume_from=tmp_path)
    assert resumed.global_step == 3  # nothing left to do


def test_checkpoints_rotate_keeping_the_newest(tmp_path):
    mine = tmp_path / "notes.ckpt.safetensors"  # not a trainer name: never deleted
    pf.save({"a": 1}, mine)
    _, trainer = _fit(tmp_path, 2, checkpoint_dir=tmp_path, checkpoint_every_n_steps=1)
    assert trainer.config.keep_last == 3  # the default
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0002.ckpt.safetensors",
        "notes.ckpt.safetensors",
        "step-00000005.ckpt.safetensors",
        "step-00000006.ckpt.safetensors",
    ]
    _, trainer = _fit(tmp_path, 1, checkpoint_dir=tmp_path / "one", keep_last=1)
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["epoch-0001.ckpt.safetensors"]
    with pytest.raises(ValueError, match="keep_last must be a positive int or None"):
        TrainerConfig(keep_last=0)


def test_rotation_keeps_what_was_written_last_even_when_file_times_tie(tmp_path):
    import os

    names = ["epoch-0001", "step-00000009", "epoch-0002", "step-00000003", "other"]
    for name in names:
        (tmp_path / f"{name}.ckpt.safetensors").write_bytes(b"x")
        os.utime(tmp_path / f"{name}.ckpt.safetensors", ns=(10**18, 10**18))  # all alike
    written = [tmp_path / f"{n}.ckpt.safetensors" for n in ("step-00000009", "epoch-0002")]
    deleted = pf.training.rotate_checkpoints(tmp_path, 2, written)
    assert sorted(p.name for p in deleted) == [
        "epoch-0001.ckpt.safetensors",
        "step-00000003.ckpt.safetensors",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0002.ckpt.safetensors",
        "other.ckpt.safetensors",
        "step-00000009.ckpt.safetensors",
    ]


def test_save_into_a_missing_directory_names_the_path(tmp_path):
    target = tmp_path / "missing" / "model.safetensors"
    with pytest.raises(FileNotFoundError, match=r"parent directory .*missing does not exist") as e:
        pf.save({"a": 1}, target)
    assert e.value.filename == str(target) and ".tmp" not in str(e.value)
    assert not (tmp_path / "missing").exists()


def test_a_killed_saves_temporary_file_is_cleaned(tmp_path):
    import os
    import time

    same = tmp_path / ".model.safetensors.0123456789ab.tmp"  # a save of model.safetensors died
    other_old = tmp_path / ".other.safetensors.abcdefabcdef.tmp"
    other_new = tmp_path / ".third.safetensors.abcdefabcdef.tmp"  # maybe a save still running
    not_ours = tmp_path / ".model.safetensors.tmp"
    for f in (same, other_old, other_new, not_ours):
        f.write_bytes(b"partial")
    old = time.time() - 2 * pf.io.STALE_TEMPORARY_SECONDS
    os.utime(other_old, (old, old))
    pf.save({"a": 1}, tmp_path / "model.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".model.safetensors.tmp",
        ".third.safetensors.abcdefabcdef.tmp",
        "model.safetensors",
    ]
    assert pf.load(tmp_path / "model.safetensors") == {"a": 1}


def test_resume_with_another_optimizer_or_model_is_refused(tmp_path):
    _, first = _fit(tmp_path, 1, checkpoint_dir=tmp_path)
    model = MLP(seed=5)
    before = params_of(model)
    adam = Adam(model.parameters(), lr=0.5)
    trainer = Trainer(
        model, adam, CrossEntropyLoss(), quiet(max_epochs=2, resume_from=first.last_checkpoint)
    )
    with pytest.raises(
        ValueError,
        match=r"cannot resume from .*epoch-0001.ckpt.safetensors: its "
        r"optimizer state does not match this Adam",
    ):
        trainer.fit(batches(*data(samples=11)))
    assert adam.param_groups[0]["lr"] == 0.5 and not adam.state  # nothing was merged
    for k, v in params_of(model).items():  # the model was put back as well
        np.testing.assert_array_equal(v, before[k])
    other = nn.Linear(IN, CLASSES)
    trainer = Trainer(
        other,
        SGD(other.parameters(), lr=0.1, momentum=0.9),
        CrossEntropyLoss(),
        quiet(max_epochs=2, resume_from=first.last_checkpoint),
    )
    with pytest.raises(ValueError, match="its model state does not match this Linear"):
        trainer.fit(batches(*data(samples=11)))


@pytest.mark.parametrize("bad", [CLASSES, -2])
def test_a_label_out_of_range_is_an_error_in_fit(bad):
    x, y = data(samples=11)
    y[7] = bad
    model = MLP()
    opt = SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, CrossEntropyLoss(), quiet(max_epochs=1))
    with pytest.raises(IndexError, match=rf"Target {bad} is out of bounds.*\(batch 1 of epoch 0\)"):
        trainer.fit(batches(x, y))
    assert trainer.global_step == 1  # batch 0 trained; nothing of batch 1 applied
    trainer = Trainer(MLP(), SGD(MLP().parameters(), lr=0.1), F.cross_entropy, quiet(max_epochs=1))
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        trainer.fit(batches(x, y))


def test_checkpoint_every_n_steps_needs_a_directory():
    with pytest.raises(ValueError, match="needs a checkpoint_dir"):
        TrainerConfig(checkpoint_every_n_steps=5)


# --------------------------------------------------------------------------- the example


@pytest.mark.slow
def test_train_digits_example_end_to_end():
    """examples/train_digits.py: over 95% test accuracy, trained and served, compiled once."""
    import pathlib
    import re
    import subprocess
    import sys

    pytest.importorskip("sklearn")
    script = pathlib.Path(__file__).parents[2] / "examples" / "train_digits.py"
    run = subprocess.run(
        [sys.executable, str(script), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    trained = re.search(r"with (\d+) compiled programs .* test accuracy ([\d.]+)", run.stdout)
    served = re.search(r"\((\d+) compile, .*\): test accuracy ([\d.]+)", run.stdout)
    assert trained and served, run.stdout
    assert int(trained[1]) == 2 and int(served[1]) == 1  # train step + validation; serving
    assert float(trained[2]) > 0.95 and float(served[2]) == float(trained[2])
    assert "cycles" in run.stdout  # pf.last_report().summary()
