#!/usr/bin/env bash
# make check: pip-audit on exactly the packages of uv.lock (every group), exported without hashes.
#
# - known vulnerabilities: the check fails, naming them;
# - a package that could not be audited, or the vulnerability database out of reach: the check FAILS too (an audit
#   that did not happen must never look like a clean one), with a message saying so. On a machine without access to
#   pypi.org, `make check AUDIT_OFFLINE_OK=1` turns that case (and only that one) into a warning.
set -uo pipefail
cd "$(dirname "$0")/.."

PIP_AUDIT=${PIP_AUDIT:-.venv/bin/pip-audit}  # the tests put a stand-in here
requirements=var/requirements-audit.txt
mkdir -p var
if ! .venv/bin/uv export --frozen --no-hashes --all-groups --no-emit-project --format requirements-txt \
     --quiet -o "$requirements"; then
  echo "ERREUR : impossible d'exporter les dépendances verrouillées (uv.lock) pour l'audit." >&2
  exit 1
fi
count=$(grep -c '==' "$requirements")

output=$("$PIP_AUDIT" -r "$requirements" --no-deps --disable-pip --strict --progress-spinner off \
  --timeout 20 2>&1)
status=$?
# --no-deps is right here: the export is the complete, pinned list.
output=$(printf '%s\n' "$output" | grep -v -e '^WARNING:pip_audit._cli:--no-deps' -e 'pip-compile')

if [ "$status" -eq 0 ]; then
  echo "pip-audit : aucune vulnérabilité connue dans les $count paquets verrouillés."
  exit 0
fi
if printf '%s\n' "$output" | grep -qE '^Found [0-9]+ known vulnerabilit'; then
  printf '%s\n' "$output"
  echo "ERREUR : vulnérabilités connues dans les dépendances verrouillées (ci-dessus). Mettez à jour le paquet" \
       "(.venv/bin/uv lock --upgrade-package <nom>) puis relancez make check." >&2
  exit 1
fi
if printf '%s\n' "$output" | grep -qiE 'could not be audited|ConnectionError|Max retries|Failed to resolve|timed out'; then
  printf '%s\n' "$output" | tail -n 3
  message="la base de vulnérabilités (PyPI) est injoignable depuis cette machine : les $count paquets verrouillés n'ont PAS été audités."
  if [ "${AUDIT_OFFLINE_OK:-0}" = 1 ]; then
    echo "ATTENTION : $message (AUDIT_OFFLINE_OK=1 : make check continue sans audit)." >&2
    exit 0
  fi
  echo "ERREUR : $message Relancez avec un accès à pypi.org ; sur une machine hors ligne seulement :" \
       "make check AUDIT_OFFLINE_OK=1." >&2
  exit 1
fi
printf '%s\n' "$output"
echo "ERREUR : pip-audit a échoué (code $status)." >&2
exit "$status"
