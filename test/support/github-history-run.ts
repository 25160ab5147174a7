// Runs the GitHub collector's history for tests the way a history run does (its context: http on the run's budget,
// metrics, settings), into a sink and a progress kept in memory, and computes what a day's values must be straight
// from the fake GitHub's data (never with the collector's code).
import github from '../../collectors/github.ts'
import { createHttp } from '../../collectors/runtime/http.ts'
import type { HistoryProgress, HistorySample, HistorySink } from '../../collectors/runtime/history.ts'
import { createMemoryProgress } from '../../collectors/runtime/history-progress.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createMetricSet } from '../../collectors/runtime/metrics.ts'
import { runBudget, settingsReader } from '../../collectors/runtime/run.ts'
import { parse } from '../../collectors/runtime/schema.ts'
import { parseExposition, type Sample } from './collect.ts'
import type { RepositoryHistory } from './github-history-api.ts'

/** Samples kept per series and day, as Prometheus keeps them: a day written again with its value stays one sample. */
export class MemorySink implements HistorySink {
  readonly samples = new Map<string, HistorySample>()
  /** (series, day) written again with another value: Prometheus would refuse it. */
  readonly conflicts: string[] = []
  writes = 0
  async write(samples: readonly HistorySample[]): Promise<void> {
    this.writes++
    for (const sample of samples) {
      const key = `${sample.name}{${Object.entries(sample.labels).map(([k, v]) => `${k}=${v}`).join(',')}}@${sample.timestampSeconds}`
      const known = this.samples.get(key)
      if (known && known.value !== sample.value) this.conflicts.push(`${key}: ${known.value} then ${sample.value}`)
      this.samples.set(key, sample)
    }
  }
  async close(): Promise<void> {}
  /** The value of `name` for `repository` at `day` (Unix seconds), if written. */
  value(name: string, repository: string, day: number): number | undefined {
    for (const sample of this.samples.values()) if (sample.name === name && sample.labels.repository === repository && sample.timestampSeconds === day) return sample.value
    return undefined
  }
  series(name: string, repository: string): HistorySample[] {
    return [...this.samples.values()].filter((s) => s.name === name && s.labels.repository === repository).sort((a, b) => a.timestampSeconds - b.timestampSeconds)
  }
}

/** The runtime's in-process progress, as --openmetrics runs keep it. */
export const memoryProgress = (): HistoryProgress & { readonly values: Map<string, number> } => createMemoryProgress()

export interface HistoryRun {
  ok: boolean
  error?: unknown
  logs: Record<string, unknown>[]
  /** What the run recorded for the Pushgateway (github_history_complete, ...), and as exposition text. */
  metrics: Sample[]
  exposition: string
  requests: number
  points?: number
}

/** One history run of `target` against the fake at `url`, into `sink` and `progress`. */
export async function runHistory(url: string, target: string, sink: MemorySink, progress: HistoryProgress, env: Record<string, string> = {}, since?: number): Promise<HistoryRun> {
  const logs: Record<string, unknown>[] = []
  const log = createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) })
  const settings = { GITHUB_API_URL: url, GITHUB_TOKEN: 'ghp_test', ...env }
  const http = createHttp({ log, timeoutMs: 5000, retries: 2, retryBaseMs: 10, budget: runBudget(github, settings), rateLimitHint: github.rateLimitHint })
  const metrics = createMetricSet(github.metrics)
  const parsed = parse(github.targets, target)
  const run: HistoryRun = { ok: true, logs, metrics: [], exposition: '', requests: 0 }
  try {
    await github.history!(parsed, { http, metrics, log, now: Date.now, options: parse(github.options!, {}), history: sink, progress, since, ...settingsReader(settings) })
  } catch (error) {
    run.ok = false
    run.error = error
  }
  run.exposition = await metrics.exposition()
  run.metrics = parseExposition(run.exposition)
  run.requests = http.requests
  run.points = http.points
  return run
}

const day = 86_400

/** What the fake's data says a repository had at 00:00 UTC of `midnight`: counted here, from the events themselves. */
export function expectedAt(history: RepositoryHistory, midnight: number) {
  const atOrBefore = (times: (number | null)[]) => times.filter((t) => t !== null && t <= midnight).length
  return {
    // The star-history endpoint gives days, not times: a star counts from the midnight after the day it was given.
    github_repository_stars: history.stars.filter((t) => Math.floor(t / day) * day + day <= midnight).length,
    github_repository_open_issues: atOrBefore(history.issues.map((i) => i.createdAt)) - atOrBefore(history.issues.map((i) => i.closedAt)),
    github_repository_closed_issues: atOrBefore(history.issues.map((i) => i.closedAt)),
    github_repository_open_pull_requests: atOrBefore(history.pullRequests.map((p) => p.createdAt)) - atOrBefore(history.pullRequests.map((p) => p.closedAt)),
    github_repository_merged_pull_requests: atOrBefore(history.pullRequests.map((p) => p.mergedAt)),
    github_repository_closed_pull_requests: atOrBefore(history.pullRequests.map((p) => (p.mergedAt === null ? p.closedAt : null))),
    github_repository_forks: atOrBefore(history.forks),
    github_repository_releases: atOrBefore(history.releases.map((r) => r.publishedAt)),
    github_repository_commits: atOrBefore(history.commits),
  }
}
