"""Shared pytest fixtures."""

import pytest


@pytest.fixture
def fake_llm_server():
    """A real HTTP server speaking the OpenAI chat protocol (tests/fake_openai_server.py); stops itself."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server
