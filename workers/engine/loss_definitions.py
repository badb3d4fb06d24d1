"""What each training loss is called and computes: the one table the loss charts are
labelled from (the web page reads it through history.json), kept next to the maths in
losses.py but free of torch so that the web process can import it.

One entry per training stage (a stage trains exactly one loss: training.StageTrainer.loss);
`formula` says what losses.py computes, `unit` what the chart's y axis is in, `panel` the
chart that draws it.
"""
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LossDefinition:
    key: str        # the training stage whose loss this is
    label: str
    formula: str
    unit: str
    panel: str      # id suffix of the chart (loss-<panel>)


LOSSES = {d.key: d for d in (
    LossDefinition("sft", "Cross-entropy (SFT)", "CE of the gold answer tokens", "nats", "ce"),
    LossDefinition("soft-sft", "KL to the ICL top-K (soft-label SFT)",
                   "KL(ICL top-K ‖ model) per answer token", "nats", "kl"),
    LossDefinition("ia2", "Activation MSE to ICL (IA2)",
                   "MSE of attention outputs to the ICL activations, summed over layers", "squared activation", "mse"),
    LossDefinition("ia2+sft", "IA2+SFT joint loss", "(1−w)·MSE + w·CE, w = training.joint_weight",
                   "MSE and nats, weighted", "joint"),
)}


def loss_definitions() -> list[dict]:
    """The table as JSON-ready dicts, in chart order."""
    return [asdict(d) for d in LOSSES.values()]
