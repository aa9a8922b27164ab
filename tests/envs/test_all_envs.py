"""Every registered env, through the same check users run (`agenttune envs check`): gymnasium's env checker
passes, the oracle solves every seeded test task, a random agent almost none."""

import pytest

import envs
from rollouts.envcheck import check_env_quality

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("env_id", [spec.id for spec in envs.list_specs()])
def test_registered_env_holds_up(env_id):
    report = check_env_quality(env_id, num_tasks=20)
    assert report["checker_passed"], report["checker_error"]
    assert report["tasks"] == 20
    assert report["oracle_success_rate"] == 1.0, report["oracle_status"]
    assert report["random_success_rate"] < 0.05


def test_registry_declares_roles_and_all_eight_envs():
    roles = {spec.id: spec.role for spec in envs.list_specs()}
    assert {k for k, v in roles.items() if v == "held_in"} == {
        "agenttune/DB-v0",
        "agenttune/OS-v0",
        "agenttune/KG-v0",
        "agenttune/Household-v0",
        "agenttune/WebShop-v0",
        "agenttune/WebNav-v0",
    }
    assert {k for k, v in roles.items() if v == "held_out"} == {
        "agenttune/MultiHopQA-v0",
        "agenttune/TextAdventure-v0",
    }
