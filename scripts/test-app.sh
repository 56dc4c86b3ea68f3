#!/usr/bin/env bash
# Type-checks the Django app and the soc2kit package (mypy, django-stubs), then runs the app's tests against a
# throw-away PostgreSQL on 127.0.0.1 and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
source "$(dirname "${BASH_SOURCE[0]}")/require-venv.sh"
require_venv test-app python pytest mypy
# mypy first (app/mypy.ini: the project and the soc2kit package against django-stubs), so a type error fails
# before a cluster starts. The stubs' plugin imports config.settings.test, which reads TEST_DATABASE_URL: any
# URL does, nothing connects.
echo "test-app: mypy (app/ and packages/soc2kit, django-stubs)"
(cd app && TEST_DATABASE_URL="postgres://mypy@127.0.0.1:1/mypy" "$KIT_BIN/mypy")
trap '"$ROOT/scripts/test-postgres.sh" stop' EXIT
scripts/test-postgres.sh start
# shellcheck disable=SC1091
source ".cache/test-postgres-${TEST_PG_PORT:-55432}.env"
# The soc2kit package from its source tree (releases install its wheel; see packages/soc2kit/README.md).
export PYTHONPATH="$ROOT/packages/soc2kit/src${PYTHONPATH:+:$PYTHONPATH}"
cd app
"$KIT_BIN/python" manage.py check --settings=config.settings.test
"$KIT_BIN/pytest" -c pytest.ini "$@"  # -c: also for paths under ../packages
