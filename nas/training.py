"""A training from scratch with SGD and a cosine schedule stepped every batch, checkpointed after
every epoch, then a test on the whole test set: the loop the dense-DAG space's standalone blocks
and the nb201 space's cells share. (The DARTS evaluation network has its own, `nas/evaluate.py`,
for its auxiliary head, drop path and speed switches.)

A training whose loss becomes NaN or infinite is not stopped: its history records the loss, and its
test accuracy is what the network then predicts (a table of cells keeps such a cell as measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from nas.checkpoint import restore_training, training_state
from nas.data import Batches, ImageData


def fit_and_test(net: nn.Module, data: ImageData, config, optimizer: torch.optim.Optimizer,
                 batches: Batches, device: torch.device, *, lr_min: float = 0.0,
                 resume: dict | None = None,
                 on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Train `net` for `config.epochs` epochs of `batches` (the learning rate cosine-annealed per
    step to `lr_min`), from the epoch after `resume` where given, with `on_checkpoint` called after
    every epoch with the state to resume from; then test it. Returns {'test_acc', 'test_loss',
    'train_acc', 'params', 'train_time_s', 'history', 'config'}."""
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs * len(batches),
                                                       eta_min=lr_min)
    history, first, elapsed = [], 0, 0.0
    if resume is not None:
        history, first, elapsed = restore_training(resume, net, optimizer, sched, batches)
    start = time.perf_counter() - elapsed
    for epoch in range(first, config.epochs):
        net.train()
        t0, cpu0, lr = time.perf_counter(), time.process_time(), optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        n = 0
        for x, y in batches:
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sched.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            n += len(y)
        history.append({"epoch": epoch, "train_loss": float(loss_sum) / n,
                        "train_acc": float(correct) / n, "lr": lr,
                        "epoch_time_s": time.perf_counter() - t0,
                        "epoch_cpu_s": time.process_time() - cpu0})   # all threads
        if on_checkpoint is not None:
            on_checkpoint(training_state(config, epoch + 1, net, optimizer, sched, batches, history,
                                         time.perf_counter() - start))
    train_time = time.perf_counter() - start
    test_acc, test_loss = test(net, data, device)
    return {"test_acc": test_acc, "test_loss": test_loss, "train_acc": history[-1]["train_acc"],
            "params": sum(p.numel() for p in net.parameters()), "train_time_s": train_time,
            "history": history, "config": asdict(config)}


@torch.no_grad()
def test(net: nn.Module, data: ImageData, device: torch.device,
         batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean loss) of `net` in eval mode on the whole test set of `data`."""
    net.eval()
    batches = Batches(data.test_x, data.test_y, batch_size, data.mean, data.std, augment=None,
                      shuffle=False, drop_last=False, device=device)
    correct, loss_sum = 0, 0.0
    for x, y in batches:
        logits = net(x)
        correct += int((logits.argmax(1) == y).sum())
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
    return correct / len(data.test_y), loss_sum / len(data.test_y)
