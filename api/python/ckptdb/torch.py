"""PyTorch training state in and out of a store: model, optimizer, scheduler, grad scaler, RNGs.

    from ckptdb.torch import save_training_state, load_training_state
    save_training_state(store, step, model=model, optimizer=opt, scheduler=sched, extra={"epoch": 3})
    ...
    step, extra = load_training_state(store, model=model, optimizer=opt, scheduler=sched)

Everything goes through the store's typed state tree, never pickle: tensors as chunks, the rest
(param_groups, scheduler counters, RNG states) as typed values. The checkpoint's tensors are
named by their path: "model.fc.weight", "optimizer.state.0.exp_avg", "rng.torch".
"""

import random
from collections import namedtuple

import numpy as np
import torch

from ckptdb.errors import InvalidArgumentError, NotFoundError

FORMAT = "ckptdb.training_state/1"  # the "format" entry every training state carries

TrainingState = namedtuple("TrainingState", ["step", "extra"])
TrainingState.__doc__ = "What load_training_state returns: the saved step and `extra` object."


def rng_state():
    """Every global random generator's state, as plain values and tensors (no pickle): torch's CPU
    generator, each CUDA device's when CUDA is available, Python's `random`, numpy's global one."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restores what rng_state() returned, so the next draws equal those after the save."""
    torch.set_rng_state(_cpu_bytes(state["torch"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, _numpy(keys).astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state:
        if not torch.cuda.is_available():
            raise InvalidArgumentError("the checkpoint holds CUDA generator states but CUDA is not available")
        torch.cuda.set_rng_state_all([_cpu_bytes(s) for s in state["cuda"]])


class RngState:
    """The global generators as an object with state_dict()/load_state_dict(), so they can sit in
    a CheckpointManager state beside a model and an optimizer."""

    def state_dict(self):
        return rng_state()

    def load_state_dict(self, state):
        set_rng_state(state)


def save_training_state(store, step, *, model=None, optimizer=None, scheduler=None, scaler=None, data=None, rng=True,
                        extra=None, metrics=None, tags=None, metadata=None, skip_unchanged=False, blocking=True):
    """Saves one training state as one checkpoint at `step` and returns its CheckpointInfo (with
    blocking=False a ckptdb.SaveFuture, once the state is captured: see Store.save).

    Each of model, optimizer, scheduler, scaler and data (anything with state_dict(); data is the
    data loader: torchdata's StatefulDataLoader, whose state says which batch comes next, so a
    resume neither repeats nor re-reads the batches before the save) is saved when given; rng saves every global generator (see rng_state); extra is any value the store can
    hold (an epoch counter, a data loader's state_dict). metrics, tags, metadata,
    skip_unchanged and blocking are those of Store.save.
    """
    state = {"format": FORMAT, "step": int(step)}
    for key, obj in _parts(model, optimizer, scheduler, scaler, data):
        if obj is not None:
            state[key] = obj.state_dict()
    if rng:
        state["rng"] = rng_state()
    state["extra"] = extra
    return store.save(state, step, metrics=metrics, tags=tags, metadata=metadata, skip_unchanged=skip_unchanged,
                      blocking=blocking)


def load_training_state(store, which=None, *, model=None, optimizer=None, scheduler=None, scaler=None, data=None,
                        rng=True, strict=True, map_location="cpu"):
    """Loads a checkpoint saved by save_training_state into the objects given, and returns
    TrainingState(step, extra).

    which: None for the head (where a resumed run continues, also after a rollback), an int step,
    a str tag, or a dict of Store.restore's selector keywords ({"best": "loss"}, {"id": 7}).
    strict is load_state_dict's for the model. Tensors are restored to map_location first.
    Raises NotFoundError when the checkpoint lacks a part asked for (an optimizer state when it
    was saved without one), InvalidArgumentError when it was not saved by save_training_state.
    """
    state = store.restore(**_selector_kwargs(which), device=map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InvalidArgumentError(f"store {store.path}: the checkpoint ({_describe(which)}) was not saved by "
                                   "save_training_state")
    for key, obj in _parts(model, optimizer, scheduler, scaler, data):
        if obj is None:
            continue
        if key not in state:
            raise NotFoundError(f"store {store.path}: the checkpoint ({_describe(which)}) has no {key} state")
        if key == "model":
            obj.load_state_dict(state[key], strict=strict)
        else:
            obj.load_state_dict(state[key])
    if rng and "rng" in state:
        set_rng_state(state["rng"])
    return TrainingState(state["step"], state["extra"])


def _parts(model, optimizer, scheduler, scaler, data):
    return (("model", model), ("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler), ("data", data))


def _selector_kwargs(which):
    if which is None:
        return {}
    if isinstance(which, bool):
        raise TypeError("which: give None, a step, a tag or a dict of selector keywords, not a bool")
    if isinstance(which, int):
        return {"step": which}
    if isinstance(which, str):
        return {"tag": which}
    if isinstance(which, dict):
        return dict(which)
    raise TypeError(f"which: give None, a step, a tag or a dict of selector keywords, not {type(which).__name__}")


def _describe(which):
    return "the head" if which is None else f"{which!r}"


def _cpu_bytes(t):
    return t if isinstance(t, torch.Tensor) and t.device.type == "cpu" else torch.as_tensor(_numpy(t)).to("cpu")


def _numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)
