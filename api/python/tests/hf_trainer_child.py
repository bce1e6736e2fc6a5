"""One Hugging Face Trainer run into a ckptdb store, as a child process of test_transformers.py.

    hf_trainer_child.py STORE OUTPUT_DIR [--kill-at STEP] [--max-steps N] [--async]

A tiny random GPT-2 (nothing downloaded) on a synthetic dataset, with dropout, shuffling, AdamW
and a linear schedule, saving and evaluating every 4 steps. It resumes from the store's head when
there is one. --kill-at SIGKILLs the process at the end of that step, before anything after it.
"""

import argparse
import os
import signal

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from ckptdb.integrations.transformers import CkptdbCallback

VOCAB, SEQ, SAMPLES = 96, 16, 40


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, VOCAB, (n, SEQ), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class KillAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=SEQ))


def arguments(output_dir, max_steps, **extra):
    kw = dict(output_dir=output_dir, max_steps=max_steps, per_device_train_batch_size=4, learning_rate=1e-3,
              lr_scheduler_type="linear", warmup_steps=2, save_strategy="steps", save_steps=4,
              eval_strategy="steps", eval_steps=4, logging_steps=2, seed=7, data_seed=11, use_cpu=True,
              report_to=[], disable_tqdm=True, dataloader_num_workers=0)
    kw.update(extra)
    return TrainingArguments(**kw)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("output_dir")
    p.add_argument("--kill-at", type=int)
    p.add_argument("--max-steps", type=int, default=16)
    p.add_argument("--async", dest="async_save", action="store_true")
    a = p.parse_args()
    cb = CkptdbCallback(a.store, async_save=a.async_save)
    callbacks = [cb] + ([KillAt(a.kill_at)] if a.kill_at else [])
    trainer = Trainer(model=model(), args=arguments(a.output_dir, a.max_steps), train_dataset=Tokens(SAMPLES, 1),
                      eval_dataset=Tokens(8, 2), callbacks=callbacks)
    trainer.train(resume_from_checkpoint=cb.resume_from(trainer))
    cb.close()


if __name__ == "__main__":
    main()
