"""Settings for the benchmarks (benches/ is outside the test suite's testpaths)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

MODES = ("quick", "default", "full")


@dataclass(frozen=True)
class BenchSettings:
    batch: int
    """Distinct CALL frames per batch; pytest-benchmark times are per batch."""
    rounds: int
    warmup_rounds: int
    ours_iterations: int
    """Batches per round for ocpp-router (~40x faster: more work per round for stable timings)."""
    peer_iterations: int


SETTINGS = {
    "quick": BenchSettings(batch=200, rounds=5, warmup_rounds=1, ours_iterations=5, peer_iterations=1),
    "default": BenchSettings(batch=200, rounds=10, warmup_rounds=1, ours_iterations=10, peer_iterations=1),
    "full": BenchSettings(batch=200, rounds=30, warmup_rounds=2, ours_iterations=10, peer_iterations=1),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--core-mode",
        choices=MODES,
        default="default",
        help="ocpp-router pipeline benchmark length: quick (CI), default, full",
    )


@pytest.fixture(scope="session")
def bench_settings(request: pytest.FixtureRequest) -> BenchSettings:
    return SETTINGS[str(request.config.getoption("--core-mode"))]
