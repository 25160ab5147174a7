#!/bin/sh
# Upstream's entrypoint contract: options or a script file alone run under node; anything else is a command.
set -e
if [ "${1#-}" != "$1" ] || { [ -f "$1" ] && [ ! -x "$1" ]; }; then set -- node "$@"; fi
exec "$@"
