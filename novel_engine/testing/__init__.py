"""Fakes shipped with the package for tests: scripted and slow language models, fake model servers."""

from novel_engine.testing.fake_llm import FakeGeminiServer, FakeOpenAIServer, Faults
from novel_engine.testing.models import ScriptedModel, SlowModel

__all__ = ["ScriptedModel", "SlowModel", "FakeGeminiServer", "FakeOpenAIServer", "Faults"]
