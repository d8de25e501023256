#!/usr/bin/env bash
# Renders every overlay with `kubectl kustomize`, validates the output strictly against the
# Kubernetes schemas (kubernetes-validate), checks custom resources' required fields
# (deploy/check-crds.py), lints every YAML file (yamllint), checks the local Prometheus
# configuration and the alert rules (promtool: check, and the rules' unit tests; rules.py:
# written from their source, a runbook and a firing test for every alert) and the Grafana
# dashboards (deploy/grafana/check.py).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kubernetes-validate >/dev/null && command -v yamllint >/dev/null \
  || python3 -m pip install -q kubernetes-validate yamllint
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$out/$name.yaml"
  # cert-manager resources have no schema here: their required fields are checked apart.
  python3 deploy/check-crds.py "$out/$name.yaml" "$out/$name.core.yaml"
  kubernetes-validate --strict --quiet -k 1.32.0 "$out/$name.core.yaml"
  # Rendered output embeds files (the dashboards' JSON) whose lines are theirs; the sources
  # are linted with line lengths below.
  yamllint -d "{extends: .yamllint.yaml, rules: {line-length: disable}}" "$out/$name.yaml"
  echo "k8s overlay $name: $(grep -c '^kind:' "$out/$name.yaml") resources valid"
done
yamllint -c .yamllint.yaml k8s deploy .yamllint.yaml
# The plain Prometheus configuration of the local services. (deploy/prometheus/scrape.yaml
# uses Kubernetes discovery, which Debian's promtool is built without; yamllint reads it.)
promtool check config deploy/prometheus/local.yaml
deploy/prometheus/rules.py --check
deploy/grafana/dashboards.py --check
promtool check rules deploy/prometheus/antrean.rules.yaml
promtool test rules deploy/prometheus/antrean.rules.test.yaml
