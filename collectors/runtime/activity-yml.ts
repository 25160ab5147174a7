// activity.yml: what to watch. Parsed at the boundary into typed sources; every problem names file, line, field and fix.
import { readFileSync } from 'node:fs'
import { Cron } from 'croner'
import { LineCounter, parseDocument, isMap, isNode, type Document } from 'yaml'
import * as v from 'valibot'
import { parseAlerts, type AlertsConfig } from './activity-yml-alerts.ts'
import { parseCluster, type ClusterConfig, type Provider } from './activity-yml-cluster.ts'
import { parseProjects, type ProjectsConfig } from './activity-yml-projects.ts'
import type { AnyCollector, Target } from './define.ts'
import { ConfigError } from './errors.ts'
import { allowedFor, check, problemOf, type Path, type Problem, type Schema } from './schema.ts'

export interface SourceConfig {
  name: string
  collector: AnyCollector
  schedule: string
  /** Cron (UTC) of the source's history job (`activity history`), for a collector that has history. */
  historySchedule: string
  targets: Target[]
  options: unknown
}

export interface PlatformConfig {
  /** Hostnames of the UIs hang under it: grafana.<domain>, ... */
  domain: string
}

/** How long the platform keeps metrics, and where long-term history goes. */
export interface MetricsConfig {
  /** Prometheus --storage.tsdb.retention.time, e.g. 1y, 90d. */
  retention: string
  /** Prometheus --storage.tsdb.retention.size, e.g. 50GB; undefined keeps by time only. */
  retentionSize: string | undefined
  /** VictoriaMetrics as remote_write long-term storage, with its own retention. */
  longTerm: { enabled: boolean; retention: string }
}

/** The nginx access logs in Elasticsearch. */
export interface LogsConfig {
  /** Weekly indices are deleted once all their documents are older than this, e.g. 8w. */
  retention: string
  /** Elasticsearch nodes: 1, or 3 with discovery across Swarm tasks. */
  nodes: 1 | 3
}

/** Scheduled backups of every store (activity data backup). */
export interface BackupConfig {
  /** The last N backups are kept; older ones are deleted after each successful backup. */
  keep: number
  /** Cron (UTC) of the backup job. */
  schedule: string
  /** A backup is a folder, or one archive file. */
  archive: 'none' | 'tar.gz' | 'tar.zst'
}

export interface ActivityConfig {
  file: string
  platform: PlatformConfig
  sources: SourceConfig[]
  metrics: MetricsConfig
  logs: LogsConfig
  backup: BackupConfig
  /** The machines the swarm runs on (activity cluster); the local engine when the section is absent. */
  cluster: ClusterConfig
  /** Who hears about alerts (Alertmanager's receivers), routed by severity. */
  alerts: AlertsConfig
  /** The projects: section; each target it names carries `project` (the label of its series). */
  projects: ProjectsConfig
  /**
   * The line of each platform:, metrics:, logs: and backup: setting the file writes, by its path ('metrics.retention');
   * a setting absent here takes its default. Lets a deploy tell a value written from a default, and name its line.
   */
  written: Record<string, number>
}

export interface ParseOptions {
  /** --provider of activity cluster: the cluster section is read for this provider instead of its own. */
  provider?: Provider
}

const platformSchema = v.optional(
  v.strictObject({
    domain: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9.-]+$/i, 'must be a DNS name such as localhost or activity.example.org')), 'localhost'),
  }),
  {},
)

/** A duration in whole hours, days, weeks or years: what Prometheus, VictoriaMetrics and activity all read the same way. */
const duration = (example: string) => v.pipe(v.string(`expected a duration such as ${example}`), v.regex(/^[1-9][0-9]*(h|d|w|y)$/, `must be a number and a unit (h, d, w or y), e.g. ${example}`))

const metricsSchema = v.optional(
  v.strictObject({
    retention: v.optional(duration('1y'), '1y'),
    retentionSize: v.optional(v.pipe(v.string('expected a size such as 50GB'), v.regex(/^[1-9][0-9]*(KB|MB|GB|TB|PB)$/, 'must be a number and a unit (KB, MB, GB, TB or PB), e.g. 50GB'))),
    longTerm: v.optional(
      v.strictObject({
        enabled: v.optional(v.boolean(), false),
        retention: v.optional(duration('5y'), '5y'),
      }),
      {},
    ),
  }),
  {},
)

const logsSchema = v.optional(
  v.strictObject({
    retention: v.optional(duration('8w'), '8w'),
    nodes: v.optional(v.picklist([1, 3], 'must be 1 or 3 (Elasticsearch needs a majority of 3 to survive losing a node)'), 1),
  }),
  {},
)

const backupSchema = v.optional(
  v.strictObject({
    keep: v.optional(v.pipe(v.number('expected a whole number'), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1')), 7),
    schedule: v.optional(v.string(), '0 3 * * *'),
    archive: v.optional(v.picklist(['none', 'tar.gz', 'tar.zst'], 'must be none, tar.gz or tar.zst'), 'none'),
  }),
  {},
)

/** Sections after sources: each parsed on its own, so its errors name its own allowed fields. */
const sections = { metrics: metricsSchema, logs: logsSchema, backup: backupSchema } as const

const topSchema = v.strictObject({
  platform: platformSchema,
  sources: v.record(v.string(), v.unknown()),
  metrics: v.optional(v.unknown()),
  logs: v.optional(v.unknown()),
  backup: v.optional(v.unknown()),
  cluster: v.optional(v.unknown()),
  alerts: v.optional(v.unknown()),
  projects: v.optional(v.unknown()),
})

/** The history jobs run daily, after the 03:00 backup: each run continues the backfill, then keeps it up to date. */
export const defaultHistorySchedule = '30 4 * * *'

const sourceSchema = v.strictObject({
  schedule: v.optional(v.string()),
  historySchedule: v.optional(v.string()),
  targets: v.pipe(v.array(v.unknown()), v.minLength(1, 'is empty')),
  options: v.optional(v.unknown()),
})

function fieldName(path: Path): string {
  return path.reduce<string>((name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${key}` : key), '') || '(top level)'
}

/** Explains a cron pattern's problem, or undefined when croner accepts it. */
export function cronProblem(pattern: string): string | undefined {
  try {
    new Cron(pattern, { paused: true }).stop()
    return undefined
  } catch (error) {
    return (error as Error).message.replace(/^CronPattern: /, '')
  }
}

class Located {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  /** The line of the node at path, or of its nearest existing parent. */
  lineOf(path: Path, key = false): number | undefined {
    for (let depth = path.length; depth >= 0; depth--) {
      const prefix = path.slice(0, depth)
      const node = prefix.length ? this.doc.getIn(prefix, true) : this.doc.contents
      let offset: number | undefined
      if (key && depth === path.length && depth > 0) {
        const parent = depth > 1 ? this.doc.getIn(path.slice(0, -1), true) : this.doc.contents
        if (isMap(parent)) {
          const pair = parent.items.find((item) => isNode(item.key) && (item.key as { value?: unknown }).value === path[depth - 1])
          if (pair && isNode(pair.key)) offset = pair.key.range?.[0]
        }
      }
      if (offset === undefined && isNode(node)) offset = node.range?.[0]
      if (offset !== undefined) return this.lines.linePos(offset).line
    }
    return undefined
  }

  error(path: Path, problem: string, fix?: string, key = false): ConfigError {
    return new ConfigError(this.file, this.lineOf(path, key), fieldName(path), problem, fix)
  }

  /** The ConfigError for a schema's problem with the value at `base`. */
  fromProblem(base: Path, problem: Problem, fix?: string): ConfigError {
    const path = [...base, ...problem.path]
    if (problem.unknown) return this.error(path, 'unknown field', fix ?? 'remove it or check its spelling', true)
    if (problem.missing) return this.error(path, 'is missing', fix)
    return this.error(path, problem.message, fix)
  }
}

/** The settings of platform:, metrics:, logs: and backup: that the file writes, each with the line of its key. */
function writtenSettings(at: Located, raw: Record<string, unknown>): Record<string, number> {
  const written: Record<string, number> = {}
  const walk = (value: unknown, path: string[]): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key])
    } else if (value !== null && value !== undefined) written[path.join('.')] = at.lineOf(path, true) ?? 0
  }
  for (const section of ['platform', 'metrics', 'logs', 'backup']) walk(raw[section], [section])
  return written
}

function parseSection<K extends keyof typeof sections>(at: Located, name: K, value: unknown): v.InferOutput<(typeof sections)[K]> {
  const schema: Schema<v.InferOutput<(typeof sections)[K]>> = sections[name]
  const parsed = check(schema, value ?? undefined)
  if (parsed.ok) return parsed.value as v.InferOutput<(typeof sections)[K]>
  const { problem } = parsed
  const fix = problem.unknown ? allowedFor(schema, problem) : undefined
  throw at.fromProblem([name], problem, fix)
}

/**
 * Parses activity.yml text against the collectors that exist. Throws the first ConfigError in file order.
 * `collectors` maps source names to their collector.
 */
export function parseConfig(text: string, file: string, collectors: Map<string, AnyCollector>, options: ParseOptions = {}): ActivityConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true })
  if (doc.errors.length) {
    const first = doc.errors[0]!
    const line = first.linePos?.[0]?.line
    throw new ConfigError(file, line, '(yaml)', first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), 'fix the YAML syntax')
  }
  const at = new Located(file, doc, lines)
  const raw = doc.toJS() ?? {}
  if (typeof raw !== 'object' || Array.isArray(raw)) throw at.error([], 'must be a mapping with a sources: section', 'see the example activity.yml in the README')

  const top = v.safeParse(topSchema, raw)
  if (!top.success) {
    const errors = top.issues.map((issue) => {
      const problem = problemOf(issue)
      const fix = problem.unknown ? allowedFor(topSchema, problem) : problem.path[0] === 'sources' ? 'add sources: with at least one source, e.g. github' : undefined
      return { unknown: problem.unknown, error: at.fromProblem([], problem, fix) }
    })
    // A misspelt key usually explains the missing one, so it is named first.
    errors.sort((a, b) => Number(b.unknown) - Number(a.unknown) || (a.error.line ?? 0) - (b.error.line ?? 0))
    throw errors[0]!.error
  }

  const known = [...collectors.keys()].join(', ')
  const sources: SourceConfig[] = []
  for (const [name, entry] of Object.entries(top.output.sources)) {
    const collector = collectors.get(name)
    if (!collector) throw at.error(['sources', name], `unknown source '${name}'`, `known sources: ${known}`, true)
    const parsed = check(sourceSchema, entry ?? {})
    if (!parsed.ok) {
      const { problem } = parsed
      const fix = problem.unknown ? allowedFor(sourceSchema, problem) : problem.path[0] === 'targets' ? `list what to watch, e.g. targets: [${collector.example}]` : undefined
      throw at.fromProblem(['sources', name], problem, fix)
    }
    const source = parsed.value
    const schedule = source.schedule ?? collector.schedule
    const cron = cronProblem(schedule)
    if (cron) throw at.error(['sources', name, 'schedule'], `'${schedule}' is not a cron schedule (${cron})`, "use five fields, e.g. '0 * * * *' for hourly")
    const historySchedule = source.historySchedule ?? defaultHistorySchedule
    if (source.historySchedule !== undefined && !collector.history) {
      throw at.error(['sources', name, 'historySchedule'], `${name} has no history to schedule`, 'remove historySchedule', true)
    }
    const historyCron = cronProblem(historySchedule)
    if (historyCron) throw at.error(['sources', name, 'historySchedule'], `'${historySchedule}' is not a cron schedule (${historyCron})`, "use five fields, e.g. '30 4 * * *' for daily at 04:30 UTC")

    const targets: Target[] = []
    const seen = new Map<string, number>()
    source.targets.forEach((rawTarget, index) => {
      const target = check(collector.targets, rawTarget)
      if (!target.ok) throw at.fromProblem(['sources', name, 'targets', index], target.problem, `e.g. ${collector.example}`)
      const first = seen.get(target.value.id)
      if (first !== undefined) {
        throw at.error(['sources', name, 'targets', index], `duplicate target '${target.value.id}' (also at targets[${first}])`, 'remove one of them')
      }
      seen.set(target.value.id, index)
      targets.push(target.value)
    })

    let options: unknown = source.options ?? {}
    if (collector.options) {
      const checked = check(collector.options, options)
      if (!checked.ok) throw at.fromProblem(['sources', name, 'options'], checked.problem, allowedFor(collector.options, checked.problem) || undefined)
      options = checked.value
    }
    sources.push({ name, collector, schedule, historySchedule, targets, options })
  }

  const metrics = parseSection(at, 'metrics', top.output.metrics)
  const logs = parseSection(at, 'logs', top.output.logs)
  const backup = parseSection(at, 'backup', top.output.backup)
  const backupCron = cronProblem(backup.schedule)
  if (backupCron) throw at.error(['backup', 'schedule'], `'${backup.schedule}' is not a cron schedule (${backupCron})`, "use five fields, e.g. '0 3 * * *' for daily at 03:00 UTC")
  const cluster = parseCluster(at, top.output.cluster, options.provider)
  const alerts = parseAlerts(at, top.output.alerts)
  const projects = parseProjects(at, top.output.projects, sources)
  return {
    file,
    platform: top.output.platform,
    sources,
    metrics: { retention: metrics.retention, retentionSize: metrics.retentionSize, longTerm: metrics.longTerm },
    logs: { retention: logs.retention, nodes: logs.nodes },
    backup,
    cluster,
    alerts,
    projects,
    written: writtenSettings(at, raw as Record<string, unknown>),
  }
}

export function loadConfig(file: string, collectors: Map<string, AnyCollector>, options: ParseOptions = {}): ActivityConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ConfigError(file, undefined, '(file)', code === 'ENOENT' ? 'not found' : `cannot be read (${code})`, 'pass --config FILE, or run from the folder holding activity.yml')
  }
  return parseConfig(text, file, collectors, options)
}
