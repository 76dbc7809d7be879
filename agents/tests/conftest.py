"""Fixtures: a real Mosquitto broker per test, on a free port, with its own config."""
import pytest
from agent_helpers import Broker


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
