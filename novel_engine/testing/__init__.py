"""Fakes shipped with the package for tests: scripted and slow language models."""

from novel_engine.testing.models import ScriptedModel, SlowModel

__all__ = ["ScriptedModel", "SlowModel"]
