#!/bin/sh
# Upstream's entrypoint contract: before nginx starts, run the executable scripts in /docker-entrypoint.d, then exec the command.
set -e
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for script in /docker-entrypoint.d/*.sh; do
    [ -x "$script" ] || continue
    echo "$0: running $script"
    "$script"
  done
fi
exec "$@"
