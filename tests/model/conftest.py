from __future__ import annotations

from collections.abc import Iterator

import pytest
from model_support import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake
