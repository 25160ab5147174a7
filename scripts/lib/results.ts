// What `up` and `status` show of the running platform: its URLs (from Traefik's router rules) and the collectors' latest numbers.
import { dockerMaybe } from '../../stacks/deploy/docker.ts'
import type { ResolvedStack } from '../../stacks/deploy/deploy.ts'
import { run } from '../../stacks/programs.ts'

export interface Endpoint {
  service: string
  url: string
}

function labelsOf(labels: Record<string, string> | string[] | undefined): Record<string, string> {
  if (!labels) return {}
  if (!Array.isArray(labels)) return labels
  return Object.fromEntries(labels.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

/** http://<host> for every Traefik router rule of the deployed services. */
export function traefikUrls(stacks: ResolvedStack[]): Endpoint[] {
  const urls: Endpoint[] = []
  for (const stack of stacks) {
    for (const [name, service] of Object.entries(stack.compose.services ?? {})) {
      const labels = labelsOf(service.deploy?.labels)
      for (const [key, rule] of Object.entries(labels)) {
        if (!/^traefik\.http\.routers\.[^.]+\.rule$/.test(key)) continue
        const hosts = [...rule.matchAll(/Host\(`([^`]+)`\)/g)].map((m) => m[1]!)
        const path = /PathPrefix\(`([^`]+)`\)/.exec(rule)?.[1] ?? '/'
        for (const host of hosts) urls.push({ service: `${stack.name}_${name}`, url: `http://${host}${path === '/' ? '' : path}` })
      }
    }
  }
  return urls.filter((u, i) => urls.findIndex((o) => o.url === u.url) === i)
}

/** Ports published on the host in `mode: host` (where there is no routing mesh, the e2e overlay publishes this way). */
export function hostPorts(stacks: ResolvedStack[]): Endpoint[] {
  return stacks.flatMap((stack) =>
    Object.entries(stack.compose.services ?? {}).flatMap(([name, service]) =>
      (service.ports ?? []).filter((p) => p.published !== undefined).map((p) => ({ service: `${stack.name}_${name}`, url: `http://127.0.0.1:${p.published}` })),
    ),
  )
}

export interface Sample {
  labels: Record<string, string>
  value: number
}

/** The container of a service's running task on this node, if there is one. */
export async function localContainer(service: string): Promise<string | undefined> {
  const text = await dockerMaybe(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`, '--filter', 'status=running'])
  return text?.split('\n').find(Boolean)
}

/** Parses promtool's `query instant` output: `name{a="b"} => 42 @[1700000000.1]`. */
export function parsePromtool(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const match = /^(?:[a-zA-Z_:][\w:]*)?\{?(.*?)\}? => (\S+) @\[/.exec(line.trim())
    if (!match) continue
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!.replace(/\\(.)/g, '$1')]))
    samples.push({ labels, value: Number(match[2]) })
  }
  return samples
}

const separator = '----activity-query----'

/**
 * Runs instant queries in the Prometheus of a service, with the promtool inside its own image and one `docker exec`:
 * the Prometheus API stays internal (no published port needed), and the same works for the upstream image and the stand-in.
 */
export async function queryPrometheus(service: string, ...expressions: string[]): Promise<Sample[][] | undefined> {
  const container = await localContainer(service)
  if (!container) return undefined
  const script = expressions.map((_, i) => `promtool query instant http://localhost:9090 "$${i + 1}"`).join(`; echo ${separator}; `)
  const text = await dockerMaybe(['exec', container, 'sh', '-c', script, 'query', ...expressions])
  return text === undefined ? undefined : text.split(separator).map(parsePromtool)
}

export interface CollectorHealth {
  source: string
  target: string
  ok: boolean
  samples: number
}

export interface Results {
  health: CollectorHealth[]
  /** Lines of the best-known numbers: top repositories by stars (GitHub) and pulls (Docker Hub). */
  headlines: string[]
}

export function formatCount(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}B`
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`
  return String(value)
}

/** The collectors' last runs and their headline numbers, from the metrics Prometheus; undefined when it does not run here. */
export async function collectorResults(prometheusService: string): Promise<Results | undefined> {
  const answers = await queryPrometheus(
    prometheusService,
    'activity_collector_last_run_success',
    'activity_collector_samples',
    'topk(5, github_repository_stars)',
    'topk(5, dockerhub_repository_pulls)',
  )
  if (!answers) return undefined
  const [success = [], samples = [], stars = [], pulls = []] = answers
  const health = success
    .map((s) => ({
      source: s.labels.job ?? '?',
      target: s.labels.target ?? '?',
      ok: s.value === 1,
      samples: samples.find((o) => o.labels.job === s.labels.job && o.labels.target === s.labels.target)?.value ?? 0,
    }))
    .sort((a, b) => `${a.source} ${a.target}`.localeCompare(`${b.source} ${b.target}`))
  const headlines = [
    ...stars.sort((a, b) => b.value - a.value).map((s) => `github     ${`${s.labels.owner}/${s.labels.repository}`.padEnd(36)} ${formatCount(s.value)} stars`),
    ...pulls.sort((a, b) => b.value - a.value).map((s) => `dockerhub  ${`${s.labels.namespace}/${s.labels.repository}`.padEnd(36)} ${formatCount(s.value)} pulls`),
  ]
  return { health, headlines }
}

export interface PushedTarget {
  source: string
  target: string
  /** From the health group: the last run, successful or not. */
  lastRunOk?: boolean
  lastRunAt?: number
  samples?: number
  /** From the data group: the last successful run, whose values Prometheus keeps serving. */
  lastSuccessAt?: number
  /** From the history groups (`activity history`, the <source>-history job), when the source has history. */
  history?: { lastRunOk?: boolean; lastRunAt?: number; samplesWritten?: number; lastSuccessAt?: number }
}

export interface PushedGroupJson {
  labels: Record<string, string>
  [metric: string]: { metrics?: { value: string }[] } | Record<string, string>
}

/**
 * Each collector target as the Pushgateway holds it now (fresher than Prometheus, which scrapes it once a minute),
 * read with the wget of the Pushgateway's own image; undefined when it does not run on this node.
 */
export async function pushedTargets(pushgatewayService: string): Promise<PushedTarget[] | undefined> {
  const container = await localContainer(pushgatewayService)
  if (!container) return undefined
  const text = await dockerMaybe(['exec', container, 'wget', '-qO-', 'http://localhost:9091/api/v1/metrics'])
  if (text === undefined) return undefined
  return targetsOfGroups((JSON.parse(text) as { data: PushedGroupJson[] }).data)
}

/** The targets in the Pushgateway's groups (its /api/v1/metrics `data`): collect's data and health, history's two. */
export function targetsOfGroups(groups: PushedGroupJson[]): PushedTarget[] {
  const value = (group: PushedGroupJson, metric: string) => {
    const family = group[metric] as { metrics?: { value: string }[] } | undefined
    const raw = family?.metrics?.[0]?.value
    return raw === undefined ? undefined : Number(raw)
  }
  const targets = new Map<string, PushedTarget>()
  for (const group of groups) {
    const { job, target, group: kind } = group.labels
    if (!job || !target) continue
    const key = `${job} ${target}`
    const entry = targets.get(key) ?? { source: job, target }
    if (kind === 'health') {
      const success = value(group, 'activity_collector_last_run_success')
      entry.lastRunOk = success === undefined ? undefined : success === 1
      entry.lastRunAt = value(group, 'activity_collector_last_run_timestamp_seconds')
      entry.samples = value(group, 'activity_collector_samples')
    } else if (kind === 'history-health') {
      const success = value(group, 'activity_history_last_run_success')
      entry.history = {
        ...entry.history,
        lastRunOk: success === undefined ? undefined : success === 1,
        lastRunAt: value(group, 'activity_history_last_run_timestamp_seconds'),
        samplesWritten: value(group, 'activity_history_samples_written'),
      }
    } else if (kind === 'history') {
      entry.history = { ...entry.history, lastSuccessAt: value(group, 'activity_history_last_success_timestamp_seconds') }
    } else if (kind === undefined) {
      entry.lastSuccessAt = value(group, 'activity_collector_last_success_timestamp_seconds')
    }
    targets.set(key, entry)
  }
  return [...targets.values()].sort((a, b) => `${a.source} ${a.target}`.localeCompare(`${b.source} ${b.target}`))
}

/** Last lines a task printed (a failed job's reason); `docker service logs` takes a task ID as well as a service. */
export async function lastLogLines(serviceOrTask: string, lines = 3): Promise<string[]> {
  // A task's stderr comes back on the CLI's stderr: read both, in order (one pipe for both, as 2>&1 does).
  const result = await run('sh', ['-c', 'docker service logs --raw --no-task-ids --tail "$1" "$2" 2>&1', 'sh', String(lines), serviceOrTask])
  return result.code === 0 ? [...new Set(result.stdout.split('\n').filter(Boolean))].slice(-lines) : []
}
