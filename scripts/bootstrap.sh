#!/usr/bin/env bash
# Installs what `make test` / `make demo` need on a fresh machine, and nothing that is there already:
#   * PostgreSQL 15 server binaries and pgTAP (apt, when running as root and they are missing)
#   * with --test (make test, make lint): pg_cron and plpgsql_check for PostgreSQL 15, Debian's
#     chromium and chromium-driver (the dashboard's browser tests; nothing downloads a browser)
#   * a virtualenv in .venv with pgflow-py installed editable, with its dev extras
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need_apt+=(postgresql-15)
ls /usr/share/postgresql/*/extension/pgtap.control >/dev/null 2>&1 || need_apt+=(postgresql-15-pgtap)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client-15)
if [ "${1:-}" = "--test" ]; then
  ls /usr/share/postgresql/*/extension/pg_cron.control >/dev/null 2>&1 || need_apt+=(postgresql-15-cron)
  ls /usr/share/postgresql/*/extension/plpgsql_check.control >/dev/null 2>&1 || need_apt+=(postgresql-15-plpgsql-check)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  [ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: missing ${need_apt[*]}; install them (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: creating .venv and installing pgflow-py[dev]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
