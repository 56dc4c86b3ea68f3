#!/usr/bin/env bash
# `make deploy ENV=... WEB=...`: from nothing to a verified deployment (see scripts/kit/).
exec "$(dirname "$0")/kit.sh" deploy "$@"
