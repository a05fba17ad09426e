#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (idempotent):
# system packages, and a Python venv with the scikit-learn reference in .venv/.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
# Java 17 for Spark in local mode and the PMML evaluator (jpmml-evaluator runs on the JVM).
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (apt-get install)" >&2
  fi
fi

# The venv is (re)made whenever scripts/requirements.txt changes (its hash is kept in .venv).
want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements-sha 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv (scikit-learn reference, pytest, DuckDB, Spark, jpmml-evaluator, maturin)" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$want" > .venv/.requirements-sha
fi
