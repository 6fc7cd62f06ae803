#!/usr/bin/env bash
# Installs what Cashier needs from Debian when it is missing: librdkafka (headers + library),
# kcat (an independent Kafka client, used in tests), the Postgres server, and openssl (an
# independent RSA implementation the signing tests check against), and python3's yaml and
# jsonschema (the contract and manifest checks), and the validators of Deploy/: promtool
# (Debian's prometheus package: the alert rules) and kubernetes-validate (PyPI: the Kubernetes
# schemas). Idempotent; quick when everything is there.
set -euo pipefail

missing=()
pkg-config --exists rdkafka 2>/dev/null || missing+=(librdkafka-dev)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The contract and manifest checks (scripts/check-contracts.py, scripts/check-deploy.py).
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
python3 -c 'import jsonschema' 2>/dev/null || missing+=(python3-jsonschema)
# promtool checks Deploy/monitoring's alert rules (scripts/check-deploy.py). The package also
# holds the Prometheus server; without an init system its service is not started.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-validate: Deploy/kubernetes against the real Kubernetes schemas (its schemas include
# the version scripts/check-deploy.py validates against). For the python3 that runs the checks.
kubernetes_validate="kubernetes-validate==1.37.0"
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing $kubernetes_validate from PyPI" >&2
  pip=(python3 -m pip install --quiet --disable-pip-version-check "$kubernetes_validate")
  # Debian's own python3 refuses pip outside a virtual environment unless told otherwise.
  "${pip[@]}" 2>/dev/null || "${pip[@]}" --break-system-packages
fi

command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH; install the Swift 6 toolchain" >&2; exit 1; }
