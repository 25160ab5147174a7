// Test support: the dashboard files read the way Grafana reads them: panels, datasources, queries, variables, and their substitution.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { Dashboard, DataSourceRef, Panel, RowPanel, VariableModel } from '@grafana/grafana-foundation-sdk/dashboard'
import { parse as parseYaml } from 'yaml'

export const root = new URL('../..', import.meta.url).pathname
export const dashboardsDir = join(root, 'dashboards')
export const datasourcesFile = join(root, 'stacks/admin/grafana/datasources.yml')
export const indexTemplateFile = join(root, 'stacks/logs/nginx-access-template.json')

export interface DashboardFile {
  /** Path under dashboards/. */
  file: string
  text: string
  dashboard: Dashboard
}

/** Every *.json under dashboards/ (the folders Grafana's file provider turns into folders). */
export function dashboardFiles(): DashboardFile[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const path = join(dir, name)
        if (name === 'src' || name === 'node_modules') return []
        return statSync(path).isDirectory() ? walk(path) : name.endsWith('.json') ? [path] : []
      })
  return walk(dashboardsDir).map((path) => {
    const text = readFileSync(path, 'utf8')
    return { file: relative(dashboardsDir, path), text, dashboard: JSON.parse(text) as Dashboard }
  })
}

/** Panels top to bottom, rows included, and the panels inside collapsed rows. */
export function allPanels(dashboard: Dashboard): (Panel | RowPanel)[] {
  return (dashboard.panels ?? []).flatMap((panel) => (panel.type === 'row' ? [panel, ...((panel as RowPanel).panels ?? [])] : [panel]))
}

export function variables(dashboard: Dashboard): VariableModel[] {
  return dashboard.templating.list ?? []
}

export interface Datasource {
  name: string
  type: string
  uid: string
  url: string
  timeInterval?: string
}

/** The datasources the admin stack provisions into Grafana. */
export function provisionedDatasources(file = datasourcesFile): Datasource[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new Error(`${relative(root, file)} cannot be read: the admin stack's Grafana provisioning must exist (merge the stacks branch)`)
  }
  const parsed = parseYaml(text) as { datasources?: { name: string; type: string; uid?: string; url?: string; jsonData?: { timeInterval?: string } }[] }
  return (parsed.datasources ?? []).map((d) => ({ name: d.name, type: d.type, uid: d.uid ?? '', url: d.url ?? '', timeInterval: d.jsonData?.timeInterval }))
}

/** Variables in a text: $name, ${name}, ${name:format}, [[name]]. */
export function variablesIn(text: string): string[] {
  const found = new Set<string>()
  for (const match of text.matchAll(/\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]/g)) found.add((match[1] ?? match[2] ?? match[3])!)
  return [...found]
}

/** Variables Grafana itself defines for every query. */
export const builtInVariables = new Set(['__range', '__range_s', '__range_ms', '__interval', '__interval_ms', '__rate_interval', '__rate_interval_ms', '__from', '__to', '__dashboard', '__org', '__user', '__timeFilter', '__all', '__auto'])

/** A datasource reference with `${datasource}` resolved through the dashboard's datasource variable (its current value). */
export function resolveDatasource(dashboard: Dashboard, ref: DataSourceRef | undefined): DataSourceRef | undefined {
  if (!ref?.uid) return ref
  const variable = variablesIn(ref.uid)[0]
  if (!variable) return ref
  const definition = variables(dashboard).find((v) => v.name === variable && v.type === 'datasource')
  if (!definition) return { type: ref.type, uid: `(undefined variable ${variable})` }
  const value = definition.current?.value
  return { type: String(definition.query ?? ref.type), uid: Array.isArray(value) ? value[0] : value }
}

export interface Metric {
  type: string
  id?: string
  field?: string
  settings?: Record<string, unknown>
}

export interface Bucket {
  type: string
  id?: string
  field?: string
  settings?: { filters?: { query: string; label: string }[] } & Record<string, unknown>
}

/** What a panel target asks, as the dashboard JSON holds it. */
interface QueryFields {
  /** PromQL of a Prometheus query. */
  expr?: string
  instant?: boolean
  /** Lucene query, time field, metrics and buckets of an Elasticsearch query. */
  query?: string
  timeField?: string
  metrics?: Metric[]
  bucketAggs?: Bucket[]
}

export interface QueryRef extends QueryFields {
  /** dashboard file, panel title and refId: where a failure points to. */
  where: string
  panelType: string
  datasource: DataSourceRef | undefined
  /** The panel's min interval (Grafana's "Min interval"), e.g. 1d for panels drawing one point a day. */
  interval?: string
}

interface RawTarget extends QueryFields {
  refId?: string
  datasource?: DataSourceRef
}

/** Every query of every panel, each with the datasource it runs on (its own in a mixed panel, else the panel's). */
export function panelQueries(file: DashboardFile): QueryRef[] {
  const { dashboard } = file
  return allPanels(dashboard)
    .filter((panel): panel is Panel => panel.type !== 'row')
    .flatMap((panel) =>
      ((panel.targets ?? []) as unknown as RawTarget[]).map((target) => {
        const own = target.datasource && panel.datasource?.uid === '-- Mixed --' ? target.datasource : panel.datasource
        return {
          where: `${file.file} #${panel.id} "${panel.title}" ${target.refId ?? '?'}`,
          panelType: panel.type,
          interval: panel.interval ?? undefined,
          datasource: resolveDatasource(dashboard, own),
          expr: target.expr,
          instant: target.instant,
          query: target.query,
          timeField: target.timeField,
          metrics: target.metrics,
          bucketAggs: target.bucketAggs,
        }
      }),
    )
}

/** The PromQL text of a Prometheus query variable (string form, or the object Grafana 11 saves). */
export function variableQuery(variable: VariableModel): string | undefined {
  if (typeof variable.query === 'string') return variable.query
  if (variable.query && typeof variable.query.query === 'string') return variable.query.query
  return undefined
}

/** label_values(series, label) → its parts; undefined for any other variable query form. */
export function labelValuesQuery(text: string): { series?: string; label: string } | undefined {
  const match = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$/.exec(text)
  return match ? { series: match[1], label: match[2]! } : undefined
}

const promqlWords = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2'])

/** Metric names a PromQL expression reads (strings, label matchers, ranges, grouping lists and functions left out). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (match[2] || promqlWords.has(match[1]!.toLowerCase())) continue
    names.add(match[1]!)
  }
  return [...names]
}

/** Grafana's regex escaping of a label value in a =~ matcher. */
function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&')
}

/** Seconds of a Grafana duration (30s, 5m, 1h, 1d, 1w, 1y), or undefined when it is not one. */
export function durationSeconds(text: string | undefined): number | undefined {
  const match = /^(\d+)(s|m|h|d|w|y)$/.exec(text ?? '')
  if (!match) return undefined
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 }[match[2] as 's']
}

/** The length of a dashboard's default time range (`now-90d` to `now`), seconds. */
export function defaultRangeSeconds(dashboard: Dashboard): number | undefined {
  return dashboard.time?.to === 'now' ? durationSeconds(dashboard.time.from.replace(/^now-/, '')) : undefined
}

export interface TimeSettings {
  /** Length of the dashboard range, seconds. */
  rangeSeconds: number
  /** $__interval, seconds (step of range queries). */
  intervalSeconds: number
  /** The datasource's scrape interval, seconds, which $__rate_interval derives from. */
  scrapeSeconds: number
}

/**
 * A query as Grafana sends it: each multi-value variable becomes (a|b|c) (the values regex-escaped, as the Prometheus
 * datasource does), $__range/$__interval/$__rate_interval their durations. Values absent: the variable resolved to nothing.
 */
export function substitute(expr: string, values: Map<string, string[]>, time: TimeSettings): string {
  const rateInterval = Math.max(time.intervalSeconds + time.scrapeSeconds, 4 * time.scrapeSeconds)
  const durations: Record<string, string> = {
    __range: `${time.rangeSeconds}s`,
    __range_s: String(time.rangeSeconds),
    __range_ms: String(time.rangeSeconds * 1000),
    __interval: `${time.intervalSeconds}s`,
    __interval_ms: String(time.intervalSeconds * 1000),
    __rate_interval: `${rateInterval}s`,
  }
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!
    if (durations[name]) return durations[name]!
    const list = values.get(name)
    if (!list) return whole
    if (list.length === 0) return '__no_value__'
    return list.length === 1 ? regexEscape(list[0]!) : `(${list.map(regexEscape).join('|')})`
  })
}

// ---------------------------------------------------------------- Elasticsearch

/** Field path → mapping type, from an index template (composable `template.mappings`, or legacy `mappings`). */
export function templateFields(template: unknown): Map<string, string> {
  const fields = new Map<string, string>()
  const body = template as { template?: { mappings?: unknown }; mappings?: unknown }
  const mappings = (body.template?.mappings ?? body.mappings) as { properties?: Record<string, unknown> } | undefined
  const visit = (properties: Record<string, unknown>, prefix: string) => {
    for (const [name, raw] of Object.entries(properties)) {
      const definition = raw as { type?: string; properties?: Record<string, unknown>; fields?: Record<string, { type: string }> }
      const path = prefix + name
      if (definition.properties) visit(definition.properties, `${path}.`)
      if (definition.type) fields.set(path, definition.type)
      for (const [sub, subDefinition] of Object.entries(definition.fields ?? {})) fields.set(`${path}.${sub}`, subDefinition.type)
    }
  }
  if (mappings?.properties) visit(mappings.properties, '')
  return fields
}

export function indexTemplate(file = indexTemplateFile): Map<string, string> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new Error(`${relative(root, file)} cannot be read: the logs stack's index template must exist (merge the stacks branch)`)
  }
  return templateFields(JSON.parse(text))
}

const numeric = ['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long']
/** Which mapping types each aggregation can work on (Elasticsearch rejects or silently empties the others). */
export const fieldTypesFor: Record<string, string[]> = {
  date_histogram: ['date', 'date_nanos'],
  terms: ['keyword', 'ip', 'boolean', ...numeric],
  geohash_grid: ['geo_point'],
  histogram: numeric,
  avg: numeric,
  sum: numeric,
  min: numeric,
  max: numeric,
  percentiles: numeric,
  extended_stats: numeric,
  cardinality: ['keyword', 'ip', 'boolean', ...numeric],
  range: [...numeric, 'date', 'ip'],
}

/** Fields a Lucene query string names: `field:value`, `field:[a TO b]`, `_exists_:field`; ranges flagged. */
export function luceneFields(query: string): { field: string; range: boolean }[] {
  const found: { field: string; range: boolean }[] = []
  const text = query.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  for (const match of text.matchAll(/(?<![\w.@])([A-Za-z_@][\w.@]*)\s*:\s*(\[|\{|[<>]=?)?(\S*)/g)) {
    if (match[1] === '_exists_') found.push({ field: match[3]!.replace(/[)\s]+$/, ''), range: false })
    else found.push({ field: match[1]!, range: Boolean(match[2]) })
  }
  return found
}

/** What is wrong with an Elasticsearch query given the index's fields: unknown fields, or types an aggregation cannot use. */
export function elasticsearchProblems(query: Pick<QueryRef, 'query' | 'timeField' | 'metrics' | 'bucketAggs'>, fields: Map<string, string>): string[] {
  const problems: string[] = []
  const check = (field: string | undefined, use: string, allowed?: string[]) => {
    if (!field) return problems.push(`${use} names no field`)
    const type = fields.get(field)
    if (!type) return problems.push(`${use} on \`${field}\`, which the index template does not map`)
    if (allowed && !allowed.includes(type)) problems.push(`${use} on \`${field}\`, a ${type} field (needs ${allowed.join('|')})`)
    return undefined
  }
  const lucene = (text: string | undefined, where: string) => {
    for (const { field, range } of luceneFields(text ?? '')) check(field, `${where} ${range ? 'range' : 'match'}`, range ? fieldTypesFor.range : undefined)
  }
  check(query.timeField, 'time field', fieldTypesFor.date_histogram)
  lucene(query.query, 'query')
  for (const metric of query.metrics ?? []) {
    if (metric.type === 'count' || metric.type === 'raw_data' || metric.type === 'logs') continue
    check(metric.field, metric.type, fieldTypesFor[metric.type] ?? ['(unsupported aggregation)'])
  }
  for (const bucket of query.bucketAggs ?? []) {
    if (bucket.type === 'filters') {
      for (const filter of bucket.settings?.filters ?? []) lucene(filter.query, `filter "${filter.label}"`)
      continue
    }
    check(bucket.field, bucket.type, fieldTypesFor[bucket.type] ?? ['(unsupported aggregation)'])
  }
  return problems
}
