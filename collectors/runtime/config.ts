// activity.yml: what to watch. Parsed at the boundary into typed sources; every problem names file, line, field and fix.
import { readFileSync } from 'node:fs'
import { Cron } from 'croner'
import { LineCounter, parseDocument, isMap, isNode, type Document } from 'yaml'
import { z } from 'zod'
import { parseCluster, type ClusterConfig, type Provider } from './cluster-config.ts'
import type { AnyCollector, Target } from './define.ts'
import { ConfigError } from './errors.ts'

export interface SourceConfig {
  name: string
  collector: AnyCollector
  schedule: string
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
}

export interface ParseOptions {
  /** --provider of activity cluster: the cluster section is read for this provider instead of its own. */
  provider?: Provider
}

const platformSchema = z
  .object({
    domain: z.string().regex(/^[a-z0-9.-]+$/i, 'must be a DNS name such as localhost or activity.example.org').default('localhost'),
  })
  .strict()
  .default({})

/** A duration in whole hours, days, weeks or years: what Prometheus, VictoriaMetrics and activity all read the same way. */
const duration = (example: string) => z.string({ invalid_type_error: `expected a duration such as ${example}` }).regex(/^[1-9][0-9]*(h|d|w|y)$/, `must be a number and a unit (h, d, w or y), e.g. ${example}`)

const metricsSchema = z
  .object({
    retention: duration('1y').default('1y'),
    retentionSize: z
      .string({ invalid_type_error: 'expected a size such as 50GB' })
      .regex(/^[1-9][0-9]*(KB|MB|GB|TB|PB)$/, 'must be a number and a unit (KB, MB, GB, TB or PB), e.g. 50GB')
      .optional(),
    longTerm: z
      .object({
        enabled: z.boolean().default(false),
        retention: duration('5y').default('5y'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({})

const logsSchema = z
  .object({
    retention: duration('8w').default('8w'),
    nodes: z.union([z.literal(1), z.literal(3)], { errorMap: () => ({ message: 'must be 1 or 3 (Elasticsearch needs a majority of 3 to survive losing a node)' }) }).default(1),
  })
  .strict()
  .default({})

const backupSchema = z
  .object({
    keep: z.number({ invalid_type_error: 'expected a whole number' }).int('must be a whole number').min(1, 'must be at least 1').default(7),
    schedule: z.string().default('0 3 * * *'),
    archive: z.enum(['none', 'tar.gz', 'tar.zst'], { errorMap: () => ({ message: 'must be none, tar.gz or tar.zst' }) }).default('none'),
  })
  .strict()
  .default({})

/** Sections after sources: each parsed on its own, so its errors name its own allowed fields. */
const sections = { metrics: metricsSchema, logs: logsSchema, backup: backupSchema } as const

const topSchema = z
  .object({
    platform: platformSchema,
    sources: z.record(z.unknown(), { required_error: 'is missing' }),
    metrics: z.unknown(),
    logs: z.unknown(),
    backup: z.unknown(),
    cluster: z.unknown(),
  })
  .strict()

const sourceSchema = z
  .object({
    schedule: z.string().optional(),
    targets: z.array(z.unknown(), { required_error: 'is missing' }).min(1, 'is empty'),
    options: z.unknown().optional(),
  })
  .strict()

type Path = (string | number)[]

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

  fromZod(base: Path, issue: z.ZodIssue, fix?: string): ConfigError {
    const path = [...base, ...issue.path]
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!
      return this.error([...path, key], 'unknown field', fix ?? 'remove it or check its spelling', true)
    }
    if (issue.code === 'invalid_type' && issue.received === 'undefined') return this.error(path, 'is missing', fix)
    return this.error(path, issue.message.replace(/^Expected /, 'expected '), fix)
  }
}

function allowedKeys(schema: z.ZodTypeAny): string {
  const inner = schema instanceof z.ZodDefault ? schema._def.innerType : schema
  return inner instanceof z.ZodObject ? `allowed: ${Object.keys(inner.shape).join(', ')}` : ''
}

/** The schema at a path inside a section (for the allowed fields of a nested mapping). */
function schemaAt(schema: z.ZodTypeAny, path: Path): z.ZodTypeAny {
  let current = schema
  for (const key of path) {
    while (current instanceof z.ZodDefault || current instanceof z.ZodOptional) current = current instanceof z.ZodDefault ? current._def.innerType : current.unwrap()
    if (!(current instanceof z.ZodObject) || typeof key !== 'string' || !(key in current.shape)) return current
    current = current.shape[key] as z.ZodTypeAny
  }
  return current
}

function parseSection<K extends keyof typeof sections>(at: Located, name: K, value: unknown): z.output<(typeof sections)[K]> {
  const schema = sections[name]
  const parsed = schema.safeParse(value ?? undefined)
  if (parsed.success) return parsed.data as z.output<(typeof sections)[K]>
  const issue = parsed.error.issues[0]!
  const fix = issue.code === 'unrecognized_keys' ? allowedKeys(schemaAt(schema, issue.path)) : undefined
  throw at.fromZod([name], issue, fix)
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

  const top = topSchema.safeParse(raw)
  if (!top.success) {
    const errors = top.error.issues.map((issue) => {
      const fix = issue.code === 'unrecognized_keys' ? `allowed: ${Object.keys(topSchema.shape).join(', ')}` : issue.path[0] === 'sources' ? 'add sources: with at least one source, e.g. github' : undefined
      return { unknown: issue.code === 'unrecognized_keys', error: at.fromZod([], issue, fix) }
    })
    // A misspelt key usually explains the missing one, so it is named first.
    errors.sort((a, b) => Number(b.unknown) - Number(a.unknown) || (a.error.line ?? 0) - (b.error.line ?? 0))
    throw errors[0]!.error
  }

  const known = [...collectors.keys()].join(', ')
  const sources: SourceConfig[] = []
  for (const [name, entry] of Object.entries(top.data.sources)) {
    const collector = collectors.get(name)
    if (!collector) throw at.error(['sources', name], `unknown source '${name}'`, `known sources: ${known}`, true)
    const parsed = sourceSchema.safeParse(entry ?? {})
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const fix = issue.code === 'unrecognized_keys' ? allowedKeys(sourceSchema) : issue.path[0] === 'targets' ? `list what to watch, e.g. targets: [${collector.example}]` : undefined
      throw at.fromZod(['sources', name], issue, fix)
    }
    const schedule = parsed.data.schedule ?? collector.schedule
    const cron = cronProblem(schedule)
    if (cron) throw at.error(['sources', name, 'schedule'], `'${schedule}' is not a cron schedule (${cron})`, "use five fields, e.g. '0 * * * *' for hourly")

    const targets: Target[] = []
    const seen = new Map<string, number>()
    parsed.data.targets.forEach((rawTarget, index) => {
      const target = collector.targets.safeParse(rawTarget)
      if (!target.success) throw at.fromZod(['sources', name, 'targets', index], target.error.issues[0]!, `e.g. ${collector.example}`)
      const first = seen.get(target.data.id)
      if (first !== undefined) {
        throw at.error(['sources', name, 'targets', index], `duplicate target '${target.data.id}' (also at targets[${first}])`, 'remove one of them')
      }
      seen.set(target.data.id, index)
      targets.push(target.data)
    })

    let options: unknown = parsed.data.options ?? {}
    if (collector.options) {
      const checked = collector.options.safeParse(options)
      if (!checked.success) throw at.fromZod(['sources', name, 'options'], checked.error.issues[0]!, allowedKeys(collector.options) || undefined)
      options = checked.data
    }
    sources.push({ name, collector, schedule, targets, options })
  }

  const metrics = parseSection(at, 'metrics', top.data.metrics)
  const logs = parseSection(at, 'logs', top.data.logs)
  const backup = parseSection(at, 'backup', top.data.backup)
  const backupCron = cronProblem(backup.schedule)
  if (backupCron) throw at.error(['backup', 'schedule'], `'${backup.schedule}' is not a cron schedule (${backupCron})`, "use five fields, e.g. '0 3 * * *' for daily at 03:00 UTC")
  const cluster = parseCluster(at, top.data.cluster, options.provider)
  return {
    file,
    platform: top.data.platform,
    sources,
    metrics: { retention: metrics.retention, retentionSize: metrics.retentionSize, longTerm: metrics.longTerm },
    logs: { retention: logs.retention, nodes: logs.nodes },
    backup,
    cluster,
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
