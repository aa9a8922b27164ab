"""Imported through ``env_modules`` to register the test env whose grader a test switches."""

import envs
from tests.rollouts.graded_env import SPEC

envs.register_env(SPEC)
