"""The deployment files hold together: the cluster-launcher YAML passes Ray's own validator, the KubeRay cluster
autoscales a CPU and a GPU group and takes secrets from a Kubernetes secret, the RayJob runs a shipped config
that validates on a cluster big enough for it, and the image installs what `make install` does."""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

from cluster.checks import capacity_problems
from cluster.config import load_config
from envs.sandbox.image import ID_COUNT, UID_BASE

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "cluster" / "deploy"
IMAGE_ROOT = "/home/ray/agenttune"  # where the Dockerfile puts the checkout
SECRETS = ("HF_TOKEN", "OPENAI_API_KEY", "MLFLOW_TRACKING_URI")


def test_the_cluster_launcher_yaml_passes_rays_validator():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / "ray-up.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    types = config["available_node_types"]
    assert types["gpu_worker"]["resources"]["GPU"] > 0 and types["cpu_worker"]["min_workers"] == 0
    broken = copy.deepcopy(config)
    broken["available_node_types"]["cpu_worker"]["max_workerz"] = 3  # the validator is not a no-op
    with pytest.raises(Exception, match="max_workerz|Additional properties"):
        validate_config(prepare_config(broken))


def kuberay() -> tuple[dict, dict]:
    cluster = yaml.safe_load((DEPLOY / "kuberay" / "raycluster.yaml").read_text())
    job = yaml.safe_load((DEPLOY / "kuberay" / "rayjob.yaml").read_text())
    return cluster, job


def containers(group: dict) -> list[dict]:
    return group["template"]["spec"]["containers"]


def test_the_raycluster_autoscales_a_cpu_and_a_gpu_group_with_secrets_from_kubernetes():
    cluster, _ = kuberay()
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    for g in groups.values():
        assert g["minReplicas"] == 0 < g["maxReplicas"]
    gpu_limit = containers(groups["gpu"])[0]["resources"]["limits"]["nvidia.com/gpu"]
    assert int(gpu_limit) == int(groups["gpu"]["rayStartParams"]["num-gpus"]) > 0
    pods = [cluster["spec"]["headGroupSpec"], *groups.values()]
    for pod in pods:
        env = {e["name"]: e for e in containers(pod)[0]["env"]}
        for name in SECRETS:
            assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    assert not re.search(r"(sk-|hf_)[A-Za-z0-9]{6,}", (DEPLOY / "kuberay" / "raycluster.yaml").read_text())


def job_config(entrypoint: str):
    """The config a RayJob's ``agenttune ...`` entrypoint runs, loaded (and so validated) from this checkout."""
    argv = shlex.split(entrypoint)
    assert argv[:2] == ["agenttune", "pipeline"]
    path = argv[2].replace(IMAGE_ROOT, str(REPO))
    overrides = [a for a in argv[3:] if "=" in a and not a.startswith("-")]
    return load_config(path, overrides)


def test_the_rayjob_runs_a_shipped_config_that_fits_the_raycluster():
    cluster, job = kuberay()
    assert (job["kind"], job["spec"]["clusterSelector"]["ray.io/cluster"]) == ("RayJob", cluster["metadata"]["name"])
    cfg = job_config(job["spec"]["entrypoint"])
    assert cfg.run.dir.startswith("/shared/")  # every pod mounts the shared volume there
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    at_most = {
        "CPU": sum(g["maxReplicas"] * float(g["rayStartParams"]["num-cpus"]) for g in groups.values())
        + float(cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"]),
        "GPU": groups["gpu"]["maxReplicas"] * float(groups["gpu"]["rayStartParams"]["num-gpus"]),
    }
    assert capacity_problems(cfg, cfg.stages, at_most, "the RayCluster at its largest") == []
    assert cfg.train.use_gpu and at_most["GPU"] >= cfg.train.num_workers
    assert cfg.rollout.max_actors * cfg.rollout.actor_cpus <= groups["cpu"]["maxReplicas"] * 16
    smaller = at_most | {"GPU": cfg.train.num_workers - 1}
    assert capacity_problems(cfg, cfg.stages, smaller, "a smaller cluster")  # the check can fail


def test_job_submission_uploads_the_checkout_without_what_runs_leave():
    env = yaml.safe_load((DEPLOY / "runtime-env.yaml").read_text())
    assert env["working_dir"] == "."
    assert {"runs/", ".venv/", "checkpoints/"} <= set(env["excludes"])


def test_the_image_installs_like_make_install_with_bubblewrap_and_a_non_root_user():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM \$\{BASE\}$", dockerfile, re.M) and "ARG BASE=rayproject/ray:2.60.0-py311" in dockerfile
    assert "ARG TORCH_SPEC=" in dockerfile and 'TORCH_SPEC="${TORCH_SPEC}"' in dockerfile
    assert re.search(r"apt-get install .*bubblewrap", dockerfile)
    assert "make install" in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    # the OS env's task image, and the ids user ray maps it with (the range the image's owners are shifted to)
    assert "make os-image" in dockerfile and re.search(r"apt-get install .*uidmap", dockerfile)
    grant = f"{users[-1]}:{UID_BASE}:{ID_COUNT}"
    assert f'"{grant}" >> /etc/subuid' in dockerfile and f'"{grant}" >> /etc/subgid' in dockerfile
    makefile = (REPO / "Makefile").read_text()
    for variable in ("VENV", "EXTRAS", "TORCH_SPEC", "PYTHON"):
        assert re.search(rf"^{variable} \?=", makefile, re.M), variable  # the Dockerfile can set each
