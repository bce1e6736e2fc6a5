"""Hugging Face Trainer checkpoints in a ckptdb store: no checkpoint-N/ directories, no pickle.

    from ckptdb.integrations.transformers import CkptdbCallback
    cb = CkptdbCallback("runs/ckpt")
    trainer = Trainer(model, args, train_dataset=ds, eval_dataset=ev, callbacks=[cb])
    trainer.train(resume_from_checkpoint=cb.resume_from(trainer))   # None (a fresh run) on an empty store

Each checkpoint the Trainer's own save_strategy/save_steps asks for becomes one ckptdb checkpoint
at the global step: the model's state_dict, the optimizer's, the scheduler's, the grad scaler's,
the RNG states (Python, numpy, torch CPU, every CUDA device) and the TrainerState (global step,
log_history, best_metric, best_global_step, stateful callbacks), all in the store's typed tree,
with the model's config.json as metadata (so `ckptdb export-hf STORE WHICH DIR` writes a directory
from_pretrained loads).
The callback takes the save away from the Trainer (control.should_save = False), so the Trainer
writes nothing into output_dir, and saves at the point the Trainer would have: after the step's
log and evaluation, with the evaluation's metrics as the checkpoint's metrics.

Retention is the store's policy, set from the TrainingArguments when training begins:
save_total_limit is max_to_keep, and load_best_model_at_end with metric_for_best_model and
greater_is_better is keep-best, applied in each save's own commit, so the best checkpoint is never
rotated away and no crash leaves a half-deleted one. At the end of training the callback loads the
best checkpoint's weights into the model (what load_best_model_at_end does with directories).

Resuming: the Trainer's resume reads files from a directory, and offers no hook for where they
come from. resume_from(trainer) restores the store's head once, writes its TrainerState as the
trainer_state.json the Trainer reads (plain JSON: the Trainer computes from it which epoch and
batch to continue with, and skips the trained batches without loading them), and binds that
trainer's four loaders (model, optimizer and scheduler, grad scaler, RNG states) to read from the
restored state instead of files when given that directory. Every other directory still loads as
before. Tested against transformers 5.24 (api/python/requirements.txt); one process only.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import types

import numpy as np
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState, TrainerState

from ckptdb import store as _store
from ckptdb.errors import InvalidArgumentError
from ckptdb.torch import rng_state, set_rng_state

FORMAT = "ckptdb.hf_trainer/1"  # the "format" entry every checkpoint of this callback carries
_STATE_FILE = "trainer_state.json"  # transformers.trainer.TRAINER_STATE_NAME


class CkptdbCallback(TrainerCallback):
    """Saves the Trainer's checkpoints into the store at `path` (created if missing).

    async_save: each save returns once the state is captured and the store persists it in the
    background (Store.save(blocking=False)); the next save, resume_from and the end of training
    wait for it, and a failed persist is raised there. chunk_size, threads, staging_bytes: those
    of ckptdb.open. The store stays open until close() (or garbage collection); `store` gives it.
    Raises NotImplementedError when training runs in more than one process (multi-rank saves are
    not built yet), InvalidArgumentError from resume_from when the head was not saved by it.
    """

    def __init__(self, path, *, async_save=False, chunk_size=None, threads=0, staging_bytes=None):
        self._store = _store.open(os.fspath(path), chunk_size=chunk_size, threads=threads,
                                  staging_bytes=staging_bytes)
        self._async = bool(async_save)
        self._pending = None   # the last SaveFuture of async_save
        self._due = None       # what a save the Trainer asked for waits for: "log", "evaluate" or None
        self._objects = {}     # the model, optimizer, scheduler of the latest event
        self._trainer = None   # known after resume_from: its callbacks' states are saved too
        self._resume_dir = None

    @property
    def store(self):
        return self._store

    def close(self):
        """Waits for a pending save, removes resume_from's directory and closes the store."""
        try:
            self._wait()
        finally:
            self._drop_resume_dir()
            self._store.close()

    # ---- saving -------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kw):
        if args.world_size > 1:
            raise NotImplementedError(f"CkptdbCallback: training runs in {args.world_size} processes; "
                                      "only one-process training is supported yet")
        keep_best = False
        if args.load_best_model_at_end and args.metric_for_best_model:
            keep_best = (_eval_metric(args), "max" if args.greater_is_better else "min")
        self._store.policy(max_to_keep=args.save_total_limit or 0, keep_best=keep_best)
        self._remember(kw)

    def on_step_end(self, args, state, control, **kw):
        self._take_save(args, control, kw)
        if self._due is None and self._objects.get("wanted"):
            self._save(args, state, control, metrics=None)

    def on_epoch_end(self, args, state, control, **kw):
        self._flush(args, state, control)
        self._take_save(args, control, kw)
        if self._due is None and self._objects.get("wanted"):
            self._save(args, state, control, metrics=None)

    def on_log(self, args, state, control, logs=None, **kw):
        if self._due == "log":
            self._save(args, state, control, metrics=None)

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if self._due not in ("evaluate", "best"):
            return
        new_best = False
        # The Trainer decides the best checkpoint only after this event (_determine_best_metric);
        # deciding it here the same way lets the saved TrainerState hold it, and the Trainer,
        # finding the metric no better than itself, decides the same.
        if args.metric_for_best_model and metrics:
            value = metrics.get(_eval_metric(args))
            if value is not None:
                better = np.greater if args.greater_is_better else np.less
                if state.best_metric is None or better(value, state.best_metric):
                    state.best_metric = value
                    state.best_global_step = state.global_step
                    new_best = True
        if self._due == "best" and not new_best:
            self._due = None  # save_strategy="best": the Trainer saves only a new best, and so do we
            return
        self._save(args, state, control, metrics=metrics)

    def on_step_begin(self, args, state, control, **kw):
        self._flush(args, state, control)

    def on_epoch_begin(self, args, state, control, **kw):
        self._flush(args, state, control)

    def on_train_end(self, args, state, control, model=None, **kw):
        self._flush(args, state, control)
        self._wait()
        self._drop_resume_dir()
        if args.load_best_model_at_end and state.best_global_step and model is not None:
            # Only the model's chunks are read: the optimizer moments are twice its size.
            best = self._store.restore(step=state.best_global_step, select=lambda n: n.startswith("model."),
                                       rename=lambda n: n[len("model."):])
            model.load_state_dict(best)

    def _remember(self, kw):
        for key in ("model", "optimizer", "lr_scheduler"):
            if kw.get(key) is not None:
                self._objects[key] = kw[key]

    def _take_save(self, args, control, kw):
        """Takes the save the Trainer is about to make (so it writes no directory) and decides
        which event comes last before the Trainer's own save point: its evaluation, else its log.
        With save_strategy="best" the Trainer decides after evaluating; so does on_evaluate."""
        self._remember(kw)
        if args.save_strategy == "best":
            self._due = "best" if control.should_evaluate else None
            return
        self._objects["wanted"] = bool(control.should_save)
        if not control.should_save:
            return
        control.should_save = False
        self._due = "evaluate" if control.should_evaluate else "log" if control.should_log else None

    def _flush(self, args, state, control):
        # A save whose awaited event did not come (a log the Trainer skipped) is made at the next
        # event; nothing has changed the training state in between.
        if self._due is not None:
            self._save(args, state, control, metrics=None)

    def _save(self, args, state, control, metrics):
        self._due = None
        self._objects["wanted"] = False
        model, optimizer, scheduler = (self._objects.get(k) for k in ("model", "optimizer", "lr_scheduler"))
        tree = {"format": FORMAT, "step": int(state.global_step), "model": model.state_dict()}
        if optimizer is not None:
            tree["optimizer"] = optimizer.state_dict()
            scaler = getattr(optimizer, "scaler", None)  # accelerate's AcceleratedOptimizer holds it
            if scaler is not None:
                tree["scaler"] = scaler.state_dict()
        if scheduler is not None:
            tree["scheduler"] = scheduler.state_dict()
        tree["rng"] = rng_state()
        tree["trainer_state"] = self._trainer_state(state, control)
        numeric = {k: float(v) for k, v in (metrics or {}).items()
                   if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)}
        self._wait()
        saved = self._store.save(tree, int(state.global_step), metrics=numeric, metadata=_hf_config(model),
                                 blocking=not self._async)
        if self._async:
            self._pending = saved

    def _trainer_state(self, state, control):
        # As the Trainer's _save_checkpoint: each ExportableState callback's state as of now.
        callbacks = [control]
        if self._trainer is not None:
            callbacks = self._trainer.callback_handler.callbacks + [control]
        for cb in callbacks:
            if isinstance(cb, ExportableState):
                name = cb.__class__.__name__
                if isinstance(state.stateful_callbacks.get(name), list):
                    state.stateful_callbacks[name].append(cb.state())
                else:
                    state.stateful_callbacks[name] = cb.state()
        saved = dataclasses.asdict(state)
        saved["best_model_checkpoint"] = None  # a directory path; the best is best_global_step here
        # JSON's round trip, which the Trainer's own trainer_state.json makes, turns tuples into
        # lists and numpy scalars into numbers; the typed tree keeps what it is given.
        return json.loads(json.dumps(saved, default=_plain))

    def _wait(self):
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    # ---- resuming -----------------------------------------------------------------------
    def resume_from(self, trainer):
        """What to pass as trainer.train(resume_from_checkpoint=...): None when the store is empty
        (a fresh run), else a directory that trainer now resumes from the store's head through.
        Saves of this callback also record the states of trainer's other stateful callbacks."""
        self._trainer = trainer
        self._wait()
        self._drop_resume_dir()
        if self._store.head() is None:
            return None
        tree = self._store.restore()
        if not isinstance(tree, dict) or tree.get("format") != FORMAT:
            raise InvalidArgumentError(f"store {self._store.path}: the head was not saved by CkptdbCallback")
        directory = tempfile.mkdtemp(prefix="ckptdb-resume-")
        TrainerState(**tree["trainer_state"]).save_to_json(os.path.join(directory, _STATE_FILE))
        self._resume_dir = directory
        _bind_loaders(trainer, directory, tree)
        return directory

    def _drop_resume_dir(self):
        if self._resume_dir is not None:
            shutil.rmtree(self._resume_dir, ignore_errors=True)
            self._resume_dir = None

    def __del__(self):
        self._drop_resume_dir()


def _bind_loaders(trainer, directory, tree):
    """Replaces, on this trainer object only, the loaders the Trainer's resume calls with ones that
    read `tree` when asked for `directory` and call the Trainer's own for anything else."""
    def model_loader(original):
        def load(self, checkpoint, model=None):
            if checkpoint != directory:
                return original(checkpoint, model)
            (model or self.model).load_state_dict(tree["model"])
        return load

    def optimizer_loader(original):
        def load(self, checkpoint):
            if checkpoint != directory:
                return original(checkpoint)
            if "optimizer" in tree:
                self.optimizer.load_state_dict(tree["optimizer"])
            if "scheduler" in tree:
                self.lr_scheduler.load_state_dict(tree["scheduler"])
        return load

    def scaler_loader(original):
        def load(self, checkpoint):
            if checkpoint != directory:
                return original(checkpoint)
            scaler = getattr(self.accelerator, "scaler", None)
            if scaler is not None and "scaler" in tree:
                scaler.load_state_dict(tree["scaler"])
        return load

    def rng_loader(original):
        def load(self, checkpoint):
            if checkpoint != directory:
                return original(checkpoint)
            set_rng_state(tree["rng"])
        return load

    for name, make in (("_load_from_checkpoint", model_loader), ("_load_optimizer_and_scheduler", optimizer_loader),
                       ("_load_scaler", scaler_loader), ("_load_rng_state", rng_loader)):
        original = getattr(type(trainer), name).__get__(trainer)
        setattr(trainer, name, types.MethodType(make(original), trainer))


def _hf_config(model):
    """The model's config.json (and generation_config.json) as save_pretrained writes them, kept as
    the checkpoint's metadata so that `ckptdb export-hf` makes a from_pretrained directory of it."""
    metadata = {}
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        metadata["hf.config.json"] = config.to_json_string()
    generation = getattr(model, "generation_config", None)
    if generation is not None and hasattr(generation, "to_json_string"):
        metadata["hf.generation_config.json"] = generation.to_json_string()
    return metadata


def _eval_metric(args):
    name = args.metric_for_best_model
    return name if name.startswith("eval_") else f"eval_{name}"


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"CkptdbCallback: the TrainerState holds a {type(value).__name__}, which JSON cannot hold")
