#!/usr/bin/env node
// `activity`: the platform's command line. Settings come from flags and the environment, never from activity.yml.
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import type { Target } from './define.ts'
import { ConfigError, UsageError, oneLine } from './errors.ts'
import { createLogger, levelFrom } from './log.ts'
import { loadCollector, loadCollectors, sourceNames } from './registry.ts'
import { runCollector } from './run.ts'
import { check as checkSchema, parse as parseSchema } from './schema.ts'

/** collectors/ next to this file's folder, in the sources (collectors/runtime/cli.ts) and in the bundle (dist/collectors/runtime/cli.js) alike. */
const collectorsDir = new URL('../', import.meta.url)

const usage = `usage: activity <command>

  collect <source> [--target T]... [--config FILE] [--stdout] [--pushgateway URL]
      run a collector once: collect every target, then push each target's group
      (--target runs without a config file; --stdout prints instead of pushing)
  sources            list the sources (collectors) this build has
  check [--config FILE]
      validate activity.yml
  render collectors [--config FILE] [--output FILE] | render env <stack>
      the collectors stack for activity.yml; the config hashes a stack file needs
  validate [--root DIR]
      check every stack, config file, rule, dashboard and image pin (needs docker, promtool, nginx)
  data backup|restore|list
      back up every store (Prometheus, Pushgateway, Grafana, Elasticsearch), restore one, list them
  logs setup
      put the access-log index template, ILM and SLM policies into Elasticsearch (idempotent)
  gitops             run the gitops service (configured by GITOPS_* variables and secrets)
  cluster <init|start|stop|clean|remount|status|join> [--provider local|virtualbox|ssh] [--config FILE] [NODE...]
      the machines the swarm runs on, as activity.yml's cluster: section describes them

environment: PUSHGATEWAY_URL, GITHUB_API_URL, GITHUB_TOKEN or GITHUB_TOKEN_FILE,
  DOCKERHUB_API_URL, ACTIVITY_CONFIG (default ./activity.yml), HTTP_TIMEOUT_SECONDS,
  HTTP_RETRIES, LOG_LEVEL`

function numberFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name]
  if (value === undefined || value === '') return undefined
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0) throw new UsageError(`${name}=${value} is not a number; unset it or give seconds/counts as digits`)
  return parsed
}

async function collect(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      target: { type: 'string', multiple: true },
      config: { type: 'string' },
      stdout: { type: 'boolean', default: false },
      pushgateway: { type: 'string' },
    },
  })
  const [source, ...extra] = positionals
  if (!source || extra.length) throw new UsageError(`collect takes one source (${sourceNames(collectorsDir).join(', ')}), e.g. activity collect github --target prometheus --stdout`)
  const pushgateway = values.stdout ? undefined : (values.pushgateway ?? env.PUSHGATEWAY_URL)
  if (!values.stdout && !pushgateway) throw new UsageError('no Pushgateway: set PUSHGATEWAY_URL or pass --pushgateway URL, or --stdout to print the metrics')

  // A run is a short batch: the optimizing compiler's background work never pays back before the process exits. Measured
  // on the fake APIs: a 60-repository GitHub owner 350 -> 280 ms CPU, a 1,000-repository one 980 -> 730 ms. V8 checks
  // this flag each time it would optimize a function, so setting it now (before any collector code runs) takes effect.
  setFlagsFromString('--no-opt')
  // Likewise the garbage collector's helper threads: for a heap of a few megabytes they cost more CPU than they save
  // (60-repository owner, interleaved runs: about 15-20 ms less CPU).
  setFlagsFromString('--single-threaded-gc')

  let targets: Target[]
  let options: unknown
  let schedule: string
  const collector = await loadCollector(collectorsDir, source)
  if (values.target?.length) {
    targets = values.target.map((raw) => {
      const parsed = checkSchema(collector.targets, raw)
      if (!parsed.ok) throw new UsageError(`--target ${raw}: ${parsed.problem.message}; e.g. --target ${collector.example}`)
      return parsed.value
    })
    options = collector.options ? parseSchema(collector.options, {}) : {}
    schedule = collector.schedule
  } else {
    const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
    const { loadConfig } = await import('./config.ts') // yaml is half the bundle: only load it for a config file
    const config = loadConfig(file, await loadCollectors(collectorsDir))
    const entry = config.sources.find((s) => s.name === source)
    if (!entry) throw new ConfigError(file, undefined, `sources.${source}`, 'is not configured', `add it under sources:, or pass --target`)
    ;({ targets, options, schedule } = entry)
  }

  const log = createLogger({ level: levelFrom(env.LOG_LEVEL) })
  const timeout = numberFrom(env, 'HTTP_TIMEOUT_SECONDS')
  const results = await runCollector(
    { collector, targets, options, schedule, pushgateway, print: (text) => process.stdout.write(text) },
    { env, log, http: { timeoutMs: timeout === undefined ? undefined : timeout * 1000, retries: numberFrom(env, 'HTTP_RETRIES') } },
  )
  const failed = results.filter((r) => !r.ok)
  for (const result of failed) process.stderr.write(`activity: ${source} ${result.target}: ${result.error}\n`)
  return failed.length ? 1 : 0
}

async function check(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } })
  const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
  const { loadConfig } = await import('./config.ts')
  const config = loadConfig(file, await loadCollectors(collectorsDir))
  process.stdout.write(`${file}: ok (${config.sources.map((s) => `${s.name}: ${s.targets.length} targets`).join(', ')})\n`)
  return 0
}

async function sources(args: string[]): Promise<number> {
  const collectors = await loadCollectors(collectorsDir)
  if (args[0] === '--json') {
    // For gitops, which checks a commit's activity.yml against the collectors of the commit's image.
    const list = [...collectors.values()].map(({ name, schedule, description, example }) => ({ name, schedule, description, example }))
    process.stdout.write(JSON.stringify(list) + '\n')
    return 0
  }
  for (const [name, collector] of collectors) {
    process.stdout.write(`${name.padEnd(12)} ${collector.schedule.padEnd(14)} ${collector.description}\n`)
  }
  return 0
}

/** activity.yml, parsed against the collectors this build has (for commands that read its other sections). */
async function configLoader(file: string) {
  return (await import('./config.ts')).loadConfig(file, await loadCollectors(collectorsDir))
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'collect':
        return await collect(rest, env)
      case 'check':
        return await check(rest, env)
      case 'sources':
        return await sources(rest)
      case 'render':
        return await (await import('../../stacks/render.ts')).renderCommand(rest, env, collectorsDir)
      case 'validate':
        return await (await import('../../stacks/validate.ts')).validateCommand(rest, env, collectorsDir)
      case 'data':
        return await (await import('../../scripts/data/cli.ts')).dataCommand(rest, env, configLoader)
      case 'logs':
        return await (await import('../../scripts/data/cli.ts')).logsCommand(rest, env, configLoader)
      case 'cluster':
        return await (await import('../../scripts/cluster/cli.ts')).clusterCommand(rest, env, collectorsDir)
      case 'gitops':
        return await (await import('../../gitops/main.ts')).gitopsCommand(rest, env, collectorsDir)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(usage + '\n')
        return command === undefined ? 2 : 0
      default:
        throw new UsageError(`unknown command '${command}'; run activity help`)
    }
  } catch (error) {
    process.stderr.write(`activity: ${oneLine(error)}\n`)
    return error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1
  }
}

void main(process.argv.slice(2), process.env).then((code) => (process.exitCode = code))
