// An in-memory history sink and progress store, and a run of collect or history over several targets with a clock that
// only moves when the run sleeps: the registry collectors' tests, before and beside the real history path.
import { runShared, type AnyCollector, type Target } from '../../collectors/runtime/define.ts'
import type { HistoryProgress, HistorySample, HistorySink } from '../../collectors/runtime/history.ts'
import { createHttp } from '../../collectors/runtime/http.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createMetricSet } from '../../collectors/runtime/metrics.ts'
import { runBudget, runCollector, settingsReader, type TargetResult } from '../../collectors/runtime/run.ts'
import { parse } from '../../collectors/runtime/schema.ts'
import { parseExposition, type Sample } from './collect.ts'
import { createMemoryProgress } from '../../collectors/runtime/history-progress.ts'

export interface MemorySink extends HistorySink {
  samples: HistorySample[]
  /** The value written last for a series at a time (a rewrite replaces, as the real path does). */
  valueAt(name: string, labels: Record<string, string>, timestampSeconds: number): number | undefined
  series(name: string, labels: Record<string, string>): HistorySample[]
}

export function memorySink(): MemorySink {
  const samples: HistorySample[] = []
  const matches = (s: HistorySample, name: string, labels: Record<string, string>) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  return {
    samples,
    async write(batch) {
      samples.push(...batch)
    },
    async close() {},
    valueAt(name, labels, at) {
      return samples.filter((s) => matches(s, name, labels) && s.timestampSeconds === at).at(-1)?.value
    },
    series(name, labels) {
      const latest = new Map<number, HistorySample>()
      for (const s of samples.filter((s) => matches(s, name, labels))) latest.set(s.timestampSeconds, s)
      return [...latest.values()].sort((a, b) => a.timestampSeconds - b.timestampSeconds)
    },
  }
}

/** The runtime's in-process progress, as --openmetrics runs keep it. */
export const memoryProgress = (): HistoryProgress & { readonly values: Map<string, number> } => createMemoryProgress()

/** A clock at `startMs` that moves only when the run sleeps; `waits` lists every sleep. */
export function virtualClock(startMs: number) {
  let now = startMs
  const waits: number[] = []
  return { now: () => now, sleep: async (ms: number) => void (waits.push(ms), (now += ms)), waits }
}

export interface RunOutcome {
  results: TargetResult[]
  samples: Sample[]
  logs: Record<string, unknown>[]
}

/** `activity collect` over `targets`, history into `sink`, on `clock`. */
export async function collectAll(collector: AnyCollector, targets: string[], env: Record<string, string>, sink: HistorySink, clock = virtualClock(Date.now())): Promise<RunOutcome> {
  let text = ''
  const logs: Record<string, unknown>[] = []
  const results = await runCollector(
    { collector, targets: targets.map((t) => parse(collector.targets, t)), options: {}, schedule: collector.schedule, print: (chunk) => (text += chunk) },
    { env, log: createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) }), now: clock.now, sleep: clock.sleep, history: sink, http: { retries: 2, retryBaseMs: 10, timeoutMs: 5000 } },
  )
  return { results, samples: parseExposition(text), logs }
}

/** The backfill of every target, in turn, as the history command runs it: one budget and one shared answer per run. */
export async function historyAll(
  collector: AnyCollector,
  targets: string[],
  env: Record<string, string>,
  sink: HistorySink,
  options: { clock?: ReturnType<typeof virtualClock>; progress?: HistoryProgress; since?: number } = {},
): Promise<{ target: string; ok: boolean; error?: string; requests: number }[]> {
  const clock = options.clock ?? virtualClock(Date.now())
  const progress = options.progress ?? memoryProgress()
  const parsed: Target[] = targets.map((t) => parse(collector.targets, t))
  const budget = runBudget(collector, env)
  const shared = runShared(parsed)
  const log = createLogger({ level: 'error', write: () => {} })
  const out = []
  for (const target of parsed) {
    const http = createHttp({ log, clock, budget, retries: 2, retryBaseMs: 10, timeoutMs: 5000 })
    try {
      await collector.history!(target, { http, metrics: createMetricSet(collector.metrics), log, now: clock.now, options: {}, history: sink, run: shared, progress, since: options.since, ...settingsReader(env) })
      out.push({ target: target.id, ok: true, requests: http.requests })
    } catch (error) {
      out.push({ target: target.id, ok: false, error: (error as Error).message, requests: http.requests })
    }
  }
  return out
}
