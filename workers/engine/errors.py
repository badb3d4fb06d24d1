"""Errors the engine raises for bad input; each message names the field and the fix."""


class EngineError(Exception):
    """Base class for errors a user can act on (shown without a traceback)."""


class ConfigError(EngineError):
    """A configuration value is wrong: `field` names it, the message says how to fix it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ModelLoadError(EngineError):
    """A model or tokenizer could not be found, downloaded or opened."""

    def __init__(self, model: str, message: str):
        self.field = "model"
        self.model = model
        super().__init__(f"model '{model}': {message}")
