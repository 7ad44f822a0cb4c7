#!/usr/bin/env bash
# deploy/kubernetes/ validated offline against the Kubernetes and prometheus-operator schemas by
# npm's kubernetes-models and @kubernetes-models/prometheus-operator (pinned in
# tests/kubernetes/package.json and its lock file), plus the sidecar's contract and the
# PrometheusRule held equal to deploy/prometheus/alerts.yml (tests/kubernetes/validate.test.mjs).
# Needs Node 20+ and npm; installs the pinned packages on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need_npm
echo "--- npm ci (tests/kubernetes: kubernetes-models, @kubernetes-models/prometheus-operator)"
(cd tests/kubernetes && npm ci --no-audit --no-fund --loglevel=error)
echo "--- Kubernetes manifests (deploy/kubernetes)"
node tests/kubernetes/validate.mjs
node --test tests/kubernetes/
