#!/bin/sh
# Upstream's entrypoint contract: a configuration file as the only argument means `registry serve FILE`; registry subcommands get the binary in front.
set -e
case "$1" in
  *.yaml|*.yml) set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
