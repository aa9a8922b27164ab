"""Imported by rollout actors (``env_modules``) to register the fault-injecting test env there."""

import envs
from tests.rollouts.fault_envs import SPEC

envs.register_env(SPEC)
