"""Drift guards for the Helm chart (no helm binary here to render it): every
setting the chart passes is one the worker reads, and the values file parses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.settings import Settings

CHART = Path(__file__).resolve().parents[2] / "helm" / "nightline"


def _env_names() -> set[str]:
    template = "".join(
        (CHART / "templates" / name).read_text()
        for name in ("deployment.yaml", "api-deployment.yaml")
    )
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    names = set(re.findall(r"name: (NIGHTLINE_[A-Z0-9_]+)", template))
    return names | {k for k in values["settings"] if k.startswith("NIGHTLINE_")}


def test_every_setting_the_chart_sets_exists() -> None:
    known = {f"NIGHTLINE_{name.upper()}" for name in Settings.model_fields}
    names = _env_names()
    assert "NIGHTLINE_APNS_KEY_FILE" in names and "NIGHTLINE_VAULT_KEY" in names
    assert names - known == set()


def test_the_chart_sends_through_the_providers_with_secrets_from_files() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["push"]["gateway"] == "providers"
    template = (CHART / "templates" / "deployment.yaml").read_text()
    assert "secretName: {{ .Values.push.apns.keySecret.name }}" in template
    assert "readOnly: true" in template


def test_liveness_probes_progress_and_readiness_probes_consumption() -> None:
    template = (CHART / "templates" / "deployment.yaml").read_text()
    assert re.search(r"livenessProbe:\n\s+httpGet: \{ path: /healthz, port: http \}", template)
    assert re.search(r"readinessProbe:\n\s+httpGet: \{ path: /readyz, port: http \}", template)


def test_the_api_runs_apart_from_the_workers_and_only_v1_is_exposed() -> None:
    api = (CHART / "templates" / "api-deployment.yaml").read_text()
    worker = (CHART / "templates" / "deployment.yaml").read_text()
    assert 'args: ["nightline", "api"]' in api
    assert "app.kubernetes.io/component: api" in api
    assert "app.kubernetes.io/component: worker" in worker  # selectors do not overlap
    assert '{ name: NIGHTLINE_API_TLS, value: "off" }' in api  # TLS ends at the ingress
    assert re.search(r"readinessProbe:\n\s+httpGet: \{ path: /readyz, port: http \}", api)
    assert "- path: /v1\n" in api and "/metrics" not in api.split("kind: Ingress")[1]
