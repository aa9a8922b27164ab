"""The OS env's task image for tests: the built one, else built once per session where this machine can (root,
mmdebstrap, a Debian mirror: about a minute), else the test is skipped saying how to build it.

    from tests.envs.image_fixture import task_image  # noqa: F401 - a fixture
"""

from __future__ import annotations

import os
import shutil

import pytest

from envs.sandbox import SandboxError
from envs.sandbox.image import BUILD_HINT, Image, build_image, find_image, image_dir


@pytest.fixture(scope="session")
def task_image() -> Image:
    if os.geteuid() != 0:
        pytest.skip(reason="sandboxes on the task image need root (they map the image's 65536 uids)")
    image = find_image()
    if image is None and shutil.which("mmdebstrap"):
        try:
            image = build_image()
        except SandboxError as error:
            pytest.skip(reason=f"no task image at {image_dir()} and building one failed ({error}); {BUILD_HINT}")
    if image is None:
        pytest.skip(reason=f"no task image at {image_dir()} (mmdebstrap is not installed); {BUILD_HINT}")
    return image
