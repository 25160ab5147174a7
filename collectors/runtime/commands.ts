// The collectors' own commands (collect, sources, check) and the edge every `activity` entry point shares: one
// command by name, and any error as one line on stderr with the exit code its kind decides.
import { parseArgs } from 'node:util'
import type { Target } from './define.ts'
import { ConfigError, UsageError, exitCodeOf, oneLine } from './errors.ts'
import { createLogger, levelFrom } from './log.ts'
import { loadCollector, loadCollectors, sourceNames } from './registry.ts'
import { runHistory } from './history-run.ts'
import { createOpenMetricsDocument } from './openmetrics.ts'
import { runCollector, type TargetResult } from './run.ts'
import { check as checkSchema, parse as parseSchema } from './schema.ts'

/** One subcommand: its arguments after the command name, and the environment. */
export type Command = (args: string[], env: NodeJS.ProcessEnv) => Promise<number>

export const collectorUsage = `  collect <source> [--target T]... [--config FILE] [--stdout] [--pushgateway URL] [--prometheus URL]
      run a collector once: collect every target, then push each target's group
      (--target runs without a config file; --stdout prints instead of pushing)
  history <source> [--target T]... [--config FILE] [--since DAY] [--openmetrics] [--prometheus URL]
      write each target's past (one sample per day) into the metrics Prometheus, continuing
      where the last run stopped; --openmetrics prints it as OpenMetrics text instead
  sources            list the sources (collectors) this build has
  check [--config FILE]
      validate activity.yml`

export const environmentUsage = `environment: PUSHGATEWAY_URL, METRICS_PROMETHEUS_URL, HISTORY_MAX_SAMPLES, GITHUB_API_URL, GITHUB_TOKEN or GITHUB_TOKEN_FILE,
  DOCKERHUB_API_URL, NPM_API_URL, PYPISTATS_API_URL, CRATES_API_URL, CRATES_USER_AGENT,
  ACTIVITY_CONFIG (default ./activity.yml), HTTP_TIMEOUT_SECONDS, HTTP_RETRIES,
  <SOURCE>_MAX_WAIT_SECONDS (GITHUB_, DOCKERHUB_, NPM_, PYPI_, CRATES_: the longest
  rate-limit wait, 0 to 3600 seconds, default 900), LOG_LEVEL`

function numberFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name]
  if (value === undefined || value === '') return undefined
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0) throw new UsageError(`${name}=${value} is not a number; unset it or give seconds/counts as digits`)
  return parsed
}

/** The targets of a run: --target values (no config file needed), else the source's entry in activity.yml. */
async function runTargets(collectorsDir: URL, source: string, values: { target?: string[]; config?: string }, env: NodeJS.ProcessEnv) {
  const collector = await loadCollector(collectorsDir, source)
  if (values.target?.length) {
    const targets: Target[] = values.target.map((raw) => {
      const parsed = checkSchema(collector.targets, raw)
      if (!parsed.ok) throw new UsageError(`--target ${raw}: ${parsed.problem.message}; e.g. --target ${collector.example}`)
      return parsed.value
    })
    const options: unknown = collector.options ? parseSchema(collector.options, {}) : {}
    return { collector, targets, options, schedule: collector.schedule }
  }
  const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
  const { loadConfig } = await import('./activity-yml.ts') // yaml is half the bundle: only load it for a config file
  const config = loadConfig(file, await loadCollectors(collectorsDir))
  const entry = config.sources.find((s) => s.name === source)
  if (!entry) throw new ConfigError(file, undefined, `sources.${source}`, 'is not configured', `add it under sources:, or pass --target`)
  return { collector, targets: entry.targets, options: entry.options, schedule: entry.schedule }
}

function runSettings(env: NodeJS.ProcessEnv) {
  const log = createLogger({ level: levelFrom(env.LOG_LEVEL) })
  const timeout = numberFrom(env, 'HTTP_TIMEOUT_SECONDS')
  return { env, log, http: { timeoutMs: timeout === undefined ? undefined : timeout * 1000, retries: numberFrom(env, 'HTTP_RETRIES') } }
}

function reportFailures(source: string, results: TargetResult[]): number {
  const failed = results.filter((r) => !r.ok)
  for (const result of failed) process.stderr.write(`activity: ${source} ${result.target}: ${result.error}\n`)
  return failed.length ? 1 : 0
}

/** A base URL setting, from its flag or else its variable, checked: http(s) and nothing after the host but a path. */
function urlSetting(flagValue: string | undefined, flag: string, env: NodeJS.ProcessEnv, variable: string): string | undefined {
  const value = flagValue ?? env[variable]
  const name = flagValue ? flag : variable
  if (value === undefined || value === '') return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`${name}=${value} is not a URL; give one such as http://tasks.metrics_prometheus:9090`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${name}=${value} is not an http(s) URL; give one such as http://tasks.metrics_prometheus:9090`)
  return value
}

/** What runTargets reads: the targets given on the command line (else activity.yml's for the source), and which activity.yml. */
const targetOptions = {
  target: { type: 'string', multiple: true },
  config: { type: 'string' },
} as const

/** The one source a command runs; none or more is a usage error that lists the sources and shows `example`. */
function oneSource(collectorsDir: URL, command: string, positionals: string[], example: string): string {
  const [source, ...extra] = positionals
  if (!source || extra.length) throw new UsageError(`${command} takes one source (${sourceNames(collectorsDir).join(', ')}), e.g. ${example}`)
  return source
}

async function collect(collectorsDir: URL, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...targetOptions,
      stdout: { type: 'boolean', default: false },
      pushgateway: { type: 'string' },
      prometheus: { type: 'string' },
    },
  })
  const source = oneSource(collectorsDir, 'collect', positionals, 'activity collect github --target prometheus --stdout')
  const pushgateway = values.stdout ? undefined : (values.pushgateway ?? env.PUSHGATEWAY_URL)
  if (!values.stdout && !pushgateway) throw new UsageError('no Pushgateway: set PUSHGATEWAY_URL or pass --pushgateway URL, or --stdout to print the metrics')
  // Samples with their own timestamps go to the metrics Prometheus when it is named; --stdout prints them too.
  const prometheus = values.stdout ? undefined : urlSetting(values.prometheus, '--prometheus', env, 'METRICS_PROMETHEUS_URL')
  const { collector, targets, options, schedule } = await runTargets(collectorsDir, source, values, env)
  const results = await runCollector({ collector, targets, options, schedule, pushgateway, prometheus, print: (text) => process.stdout.write(text) }, runSettings(env))
  return reportFailures(source, results)
}

/** --since: a day (2020-01-31) or an ISO time, as Unix seconds. */
function sinceFrom(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value) : Number.NaN
  if (!Number.isFinite(ms)) throw new UsageError(`--since ${value} is not a date; give a day such as 2020-01-31 (UTC) or an ISO time`)
  return ms / 1000
}

async function history(collectorsDir: URL, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...targetOptions,
      since: { type: 'string' },
      openmetrics: { type: 'boolean', default: false },
      prometheus: { type: 'string' },
      pushgateway: { type: 'string' },
    },
  })
  const source = oneSource(collectorsDir, 'history', positionals, 'activity history github --target prometheus/prometheus --openmetrics')
  const since = sinceFrom(values.since)
  const prometheus = values.openmetrics ? undefined : urlSetting(values.prometheus, '--prometheus', env, 'METRICS_PROMETHEUS_URL')
  if (!values.openmetrics && !prometheus) {
    throw new UsageError('no metrics Prometheus: set METRICS_PROMETHEUS_URL or pass --prometheus URL (in the swarm: http://tasks.metrics_prometheus:9090), or --openmetrics to print the history')
  }
  const pushgateway = values.openmetrics ? undefined : urlSetting(values.pushgateway, '--pushgateway', env, 'PUSHGATEWAY_URL')
  const { collector, targets, options, schedule } = await runTargets(collectorsDir, source, values, env)
  if (!collector.history) {
    const withHistory = [...(await loadCollectors(collectorsDir)).values()].filter((c) => c.history).map((c) => c.name)
    throw new UsageError(`${source} has no history to write; sources with history: ${withHistory.join(', ') || 'none in this build'}`)
  }
  const document = values.openmetrics ? createOpenMetricsDocument() : undefined
  const maxSamples = numberFrom(env, 'HISTORY_MAX_SAMPLES')
  if (maxSamples !== undefined && (!Number.isInteger(maxSamples) || maxSamples < 1)) throw new UsageError(`HISTORY_MAX_SAMPLES=${env.HISTORY_MAX_SAMPLES} is not a whole number of samples; unset it (1000000) or give one such as 500000`)
  const results = await runHistory({ collector, targets, options, schedule: historySchedule(env, schedule), since, prometheus, document, pushgateway, maxSamples }, runSettings(env))
  if (document) process.stdout.write(document.finish())
  return reportFailures(source, results)
}

/** The history job's schedule, for its health (HISTORY_SCHEDULE, set by the collectors stack), else the source's. */
function historySchedule(env: NodeJS.ProcessEnv, fallback: string): string {
  return env.HISTORY_SCHEDULE || fallback
}

async function check(collectorsDir: URL, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } })
  const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
  const { loadConfig } = await import('./activity-yml.ts')
  const config = loadConfig(file, await loadCollectors(collectorsDir))
  process.stdout.write(`${file}: ok (${config.sources.map((s) => `${s.name}: ${s.targets.length} targets`).join(', ')})\n`)
  return 0
}

async function sources(collectorsDir: URL, args: string[]): Promise<number> {
  const collectors = await loadCollectors(collectorsDir)
  if (args[0] === '--json') {
    // For gitops, which checks a commit's activity.yml against the collectors of the commit's image.
    const list = [...collectors.values()].map(({ name, schedule, description, example, history }) => ({ name, schedule, description, example, history: Boolean(history) }))
    process.stdout.write(JSON.stringify(list) + '\n')
    return 0
  }
  for (const [name, collector] of collectors) {
    process.stdout.write(`${name.padEnd(12)} ${collector.schedule.padEnd(14)} ${collector.description}\n`)
  }
  return 0
}

/** collect, history, check and sources, for the collectors found in `collectorsDir`. */
export function collectorCommands(collectorsDir: URL): Record<string, Command> {
  return {
    collect: (args, env) => collect(collectorsDir, args, env),
    history: (args, env) => history(collectorsDir, args, env),
    check: (args, env) => check(collectorsDir, args, env),
    sources: (args) => sources(collectorsDir, args),
  }
}

/** activity.yml, parsed against the collectors found in `collectorsDir` (for commands that read its other sections). */
export function configLoader(collectorsDir: URL) {
  return async (file: string) => (await import('./activity-yml.ts')).loadConfig(file, await loadCollectors(collectorsDir))
}

/** Runs `argv`'s command from `commands`; prints `usage` for help, and any error as one line. Returns the exit code. */
export async function runCommandLine(argv: string[], env: NodeJS.ProcessEnv, usage: string, commands: Record<string, Command>): Promise<number> {
  const [command, ...rest] = argv
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(usage + '\n')
      return command === undefined ? 2 : 0
    }
    const run = Object.hasOwn(commands, command) ? commands[command] : undefined
    if (!run) throw new UsageError(`unknown command '${command}'; run activity help`)
    return await run(rest, env)
  } catch (error) {
    process.stderr.write(`activity: ${oneLine(error)}\n`)
    return exitCodeOf(error)
  }
}
