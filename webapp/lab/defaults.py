"""The engine's defaults and vocabularies, read from its torch-free config: the one source
for the experiment form's initial values, the model defaults, the method list and labels
and the answer parsers (tests/web/test_defaults.py checks the README table against it)."""
import dataclasses

from workers.engine.config import METHOD_TITLES, METHODS, ExperimentConfig
from workers.engine.training_settings import AdapterSettings, TrainingSettings
from workers.engine.tasks import PARSERS


def engine_default(name, of=ExperimentConfig):
    """The engine's default for one field of ExperimentConfig (or AdapterSettings, TrainingSettings)."""
    f = {f.name: f for f in dataclasses.fields(of)}[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


MODEL = engine_default("model")
EVAL_SIZE = engine_default("eval_size")
SIMILARITY_SIZE = engine_default("similarity_size")
METHODS_DEFAULT = list(engine_default("methods"))
ADAPTER_TYPE = engine_default("type", AdapterSettings)
LORA_R = int(engine_default("r", AdapterSettings))
LORA_ALPHA = int(engine_default("alpha", AdapterSettings))
TARGET_MODULES = list(engine_default("target_modules", AdapterSettings))
SOFT_TOP_K = engine_default("soft_top_k", TrainingSettings)
# the web's first try is smaller than the engine's CLI default ([4] and 3 seeds): two N
# values and one seed, so a launch from the form shows a curve within minutes
N_VALUES = [4, 8]
SEEDS = 1

# (value, label) pairs in the engine's order, with the engine's titles
METHOD_CHOICES = [(m, METHOD_TITLES.get(m, m)) for m in METHODS]
METHOD_LABELS = dict(METHOD_CHOICES)
# the engine's parser names; the hint says what each one reads
_PARSER_HINTS = {"gsm8k": "gsm8k (#### 42)", "boxed": "boxed (\\boxed{})"}
PARSER_CHOICES = [(p, _PARSER_HINTS.get(p, p)) for p in PARSERS]
