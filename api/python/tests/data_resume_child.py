"""A training loop over torchdata's StatefulDataLoader, as a child process of test_data_resume.py.

    data_resume_child.py STORE LOG_DIR OUT [--save-at N --kill-at M]

Two epochs over 30 samples, shuffled, batch 4, two workers. Each batch is appended to OUT as one
line. With --save-at it saves the training state (with the loader's) after batch N (counted over
both epochs) and SIGKILLs itself after batch M. It resumes from the store's head when there is
one. Every sample the dataset reads is appended to LOG_DIR/reads-PID, by whichever worker reads it.
"""

import argparse
import os
import signal

import torch
from torchdata.stateful_dataloader import StatefulDataLoader

import ckptdb
from ckptdb.torch import load_training_state, save_training_state

SAMPLES, EPOCHS = 30, 2


class Logged(torch.utils.data.Dataset):
    def __init__(self, log_dir):
        self.log_dir = log_dir

    def __len__(self):
        return SAMPLES

    def __getitem__(self, i):
        with open(os.path.join(self.log_dir, f"reads-{os.getpid()}"), "a") as f:
            f.write(f"{i}\n")
        return i


def main():
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("log_dir")
    p.add_argument("out")
    p.add_argument("--save-at", type=int)
    p.add_argument("--kill-at", type=int)
    a = p.parse_args()
    loader = StatefulDataLoader(Logged(a.log_dir), batch_size=4, shuffle=True, num_workers=2,
                                generator=torch.Generator().manual_seed(5))
    model = torch.nn.Linear(1, 1)
    done, epoch = 0, 0
    with ckptdb.open(a.store) as store, open(a.out, "a") as out:
        if store.head() is not None:
            done, extra = load_training_state(store, model=model, data=loader)
            epoch = extra["epoch"]
        while epoch < EPOCHS:
            for batch in loader:
                out.write(" ".join(str(int(i)) for i in batch) + "\n")
                out.flush()
                done += 1
                if done == a.save_at:
                    save_training_state(store, done, model=model, data=loader, extra={"epoch": epoch})
                if done == a.kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            epoch += 1


if __name__ == "__main__":
    main()
