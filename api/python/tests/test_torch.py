"""ckptdb.torch: whole training states (model, optimizers, schedulers, scaler, RNGs) round-trip
exactly, without pickle, and training continues exactly as if never stopped."""

import pickle
import random

import numpy as np
import pytest
import torch

import ckptdb
from ckptdb.torch import load_training_state, rng_state, save_training_state, set_rng_state


def make(opt_kind, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 4))
    if opt_kind == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, sched


def train(model, opt, sched, steps):
    losses = []
    for _ in range(steps):
        x = torch.randn(5, 8)  # the global generator: restored with the RNG states
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def assert_same(a, b, path="state"):
    assert type(a) is type(b), path
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), path


@pytest.mark.parametrize("opt_kind", ["adamw", "sgd"])
def test_optimizer_and_scheduler_round_trip_exactly_and_training_continues_identically(store, opt_kind):
    model, opt, sched = make(opt_kind)
    train(model, opt, sched, 4)
    save_training_state(store, 4, model=model, optimizer=opt, scheduler=sched, extra={"epoch": 1, "note": "x"})
    expected_tail = train(model, opt, sched, 3)

    model2, opt2, sched2 = make(opt_kind, seed=99)  # different weights, fresh optimizer state
    step, extra = load_training_state(store, model=model2, optimizer=opt2, scheduler=sched2)
    assert (step, extra) == (4, {"epoch": 1, "note": "x"})
    # The loaded state equals the saved one exactly, param_groups' tuples and bools included.
    saved = store.restore()
    assert_same(opt2.state_dict(), saved["optimizer"])
    assert_same(sched2.state_dict(), saved["scheduler"])
    assert train(model2, opt2, sched2, 3) == expected_tail
    assert_same(model2.state_dict(), model.state_dict())
    assert_same(opt2.state_dict(), opt.state_dict())


def test_rng_states_restore_the_same_draws(store):
    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    save_training_state(store, 1)
    draws = (torch.rand(4), random.random(), np.random.rand(3), torch.randint(0, 10**6, (2,)), random.gauss(0, 1),
             np.random.standard_normal())
    torch.manual_seed(7)
    random.seed(8)
    np.random.seed(9)
    load_training_state(store)
    again = (torch.rand(4), random.random(), np.random.rand(3), torch.randint(0, 10**6, (2,)), random.gauss(0, 1),
             np.random.standard_normal())
    assert torch.equal(draws[0], again[0]) and draws[1] == again[1] and np.array_equal(draws[2], again[2])
    assert torch.equal(draws[3], again[3]) and draws[4] == again[4] and draws[5] == again[5]


def test_rng_state_survives_a_pending_gaussian():
    random.seed(5)
    random.gauss(0, 1)  # leaves a cached second value in Python's state
    np.random.seed(5)
    np.random.standard_normal()  # and in numpy's
    state = rng_state()
    want = (random.gauss(0, 1), np.random.standard_normal())
    set_rng_state(state)
    assert (random.gauss(0, 1), np.random.standard_normal()) == want


def test_a_training_state_loads_without_pickle(store, monkeypatch):
    model, opt, sched = make("adamw")
    train(model, opt, sched, 2)
    save_training_state(store, 2, model=model, optimizer=opt, scheduler=sched)

    def refuse(*a, **k):
        raise AssertionError("pickle was called")

    for name in ("loads", "load"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model2, opt2, sched2 = make("adamw", seed=5)
    load_training_state(store, model=model2, optimizer=opt2, scheduler=sched2)
    assert_same(model2.state_dict(), model.state_dict())


def test_grad_scaler_state_round_trips(store):
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=7)
    scaler._lazy_init_scale_growth_tracker(torch.device("cpu"))
    save_training_state(store, 1, scaler=scaler)
    other = torch.amp.GradScaler("cpu", init_scale=2.0)
    load_training_state(store, scaler=other)
    assert other.state_dict() == scaler.state_dict()
    assert other.get_scale() == 1024.0


def test_selectors_and_errors(store):
    model, opt, sched = make("sgd")
    save_training_state(store, 10, model=model, metrics={"loss": 2.0}, tags=["first"])
    save_training_state(store, 20, model=model, optimizer=opt, metrics={"loss": 1.0})
    assert load_training_state(store, 10).step == 10
    assert load_training_state(store, "first").step == 10
    assert load_training_state(store, {"best": "loss"}).step == 20
    with pytest.raises(ckptdb.NotFoundError, match="has no optimizer state"):
        load_training_state(store, 10, optimizer=opt)
    with pytest.raises(ckptdb.NotFoundError):
        load_training_state(store, 99)
    store.save({"w": torch.ones(2)}, step=30)
    with pytest.raises(ckptdb.InvalidArgumentError, match="not saved by save_training_state"):
        load_training_state(store)
    with pytest.raises(TypeError, match="not float"):
        load_training_state(store, 1.5)


def test_strict_false_loads_a_model_with_other_keys(store):
    model, _, _ = make("sgd")
    save_training_state(store, 1, model=model)
    bigger = torch.nn.Sequential(*list(make("sgd", seed=4)[0]), torch.nn.Linear(4, 2))
    with pytest.raises(RuntimeError, match="Missing key"):
        load_training_state(store, model=bigger)
    load_training_state(store, model=bigger, strict=False)
    assert torch.equal(bigger[0].weight, model[0].weight)
