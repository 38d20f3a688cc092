"""Browser tests: Debian's Chromium driven by pytest-playwright (make test-browser)."""

from pathlib import Path

import pytest

# axe-core, from the npm registry, pinned by tests/e2e/package-lock.json and installed by scripts/bootstrap.sh
# (WITH_BROWSER=1): never fetched from a CDN while the tests run.
AXE_PATH = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium"}


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_PATH.exists():
        pytest.fail(
            f"axe-core is missing ({AXE_PATH}): run `WITH_BROWSER=1 ./scripts/bootstrap.sh` (npm ci in tests/e2e)."
        )
    return AXE_PATH.read_text(encoding="utf-8")
