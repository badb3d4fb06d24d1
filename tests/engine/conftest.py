"""Fixtures for engine tests: tiny random models of each family and the shipped
embedded model, loaded once per session."""
import pytest

from workers.engine.model_loading import load_model

from .tiny_models import FAMILIES, save_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-models")
    return {family: save_tiny_model(family, folder) for family in FAMILIES}


@pytest.fixture(scope="session")
def embedded():
    return load_model("embedded")
