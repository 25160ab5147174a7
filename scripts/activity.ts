#!/usr/bin/env node
// `activity`: the platform's command line. Settings come from flags and the environment, never from activity.yml.
import { collectorCommands, collectorUsage, configLoader, environmentUsage, runCommandLine } from '../collectors/runtime/commands.ts'

/** collectors/ beside this file's folder, in the sources (scripts/activity.ts) and in the bundle (dist/scripts/activity.js) alike. */
const collectorsDir = new URL('../collectors/', import.meta.url)

const usage = `usage: activity <command>

${collectorUsage}
  render collectors [--config FILE] [--output FILE] | render env <stack>
      the collectors stack for activity.yml; the config hashes a stack file needs
  validate [--root DIR]
      check every stack, config file, rule, dashboard and image pin (needs docker, promtool, nginx)
  data backup|restore|list
      back up every store (Prometheus, Pushgateway, Grafana, Elasticsearch), restore one, list them
  logs setup
      put the access-log index template, ILM and SLM policies into Elasticsearch (idempotent)
  gitops             run the gitops service (configured by GITOPS_* variables and secrets)
  deploys [--stack S] [--json] [--remote URL | --state-dir DIR]
      every deployment attempt gitops recorded (the deploy ledger)
  rollback [--to ID|COMMIT] [--stack S]... [--unpin] [--remote URL]
      deploy again what a ledger entry deployed and pin the platform to it until the next commit
  cluster <init|start|stop|clean|remount|status|join> [--provider local|virtualbox|ssh] [--config FILE] [NODE...]
      the machines the swarm runs on, as activity.yml's cluster: section describes them

${environmentUsage}`

const loadConfig = configLoader(collectorsDir)

void runCommandLine(process.argv.slice(2), process.env, usage, {
  ...collectorCommands(collectorsDir),
  render: async (args, env) => (await import('../stacks/render.ts')).renderCommand(args, env, collectorsDir),
  validate: async (args, env) => (await import('../stacks/validate.ts')).validateCommand(args, env, collectorsDir),
  data: async (args, env) => (await import('./data/cli.ts')).dataCommand(args, env, loadConfig),
  logs: async (args, env) => (await import('./data/cli.ts')).logsCommand(args, env, loadConfig),
  cluster: async (args, env) => (await import('./cluster/cli.ts')).clusterCommand(args, env, collectorsDir),
  gitops: async (args, env) => (await import('../gitops/main.ts')).gitopsCommand(args, env, collectorsDir),
  deploys: async (args, env) => (await import('./deploys.ts')).deploysCommand(args, env),
  rollback: async (args, env) => (await import('./deploys.ts')).rollbackCommand(args, env),
}).then((code) => (process.exitCode = code))
