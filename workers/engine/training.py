"""Trains an adapter through a sequence of stages (sft, ia2, soft-sft, ia2+sft),
each with Adam, mini-batches, early stopping on the dev split with the best
weights really restored, and the learning rate chosen on the dev split.

Every learning rate starts from the same weights, so the starting dev loss is
computed once per stage; dev batches are as large as evaluation batches. A stage
whose best state is its starting point (no learning rate improved the dev loss)
says so in its result and in a progress message.

Every stage reports its loss each step through the Reporter and honours cancel; each
trial reports its starting dev loss at step 0 too, so a live chart and the returned history
hold the same points. What training chose is reported once, here: `StageResult.summary()`
(the chosen trial and every trial's best epoch and step), which the runner returns as
`training_stages` and the web app stores and shows as it is.
Activation hooks are attached only for the stages whose loss reads activations,
a step's loss is read back from the device once (not once per micro-batch), and
the model is switched between train and eval mode only when its mode changes.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from .adapters import load_trainable_state, trainable_state
from .capture import ActivationCapture
from .loss_definitions import LOSSES
from .losses import TrainItem, ce_loss, ia2_loss, joint_loss, soft_loss
from .progress import Reporter
from .sampling import stable_seed
from .training_settings import TrainingSettings

STAGE_LOSSES = tuple(LOSSES)   # the stages and their losses: loss_definitions.LOSSES
CAPTURING = ("ia2", "ia2+sft")   # the stages whose loss reads attention outputs


@dataclass
class StageResult:
    """One learning-rate trial of a stage; the stage's result is its chosen trial, with
    every trial's brief in `trials` and every trial's loss history in `history`."""

    stage: str
    lr: float
    best_dev_loss: float
    best_epoch: int
    epochs_run: int
    history: list[dict]
    trial: int = 0          # which learning-rate trial (the chosen one, for the stage)
    best_step: int = 0      # the optimizer step at the end of the best epoch (0: the start)
    trials: list = field(default_factory=list)

    @property
    def improved(self) -> bool:
        """False when no epoch beat the starting weights on dev (they were kept)."""
        return self.best_epoch > 0

    def brief(self) -> dict:
        return {"trial": self.trial, "lr": self.lr, "best_dev_loss": self.best_dev_loss,
                "best_epoch": self.best_epoch, "best_step": self.best_step, "epochs_run": self.epochs_run}

    def summary(self) -> dict:
        """What training chose for this stage: the chosen trial's brief, and every trial's."""
        return {"stage": self.stage, **self.brief(), "improved": self.improved, "trials": list(self.trials)}


class StageTrainer:
    """Runs training stages on one peft model."""

    def __init__(self, peft_model, settings: TrainingSettings, pad_id: int, device, seed: int, reporter: Reporter,
                 dev_batch_size: int = 32):
        self.model = peft_model
        self.dev_batch_size = dev_batch_size
        self.settings = settings
        self.pad_id = pad_id
        self.device = device
        self.seed = seed
        self.reporter = reporter
        self.capture = ActivationCapture(peft_model, detach=False)

    def loss(self, stage: str, items: list[TrainItem]) -> torch.Tensor:
        if stage == "sft":
            return ce_loss(self.model, items, self.pad_id, self.device)
        if stage == "ia2":
            return ia2_loss(self.model, items, self.pad_id, self.device, self.capture)
        if stage == "soft-sft":
            return soft_loss(self.model, items, self.pad_id, self.device)
        if stage == "ia2+sft":
            return joint_loss(self.model, items, self.pad_id, self.device, self.capture, self.settings.joint_weight)
        raise ValueError(f"unknown stage {stage}")

    def hooks(self, stage: str):
        """The activation capture for a stage that reads activations; nothing otherwise."""
        return self.capture if stage in CAPTURING else nullcontext()

    def mode(self, training: bool) -> None:
        """train() / eval() walk every module; skip the walk when the mode is already right."""
        if self.model.training != training:
            self.model.train(training)

    @torch.no_grad()
    def dev_loss(self, stage: str, dev: list[TrainItem]) -> float:
        self.mode(False)
        total, count = 0.0, 0
        for i in range(0, len(dev), self.dev_batch_size):
            chunk = dev[i:i + self.dev_batch_size]
            total += float(self.loss(stage, chunk)) * len(chunk)
            count += len(chunk)
        return total / max(count, 1)

    def run(self, stage: str, train: list[TrainItem], dev: list[TrainItem]) -> StageResult:
        with self.hooks(stage):
            start_state = trainable_state(self.model)
            start_loss = self.dev_loss(stage, dev)
            best: StageResult | None = None
            best_state = start_state
            reporter = self.reporter
            briefs, history = [], []
            for trial, lr in enumerate(self.settings.lr):
                load_trainable_state(self.model, start_state)
                # every event of this trial says which one it is (a progress bar spans the trials)
                self.reporter = reporter.child(lr_trial=trial, lr_trials=len(self.settings.lr), lr=lr)
                result, state = self._run_one_lr(stage, trial, lr, train, dev, start_loss)
                briefs.append(result.brief())
                history += result.history
                if best is None or result.best_dev_loss < best.best_dev_loss:   # the first of ties
                    best, best_state = result, state
            self.reporter = reporter
            best.trials, best.history = briefs, history
            load_trainable_state(self.model, best_state)
        self.mode(False)
        if not best.improved:
            self.reporter.tick(stage, 1, 1, message=f"{stage}: no learning rate improved the dev loss "
                                                    f"({start_loss:.4g}); the starting weights were kept")
        return best

    def step(self, stage: str, batch: list[TrainItem], opt, micro: int) -> float:
        """One optimizer step on `batch` (gradients accumulated over micro-batches); its loss."""
        opt.zero_grad(set_to_none=True)
        value = None   # summed in float64 on the device: what adding Python floats gives, one read-back
        for m in range(0, len(batch), micro):
            part = batch[m:m + micro]
            loss = self.loss(stage, part) * (len(part) / len(batch))
            loss.backward()
            value = loss.detach().double() if value is None else value + loss.detach().double()
        opt.step()
        return float(value)

    def _run_one_lr(self, stage, trial, lr, train, dev, start_loss: float):
        s = self.settings
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        gen = torch.Generator().manual_seed(stable_seed(self.seed, stage, lr) % 2**63)
        steps_per_epoch = (len(train) + s.batch_size - 1) // s.batch_size
        total = steps_per_epoch * s.max_epochs
        best_loss = start_loss
        best_state, best_epoch, best_step, bad, step = trainable_state(self.model), 0, 0, 0, 0
        history = [{"stage": stage, "trial": trial, "step": 0, "epoch": 0, "dev_loss": best_loss, "lr": lr}]
        self.reporter.tick(stage, 0, total, dev_loss=best_loss)
        micro = s.micro_batch_size or s.batch_size
        epoch = 0
        for epoch in range(1, s.max_epochs + 1):
            self.mode(True)
            order = torch.randperm(len(train), generator=gen).tolist()
            for b in range(0, len(order), s.batch_size):
                value = self.step(stage, [train[i] for i in order[b:b + s.batch_size]], opt, micro)
                step += 1
                history.append({"stage": stage, "trial": trial, "step": step, "epoch": epoch, "loss": value,
                                "lr": lr})
                self.reporter.tick(stage, step, total, loss=value)
            dev_value = self.dev_loss(stage, dev)
            history[-1]["dev_loss"] = dev_value
            self.reporter.tick(stage, step, total, dev_loss=dev_value)
            if dev_value < best_loss - 1e-7:
                best_loss, best_state, bad = dev_value, trainable_state(self.model), 0
                best_epoch, best_step = epoch, step
            else:
                bad += 1
                if bad >= s.patience:
                    break
        self.reporter.tick(stage, total, total, message=f"best epoch {best_epoch}")
        result = StageResult(stage, lr, best_loss, best_epoch, epoch, history, trial=trial, best_step=best_step)
        return result, best_state
