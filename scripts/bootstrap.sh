#!/usr/bin/env bash
# Prepares a fresh Debian or Ubuntu machine for `make run` / `make test`: system libraries (through
# apt-get when run as root, otherwise the exact command to run is printed), then the Python packages of
# uv.lock in .venv. Fails early, with a clear message, when something cannot be installed.
# WITH_BROWSER=1 also installs Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
WITH_BROWSER=${WITH_BROWSER:-0}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mERREUR : %s\033[0m\n' "$*" >&2; exit 1; }

# --- Python 3.11 or 3.12 -------------------------------------------------------------------------
PYTHON=""
for candidate in "${PYTHON_BIN:-}" python3.11 python3.12 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
    PYTHON=$(command -v "$candidate"); break
  fi
done

# --- system packages -------------------------------------------------------------------------------
missing=()
[ -n "$PYTHON" ] || missing+=(python3 python3-venv)
if [ -n "$PYTHON" ] && ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
have_lib 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
have_lib 'libharfbuzz-subset.so.0' || missing+=(libharfbuzz-subset0)
{ command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi dejavu; } || missing+=(fontconfig fonts-dejavu-core)
if [ "$WITH_BROWSER" = 1 ] && [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
# axe-core for the accessibility browser tests comes from npm (tests/e2e/package-lock.json).
if [ "$WITH_BROWSER" = 1 ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installation des paquets système : ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive bash -c "$cmd" >/tmp/cv-apt.log 2>&1 \
      || die "apt-get a échoué (journal : /tmp/cv-apt.log). Commande : $cmd"
  else
    die "paquets système manquants : ${missing[*]}
Installez-les puis relancez :  sudo $cmd"
  fi
  [ -n "$PYTHON" ] || PYTHON=$(command -v python3)
fi
[ -n "$PYTHON" ] || die "Python 3.11 ou 3.12 est introuvable (python3.11, python3.12 ou python3)."

# --- .venv and the locked Python packages ------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "Création de l'environnement virtuel .venv ($("$PYTHON" --version))"
  "$PYTHON" -m venv .venv || die "impossible de créer .venv avec $PYTHON"
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  say "Installation de uv $UV_VERSION"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
    || die "impossible d'installer uv depuis PyPI"
fi
# --inexact keeps pip and uv themselves in .venv; --frozen installs exactly uv.lock.
UV_PYTHON_DOWNLOADS=never VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv sync --frozen --inexact --quiet \
  || die "installation des dépendances Python (uv sync) impossible"
mkdir -p var

# --- axe-core for the browser tests (npm, exactly tests/e2e/package-lock.json; never fetched at test time) -------
if [ "$WITH_BROWSER" = 1 ]; then
  if [ ! -f tests/e2e/node_modules/.package-lock.json ] \
     || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    say "Installation d'axe-core pour les tests d'accessibilité (npm ci, tests/e2e)"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) \
      || die "npm ci dans tests/e2e a échoué : axe-core est nécessaire aux tests d'accessibilité"
  fi
fi
