"""pf.optim.lr_scheduler against torch.optim.lr_scheduler: the same scheduler code, given
either module, sets the same learning rates (and momentum / betas) at every step, exactly;
state dicts resume; a scheduled training loop follows torch's weights and compiles once."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import pyflame as pf
from pyflame.optim import lr_scheduler as pf_lr_scheduler

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("no_pending_updates")

STEPS = 45
#: two groups with different learning rates (and momentum for SGD)
GROUP_LRS = (0.1, 0.03)


def make_optimizers(cls: str = "SGD", **kwargs: Any) -> tuple[Any, Any]:
    """A pf and a torch optimizer with two param groups of different learning rates."""
    pf_params = [pf.from_numpy(np.ones(3, np.float32)) for _ in GROUP_LRS]
    torch_params = [torch.ones(3, requires_grad=True) for _ in GROUP_LRS]
    if cls == "SGD":
        kwargs.setdefault("momentum", 0.9)
    opts = []
    for mod, params in ((pf.optim, pf_params), (torch.optim, torch_params)):
        groups = [{"params": [p], "lr": lr} for p, lr in zip(params, GROUP_LRS, strict=True)]
        opts.append(getattr(mod, cls)(groups, lr=GROUP_LRS[0], **kwargs))
    return opts[0], opts[1]


def optimizer_step(opt: Any) -> None:
    """An optimizer step with no gradients: it changes no parameter but counts as a step
    (the order check of `scheduler.step()`)."""
    opt.step()


def assert_same_groups(pf_opt: Any, torch_opt: Any, where: str) -> None:
    for i, (g, tg) in enumerate(zip(pf_opt.param_groups, torch_opt.param_groups, strict=True)):
        assert g["lr"] == tg["lr"], f"{where}: lr of group {i}: {g['lr']!r} != {tg['lr']!r}"
        for key in ("momentum", "betas", "initial_lr", "max_lr", "min_lr", "max_momentum"):
            if key in tg:
                assert tuple(np.atleast_1d(g[key])) == tuple(np.atleast_1d(tg[key])), (
                    f"{where}: {key} of group {i}: {g[key]!r} != {tg[key]!r}"
                )
            else:
                assert key not in g, f"{where}: group {i} has {key}, torch's has not"


def assert_same_schedulers(sched: Any, tsched: Any, where: str) -> None:
    assert sched.get_last_lr() == tsched.get_last_lr(), where
    if hasattr(tsched, "last_epoch"):
        assert sched.last_epoch == tsched.last_epoch, where


# A case builds a scheduler from `(lr_scheduler module, optimizer)`: the same code for both.
Factory = Callable[[Any, Any], Any]


def _chained(m: Any, o: Any) -> Any:
    return m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]
    )


def _chained_with_optimizer(m: Any, o: Any) -> Any:
    return m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.2, total_iters=6), m.StepLR(o, step_size=5, gamma=0.7)],
        optimizer=o,
    )


def _sequential(m: Any, o: Any) -> Any:
    return m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)],
        milestones=[5],
    )


def _sequential_three(m: Any, o: Any) -> Any:
    return m.SequentialLR(
        o,
        [
            m.ConstantLR(o, factor=0.3, total_iters=3),
            m.ExponentialLR(o, gamma=0.8),
            m.MultiStepLR(o, milestones=[4, 9], gamma=0.5),
        ],
        milestones=[5, 15],
    )


def _chained_sequential(m: Any, o: Any) -> Any:
    """A ChainedScheduler holding a SequentialLR (the other way round fails in PyTorch: a
    ChainedScheduler has no closed form to restart at a milestone)."""
    warmup = m.LinearLR(o, start_factor=0.25, total_iters=4)
    sequential = m.SequentialLR(o, [warmup, m.ExponentialLR(o, gamma=0.95)], milestones=[8])
    return m.ChainedScheduler([sequential, m.StepLR(o, 6, gamma=0.5)])


class Warmup:
    """A callable object: its `__dict__` travels in the state dict (a plain function does not)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.steps) * 0.97**epoch


CASES: dict[str, tuple[str, dict[str, Any], Factory]] = {
    # name: (optimizer class, its options, scheduler factory)
    "lambda": ("SGD", {}, lambda m, o: m.LambdaLR(o, lambda e: 0.95**e)),
    "lambda_per_group": (
        "SGD",
        {},
        lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: math.cos(e / 30)]),
    ),
    "lambda_object": ("Adam", {}, lambda m, o: m.LambdaLR(o, Warmup(10))),
    "multiplicative": ("SGD", {}, lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97)),
    "multiplicative_per_group": (
        "Adam",
        {},
        lambda m, o: m.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 1.0 + 0.01 * (e % 3)]),
    ),
    "step": ("SGD", {}, lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "step_fine": ("AdamW", {}, lambda m, o: m.StepLR(o, step_size=3, gamma=0.9)),
    "multistep": (
        "SGD",
        {},
        lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    ),
    "constant": ("SGD", {}, lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=8)),
    "constant_default": ("Adam", {}, lambda m, o: m.ConstantLR(o)),
    "linear_default": ("SGD", {}, lambda m, o: m.LinearLR(o)),
    "linear_warmup": (
        "AdamW",
        {},
        lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=20),
    ),
    "linear_decay": (
        "SGD",
        {},
        lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10),
    ),
    "exponential": ("SGD", {}, lambda m, o: m.ExponentialLR(o, gamma=0.93)),
    "polynomial": ("SGD", {}, lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0)),
    "polynomial_default": ("Adam", {}, lambda m, o: m.PolynomialLR(o)),
    "cosine_restarting": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3)),
    "cosine": ("AdamW", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=25)),
    "sequential": ("SGD", {}, _sequential),
    "sequential_three": ("Adam", {}, _sequential_three),
    "chained_sequential": ("SGD", {}, _chained_sequential),
    "chained": ("SGD", {}, _chained),
    "chained_with_optimizer": ("AdamW", {}, _chained_with_optimizer),
    "cyclic_triangular": (
        "SGD",
        {},
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    ),
    "cyclic_triangular2_per_group": (
        "SGD",
        {"nesterov": True},
        lambda m, o: m.CyclicLR(
            o,
            base_lr=[0.01, 0.002],
            max_lr=[0.1, 0.05],
            step_size_up=3,
            step_size_down=5,
            mode="triangular2",
            base_momentum=[0.8, 0.7],
            max_momentum=[0.9, 0.95],
        ),
    ),
    "cyclic_exp_range_adam": (
        "Adam",
        {},
        lambda m, o: m.CyclicLR(
            o, base_lr=1e-3, max_lr=1e-2, step_size_up=5, mode="exp_range", gamma=0.95
        ),
    ),
    "cyclic_no_momentum": (
        "AdamW",
        {},
        lambda m, o: m.CyclicLR(o, base_lr=1e-3, max_lr=5e-3, step_size_up=6, cycle_momentum=False),
    ),
    "cyclic_scale_fn_iterations": (
        "SGD",
        {},
        lambda m, o: m.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=0.2,
            step_size_up=4,
            scale_fn=lambda x: 1 / (1 + 0.1 * x),
            scale_mode="iterations",
        ),
    ),
    "one_cycle_cos": ("SGD", {}, lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)),
    "one_cycle_linear_adam": (
        "Adam",
        {},
        lambda m, o: m.OneCycleLR(
            o, max_lr=[0.01, 0.004], total_steps=50, anneal_strategy="linear", pct_start=0.25
        ),
    ),
    "one_cycle_three_phase": (
        "AdamW",
        {},
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=0.02,
            epochs=5,
            steps_per_epoch=10,
            three_phase=True,
            base_momentum=[0.8, 0.85],
            max_momentum=0.9,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    "one_cycle_no_momentum": (
        "SGD",
        {},
        lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=60, cycle_momentum=False),
    ),
    "warm_restarts": (
        "SGD",
        {},
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
    ),
    "warm_restarts_constant_period": (
        "Adam",
        {},
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7),
    ),
}


def make_case(name: str) -> tuple[Any, Any, Any, Any]:
    cls, options, factory = CASES[name]
    opt, topt = make_optimizers(cls, **options)
    return opt, topt, factory(pf.optim.lr_scheduler, opt), factory(torch.optim.lr_scheduler, topt)


def step_both(opt: Any, topt: Any, sched: Any, tsched: Any, where: str) -> None:
    optimizer_step(opt)
    optimizer_step(topt)
    sched.step()
    tsched.step()
    assert_same_groups(opt, topt, where)
    assert_same_schedulers(sched, tsched, where)


@pytest.mark.parametrize("name", list(CASES))
def test_learning_rates_equal_torch_at_every_step(name: str) -> None:
    opt, topt, sched, tsched = make_case(name)
    assert type(sched).__name__ == type(tsched).__name__
    assert_same_groups(opt, topt, "after construction")
    assert_same_schedulers(sched, tsched, "after construction")
    lrs = [list(sched.get_last_lr())]
    for step in range(STEPS):
        step_both(opt, topt, sched, tsched, f"step {step}")
        lrs.append(list(sched.get_last_lr()))
    # the schedule does something (a case that never changes the lr would prove little)
    assert len({tuple(lr) for lr in lrs}) > 1, lrs
    # two groups, two learning rates (except where a scheduler sets both)
    assert any(a != b for a, b in lrs) or name.startswith(("cyclic", "one_cycle")), lrs


def _metrics(n: int) -> list[float]:
    """Improving, then plateaus and noise: ReduceLROnPlateau reduces several times."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        trend = 1.0 / (1 + i) if i < 8 else 0.12 + 0.002 * (i % 4)
        out.append(float(trend + 0.003 * rng.standard_normal()))
    return out


PLATEAU_CASES: dict[str, dict[str, Any]] = {
    "default": {},
    "min_rel_patience": dict(patience=2, factor=0.5),
    "min_abs_cooldown": dict(
        patience=1, threshold=0.01, threshold_mode="abs", cooldown=3, factor=0.3
    ),
    "max_rel_min_lrs": dict(mode="max", patience=2, factor=0.2, min_lr=[1e-3, 1e-4]),
    "max_abs_eps": dict(
        mode="max", threshold_mode="abs", threshold=0.0, patience=0, factor=0.9, eps=1e-3
    ),
    "min_lr_floor": dict(patience=0, factor=0.1, min_lr=5e-4),
}


@pytest.mark.parametrize("metric_kind", ["float", "pf", "torch"])
@pytest.mark.parametrize("name", list(PLATEAU_CASES))
def test_reduce_lr_on_plateau_equals_torch(name: str, metric_kind: str) -> None:
    kwargs = PLATEAU_CASES[name]
    opt, topt = make_optimizers("Adam" if "max" in name else "SGD")
    sched = pf.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    reductions = 0
    metrics = _metrics(STEPS)
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    for step, metric in enumerate(metrics):
        before = list(sched.get_last_lr())
        given: Any = metric
        if metric_kind == "pf":
            given = pf.from_numpy(np.asarray(metric, np.float32)) * 1.0  # lazy: evaluated
            metric = float(np.float32(metric))
        elif metric_kind == "torch":
            given = torch.tensor(metric, dtype=torch.float64)
        sched.step(given)
        tsched.step(metric)
        assert_same_groups(opt, topt, f"step {step}")
        assert_same_schedulers(sched, tsched, f"step {step}")
        for key in ("best", "num_bad_epochs", "cooldown_counter"):
            assert getattr(sched, key) == getattr(tsched, key), (key, step)
        reductions += sched.get_last_lr() != before
    assert reductions >= (1 if name == "default" else 2), "too few reductions to prove much"


@pytest.mark.parametrize(
    "name", ["step", "multistep", "exponential", "cosine", "linear_warmup", "polynomial"]
)
def test_step_with_an_epoch_uses_the_closed_form_and_warns(name: str) -> None:
    opt, topt, sched, tsched = make_case(name)
    optimizer_step(opt)
    optimizer_step(topt)
    for epoch in [1, 2, 5, 3, 8, 8, 13, 21, 22, 30]:
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        assert_same_groups(opt, topt, f"epoch {epoch}")
        assert_same_schedulers(sched, tsched, f"epoch {epoch}")


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_with_fractional_epochs(T_mult: int) -> None:
    """The documented per-batch use: `scheduler.step(epoch + i / iters)`."""
    opt, topt = make_optimizers("SGD")
    sched = pf.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=T_mult)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=T_mult)
    iters = 4
    for epoch in range(12):
        for i in range(iters):
            sched.step(epoch + i / iters)
            tsched.step(epoch + i / iters)
            assert_same_groups(opt, topt, f"epoch {epoch} + {i}/{iters}")
            assert sched.T_i == tsched.T_i and sched.T_cur == tsched.T_cur
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched.step(-1)


@pytest.mark.parametrize("name", ["step", "cosine_restarting", "exponential", "polynomial"])
def test_resuming_with_last_epoch(name: str) -> None:
    """A scheduler created with `last_epoch=k` on groups that have `initial_lr`."""
    cls, options, _ = CASES[name]
    opt, topt = make_optimizers(cls, **options)
    for o in (opt, topt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] * 2
    kwargs = {
        "step": dict(step_size=4),
        "cosine_restarting": dict(T_max=10),
        "exponential": dict(gamma=0.9),
        "polynomial": dict(total_iters=30),
    }[name]
    cls_name = {
        "step": "StepLR",
        "cosine_restarting": "CosineAnnealingLR",
        "exponential": "ExponentialLR",
        "polynomial": "PolynomialLR",
    }[name]
    sched = getattr(pf.optim.lr_scheduler, cls_name)(opt, last_epoch=7, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, cls_name)(topt, last_epoch=7, **kwargs)
    assert_same_groups(opt, topt, "after construction")
    for step in range(20):
        step_both(opt, topt, sched, tsched, f"step {step}")


# ---------------------------------------------------------------------- state dicts


def _fresh_pf(name: str) -> tuple[Any, Any]:
    cls, options, factory = CASES[name]
    opt, _ = make_optimizers(cls, **options)
    return opt, factory(pf.optim.lr_scheduler, opt)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_resumes_mid_schedule(name: str) -> None:
    opt, topt, sched, tsched = make_case(name)
    for step in range(17):
        step_both(opt, topt, sched, tsched, f"step {step}")
    saved_sched = copy.deepcopy(sched.state_dict())
    saved_opt = opt.state_dict()
    # the original goes on: the saved dict does not follow it
    step_both(opt, topt, sched, tsched, "after saving")

    opt2, sched2 = _fresh_pf(name)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    topt2, tsched2 = _torch_resumed(name, topt, tsched, saved_steps=17)
    for step in range(17, STEPS):
        step_both(opt2, topt2, sched2, tsched2, f"resumed, step {step}")


def _torch_resumed(name: str, topt: Any, tsched: Any, saved_steps: int) -> tuple[Any, Any]:
    """torch's schedule replayed to `saved_steps` (the pf resume is compared against it)."""
    cls, options, factory = CASES[name]
    _, topt2 = make_optimizers(cls, **options)
    tsched2 = factory(torch.optim.lr_scheduler, topt2)
    for _ in range(saved_steps):
        optimizer_step(topt2)
        tsched2.step()
    return topt2, tsched2


@pytest.mark.parametrize("name", ["step", "multistep", "sequential", "cyclic_triangular"])
def test_a_torch_scheduler_state_dict_loads(name: str) -> None:
    """The state dict is the scheduler's attributes, as in PyTorch: torch's loads into pf."""
    opt, topt, sched, tsched = make_case(name)
    for step in range(11):
        step_both(opt, topt, sched, tsched, f"step {step}")
    opt2, sched2 = _fresh_pf(name)
    opt2.load_state_dict(_as_pf_optimizer_state(topt.state_dict()))
    sched2.load_state_dict(copy.deepcopy(tsched.state_dict()))
    for step in range(11, 30):
        step_both(opt2, topt, sched2, tsched, f"resumed from torch, step {step}")


def _as_pf_optimizer_state(sd: dict[str, Any]) -> dict[str, Any]:
    # torch's optimizer keeps state only for parameters that had a gradient (none here)
    return {"state": {}, "param_groups": sd["param_groups"]}


@pytest.mark.parametrize(
    "name", ["multistep", "one_cycle_three_phase", "chained_sequential", "lambda_object"]
)
def test_state_dict_through_pf_save(name: str, tmp_path: Any) -> None:
    opt, topt, sched, tsched = make_case(name)
    for step in range(13):
        step_both(opt, topt, sched, tsched, f"step {step}")
    path = tmp_path / "sched.safetensors"
    pf.save({"scheduler": sched.state_dict(), "optimizer": opt.state_dict()}, path)
    loaded = pf.load(path)
    opt2, sched2 = _fresh_pf(name)
    opt2.load_state_dict(loaded["optimizer"])
    sched2.load_state_dict(loaded["scheduler"])
    for step in range(13, STEPS):
        step_both(opt2, topt, sched2, tsched, f"resumed, step {step}")


def test_reduce_lr_on_plateau_state_dict_resumes() -> None:
    kwargs = dict(patience=1, factor=0.5, cooldown=2)
    opt, topt = make_optimizers("SGD")
    sched = pf.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = _metrics(STEPS)
    for m in metrics[:20]:
        sched.step(m)
        tsched.step(m)
    saved = copy.deepcopy(sched.state_dict())
    assert saved == {k: v for k, v in tsched.state_dict().items()}
    opt2, _ = make_optimizers("SGD")
    opt2.load_state_dict(opt.state_dict())
    sched2 = pf.optim.lr_scheduler.ReduceLROnPlateau(opt2, mode="max")  # overwritten by load
    sched2.load_state_dict(saved)
    for step, m in enumerate(metrics[20:]):
        sched2.step(m)
        tsched.step(m)
        assert_same_groups(opt2, topt, f"resumed, step {step}")
        assert sched2.best == tsched.best


def test_lambda_state_dict_keeps_callable_objects_state() -> None:
    opt, _ = make_optimizers("SGD")
    sched = pf.optim.lr_scheduler.LambdaLR(opt, [Warmup(10), lambda e: 1.0])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"steps": 10}, None]
    opt2, _ = make_optimizers("SGD")
    fn = Warmup(3)
    sched2 = pf.optim.lr_scheduler.LambdaLR(opt2, [fn, lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert fn.steps == 10
    assert "lr_lambdas" in sd  # the caller's dict is left whole


@pytest.mark.parametrize("name", ["one_cycle_cos", "cyclic_exp_range_adam"])
def test_optimizer_state_dict_with_scheduler_entries_loads(name: str) -> None:
    """Schedulers add `initial_lr` (OneCycleLR and CyclicLR also `max_lr`, `min_lr`,
    `max_momentum`, `base_momentum`) to the groups: pf's and torch's optimizer state dicts with
    them load into a pf optimizer."""
    opt, topt, sched, tsched = make_case(name)
    for step in range(5):
        step_both(opt, topt, sched, tsched, f"step {step}")
    for sd in (opt.state_dict(), _as_pf_optimizer_state(topt.state_dict())):
        fresh, _ = make_optimizers(CASES[name][0])
        fresh.load_state_dict(sd)
        assert_same_groups(fresh, topt, "loaded")


# ---------------------------------------------------------------------- warnings and errors


def test_stepping_the_scheduler_before_the_optimizer_warns() -> None:
    opt, _ = make_optimizers("SGD")
    sched = pf.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2, _ = make_optimizers("SGD")
    sched2 = pf.optim.lr_scheduler.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()
        sched2.step()
    # the wrapper is installed once per optimizer, however many schedulers it has
    pf.optim.lr_scheduler.ExponentialLR(opt2, gamma=0.9)
    assert opt2.step.__wrapped__ is pf.optim.SGD.step


def test_get_lr_outside_step_warns() -> None:
    opt, _ = make_optimizers("SGD")
    sched = pf.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def _errors() -> dict[str, Callable[[Any, Any], Any]]:
    return {
        "not_an_optimizer": lambda m, o: m.StepLR(object(), step_size=1),
        "resume_without_initial_lr": lambda m, o: m.StepLR(o, step_size=1, last_epoch=3),
        "lambda_count": lambda m, o: m.LambdaLR(o, [lambda e: 1.0]),
        "multiplicative_not_callable": lambda m, o: m.MultiplicativeLR(o, [0.9, 0.9]),
        "constant_factor": lambda m, o: m.ConstantLR(o, factor=1.5),
        "linear_start": lambda m, o: m.LinearLR(o, start_factor=0),
        "linear_end": lambda m, o: m.LinearLR(o, end_factor=2),
        "sequential_empty": lambda m, o: m.SequentialLR(o, [], milestones=[]),
        "sequential_milestones": lambda m, o: m.SequentialLR(
            o, [m.StepLR(o, 2), m.StepLR(o, 3)], milestones=[]
        ),
        "sequential_plateau": lambda m, o: m.SequentialLR(
            o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], milestones=[3]
        ),
        "chained_empty": lambda m, o: m.ChainedScheduler([]),
        "plateau_factor": lambda m, o: m.ReduceLROnPlateau(o, factor=1.0),
        "plateau_mode": lambda m, o: m.ReduceLROnPlateau(o, mode="lowest"),
        "plateau_threshold_mode": lambda m, o: m.ReduceLROnPlateau(o, threshold_mode="pct"),
        "plateau_min_lrs": lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]),
        "cyclic_mode": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="square"),
        "cyclic_max_lr_count": lambda m, o: m.CyclicLR(o, 0.01, [0.1, 0.2, 0.3]),
        "one_cycle_no_length": lambda m, o: m.OneCycleLR(o, max_lr=0.1),
        "one_cycle_total_steps": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=0),
        "one_cycle_epochs": lambda m, o: m.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3),
        "one_cycle_pct": lambda m, o: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5),
        "one_cycle_anneal": lambda m, o: m.OneCycleLR(
            o, 0.1, total_steps=10, anneal_strategy="exp"
        ),
        "one_cycle_past_the_end": _one_cycle_past_the_end,
        "warm_restarts_T_0": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0),
        "warm_restarts_T_mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    }


def _one_cycle_past_the_end(m: Any, o: Any) -> None:
    s = m.OneCycleLR(o, max_lr=0.1, total_steps=3)
    for _ in range(4):
        o.step()
        s.step()


@pytest.mark.parametrize("name", list(_errors()))
def test_errors_are_torchs(name: str) -> None:
    """Every refusal has PyTorch's exception type and words."""
    make = _errors()[name]
    opt, topt = make_optimizers("SGD")
    with pytest.raises(Exception) as expected:
        make(torch.optim.lr_scheduler, topt)
    with pytest.raises(type(expected.value)) as got:
        make(pf.optim.lr_scheduler, opt)
    assert str(got.value) == str(expected.value)


def test_cycle_momentum_needs_momentum_or_betas() -> None:
    class Plain(pf.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.1})

    opt = Plain([pf.from_numpy(np.ones(2, np.float32))])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        pf.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        pf.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=5)


# ---------------------------------------------------------------------- API surface


def test_every_torch_scheduler_is_here() -> None:
    import torch.optim.lr_scheduler as torch_lr_scheduler

    assert set(torch_lr_scheduler.__all__) <= set(pf_lr_scheduler.__all__)
    assert issubclass(pf_lr_scheduler._LRScheduler, pf_lr_scheduler.LRScheduler)
    assert pf.optim.lr_scheduler is pf_lr_scheduler


def test_a_tensor_learning_rate_becomes_a_float() -> None:
    p = pf.from_numpy(np.ones(2, np.float32))
    opt = pf.optim.SGD([p], lr=pf.from_numpy(np.asarray(0.5, np.float32)))
    sched = pf.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["initial_lr"] == 0.5
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [0.25]


# ---------------------------------------------------------------------- training


SHAPES = [(5, 6), (6,), (6, 3), (3,)]
RNG = np.random.default_rng(0)
INIT = [(RNG.standard_normal(s) * 0.5).astype(np.float32) for s in SHAPES]
BATCHES = [
    (RNG.standard_normal((8, 5)).astype(np.float32), RNG.standard_normal((8, 3)).astype(np.float32))
    for _ in range(3)
]


def mlp_loss(L: Any, params: list[Any], x: Any, y: Any) -> Any:
    w1, b1, w2, b2 = params
    return ((L.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()


TRAINING = {
    "one_cycle_sgd": (
        "SGD",
        dict(momentum=0.9, weight_decay=1e-3),
        lambda m, o: m.OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=12),
    ),
    # cycling Adam's beta1 and SGD's Nesterov momentum: runtime data too, no recompile
    "one_cycle_adam_betas": (
        "Adam",
        dict(weight_decay=1e-2),
        lambda m, o: m.OneCycleLR(o, max_lr=0.05, total_steps=12, three_phase=True),
    ),
    "cyclic_sgd_nesterov": (
        "SGD",
        dict(momentum=0.9, nesterov=True),
        lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.2, step_size_up=3),
    ),
    "warmup_cosine_adamw": (
        "AdamW",
        {},
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CosineAnnealingLR(o, T_max=8)],
            milestones=[4],
        ),
    ),
}


@pytest.mark.usefixtures("small_target")
@pytest.mark.parametrize("name", list(TRAINING))
def test_training_with_a_scheduler_follows_torch_and_compiles_once(name: str) -> None:
    cls, options, factory = TRAINING[name]
    ps = [pf.from_numpy(a) for a in INIT]
    for p in ps:
        p.requires_grad = True
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in INIT]
    groups = [(0.1, ps[:2], ts[:2]), (0.02, ps[2:], ts[2:])]
    opt = getattr(pf.optim, cls)([{"params": p, "lr": lr} for lr, p, _ in groups], **options)
    topt = getattr(torch.optim, cls)([{"params": t, "lr": lr} for lr, _, t in groups], **options)
    sched = factory(pf.optim.lr_scheduler, opt)
    tsched = factory(torch.optim.lr_scheduler, topt)
    pf.cache_clear()
    steps = 12
    seen_lrs = [tuple(sched.get_last_lr())]
    for step in range(steps):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        sched.step()
        topt.zero_grad()
        mlp_loss(torch, ts, torch.from_numpy(x), torch.from_numpy(y)).backward()
        topt.step()
        tsched.step()
        assert_same_groups(opt, topt, f"step {step}")
        for i, (p, t) in enumerate(zip(ps, ts, strict=True)):
            np.testing.assert_allclose(
                p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{i} at {step}"
            )
        seen_lrs.append(tuple(sched.get_last_lr()))
    # a new learning rate every step...
    assert all(a != b for a, b in zip(seen_lrs, seen_lrs[1:], strict=False)), seen_lrs
    assert pf.cache_info().misses == 1, pf.cache_info()  # ...and one compiled program
    assert pf.cache_info().hits == steps - 1
