"""The Kubernetes manifests (deploy/k8s) keep the promises their comments make (SPEC C9).

No cluster runs here: the files are parsed and checked for least privilege, probes on the right
endpoints, secrets only as files, autoscaling and disruption budgets for what must stay up, and
settings the application really reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

MANIFESTS = Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "fintech.yaml"
DOCUMENTS = [doc for doc in yaml.safe_load_all(MANIFESTS.read_text()) if doc]
BY_KIND: dict[str, list[dict]] = {}
for _doc in DOCUMENTS:
    BY_KIND.setdefault(_doc["kind"], []).append(_doc)
WORKLOADS = BY_KIND["Deployment"] + BY_KIND["Job"]


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _named(kind: str, name: str) -> dict:
    return next(doc for doc in BY_KIND[kind] if doc["metadata"]["name"] == name)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w["metadata"]["name"])
def test_every_pod_runs_unprivileged_on_a_read_only_root(workload):
    pod = _pod(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        assert not container["image"].endswith(":latest") and ":" in container["image"]
        # A read-only root needs a writable /tmp (gunicorn's heartbeat files, Celery's schedule).
        assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"])  # noqa: S108


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w["metadata"]["name"])
def test_secrets_reach_pods_only_as_read_only_files(workload):
    pod = _pod(workload)
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    assert secret_volumes, "the fintech-secrets volume is mounted"
    for container in pod["containers"]:
        assert "env" not in container, "settings come from the ConfigMap; secrets from files"
        mounts = [m for m in container["volumeMounts"] if m["name"] in secret_volumes]
        assert mounts and all(m["readOnly"] for m in mounts)


def test_the_config_map_holds_no_secret_values_only_file_paths_and_real_settings():
    from fintech.settings import base

    config = _named("ConfigMap", "fintech-config")["data"]
    settings_source = Path(base.__file__).read_text()
    for name, value in config.items():
        read_by_django = name == "DJANGO_SETTINGS_MODULE"
        assert read_by_django or f'"{name.removesuffix("_FILE")}"' in settings_source, f"{name} is not read by the app"
        if name.endswith(("KEY", "KEYS", "TOKEN", "PASSWORD")) or name == "DATABASE_URL":
            pytest.fail(f"{name} must come from a file (use {name}_FILE)")
        if name.endswith("_FILE"):
            assert value.startswith("/run/secrets/fintech/"), name
    assert config["DJANGO_SETTINGS_MODULE"] == "fintech.settings.prod"


def test_web_probes_use_liveness_without_io_and_readiness_with_dependencies():
    web = _pod(_named("Deployment", "fintech-web"))["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_what_must_stay_up_autoscales_and_has_a_disruption_budget():
    deployments = {d["metadata"]["name"]: d for d in BY_KIND["Deployment"]}
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in BY_KIND["HorizontalPodAutoscaler"]}
    budgets = {tuple(sorted(p["spec"]["selector"]["matchLabels"].items())) for p in BY_KIND["PodDisruptionBudget"]}
    assert {"fintech-web", "fintech-worker"} <= set(scaled)
    assert scaled["fintech-web"]["spec"]["minReplicas"] >= 2
    for name, deployment in deployments.items():
        labels = tuple(sorted(deployment["spec"]["selector"]["matchLabels"].items()))
        assert labels in budgets, f"{name} has no PodDisruptionBudget"
        assert deployment["spec"]["replicas"] >= 2, f"{name} must survive the loss of a pod"
    assert deployments["fintech-web"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_commands_match_the_dockerfile_and_the_services_exist():
    dockerfile = (MANIFESTS.parents[2] / "Dockerfile").read_text()
    assert re.search(r"useradd .*--uid 10001", dockerfile)
    web = _pod(_named("Deployment", "fintech-web"))["containers"][0]
    # The shared gunicorn config (no Server banner, fintech/gunicorn_conf.py) on every path.
    assert web["command"][:4] == ["gunicorn", "--config", "python:fintech.gunicorn_conf", "fintech.wsgi:application"]
    assert '"--config", "python:fintech.gunicorn_conf"' in dockerfile
    assert "--config python:fintech.gunicorn_conf" in (MANIFESTS.parents[2] / "Procfile.dev").read_text()
    # The worker model bench/bench_api.py measured is the config's (issue 19): no command overrides it.
    assert not {"--workers", "-w", "--threads", "--worker-class", "-k"} & set(web["command"])
    assert '"--workers"' not in dockerfile and '"--threads"' not in dockerfile
    service = _named("Service", "fintech-web")
    assert service["spec"]["selector"] == _named("Deployment", "fintech-web")["spec"]["selector"]["matchLabels"]
    assert _named("Ingress", "fintech")["spec"]["tls"]


def test_everything_lives_in_its_own_namespace_never_default():
    namespace = _named("Namespace", "fintech")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in DOCUMENTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "fintech", doc["metadata"]["name"]
    kustomization = yaml.safe_load((MANIFESTS.parent / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "fintech"


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w["metadata"]["name"])
def test_images_are_pinned_by_digest(workload):
    for container in _pod(workload)["containers"]:
        assert re.search(r"@sha256:[0-9a-f]{64}$", container["image"]), container["image"]
        assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("name", ["fintech-web", "fintech-worker", "fintech-beat"])
def test_every_long_running_pod_has_liveness_and_readiness_probes(name):
    for container in _pod(_named("Deployment", name))["containers"]:
        assert "livenessProbe" in container and "readinessProbe" in container, name


def test_the_beat_probes_read_the_heartbeat_file_the_scheduler_touches():
    from django.conf import settings

    config = _named("ConfigMap", "fintech-config")["data"]
    beat = _pod(_named("Deployment", "fintech-beat"))["containers"][0]
    for probe in ("livenessProbe", "readinessProbe"):
        assert config["BEAT_HEARTBEAT_PATH"] in " ".join(beat[probe]["exec"]["command"])
    assert settings.BEAT_HEARTBEAT_FILE  # read by fintech/beat.py on every tick


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w["metadata"]["name"])
def test_each_component_runs_as_its_own_service_account_bound_to_its_iam_role(workload):
    component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
    account = _named("ServiceAccount", _pod(workload)["serviceAccountName"])
    assert account["metadata"]["name"] == f"fintech-{component}"
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(f"-{component}")
    # deploy/terraform/iam.tf trusts exactly this subject for the component's role.
    iam = (MANIFESTS.parents[1] / "terraform" / "iam.tf").read_text()
    assert re.search(rf"^\s+{component} = {{", iam, re.MULTILINE), component
    assert "system:serviceaccount:${var.kubernetes_namespace}:fintech-${each.key}" in iam
