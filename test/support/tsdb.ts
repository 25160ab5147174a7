// Real Prometheus data for the data-lifecycle tests: history written with promtool, a Prometheus on a data folder the
// test owns (admin API on), and range queries to compare before and after a restore.
import { spawnSync } from 'node:child_process'
import { createWriteStream, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { requireBinary, startProgram, tempDir, type Started } from './servers.ts'

/**
 * Writes `series` gauges sampled every `stepSeconds` from `from` to `to` (seconds) as OpenMetrics and turns them into
 * TSDB blocks in `dataDir` with promtool. Values are a function of series and time, so a test can know them.
 */
export async function createHistory(
  dataDir: string,
  options: { series: number; from: number; to: number; stepSeconds: number; metric?: string; maxBlockDuration?: string; value?: (series: number, time: number) => number },
): Promise<{ samples: number; textBytes: number }> {
  const value = options.value ?? historyValue
  const promtool = requireBinary('promtool', 'prometheus')
  const metric = options.metric ?? 'activity_history_value'
  const scratch = tempDir('openmetrics')
  try {
    const file = join(scratch.path, 'history.om')
    const out = createWriteStream(file)
    let samples = 0
    let buffer = `# HELP ${metric} Synthetic history for backup tests.\n# TYPE ${metric} gauge\n`
    for (let s = 0; s < options.series; s++) {
      const labels = `{series="${String(s).padStart(5, '0')}",repository="repo-${s % 100}"}`
      for (let t = options.from; t <= options.to; t += options.stepSeconds) {
        buffer += `${metric}${labels} ${value(s, t)} ${t}\n`
        samples++
        if (buffer.length > 1 << 20) {
          if (!out.write(buffer)) await once(out, 'drain')
          buffer = ''
        }
      }
    }
    out.end(buffer + '# EOF\n')
    await once(out, 'finish')
    const run = spawnSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', `--max-block-duration=${options.maxBlockDuration ?? '24h'}`, file, dataDir], { encoding: 'utf8', maxBuffer: 64 << 20 })
    if (run.status !== 0) throw new Error(`promtool tsdb create-blocks-from openmetrics failed: ${run.stderr || run.stdout}`)
    return { samples, textBytes: out.bytesWritten }
  } finally {
    scratch.remove()
  }
}

/** The value series `s` has at time `t` in createHistory: a slow ramp, different per series. */
export function historyValue(s: number, t: number): number {
  return s * 1000 + Math.floor(t / 3600) % 1000
}

/** A real Prometheus on a data folder the test owns, scraping the Pushgateways every second, with the admin API on. */
export async function startPrometheusOn(dataDir: string, options: { pushgateways?: string[]; port?: number; flags?: string[] } = {}): Promise<Started> {
  const binary = requireBinary('prometheus', 'prometheus')
  const config = join(dataDir, '..', `prometheus-${Math.random().toString(36).slice(2)}.yml`)
  const targets = (options.pushgateways ?? []).map((u) => new URL(u).host)
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: pushgateway', '    honor_labels: true', '    static_configs:', `      - targets: ${JSON.stringify(targets)}`, ''].join('\n'),
  )
  return startProgram(
    binary,
    (port) => [`--config.file=${config}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-admin-api', '--storage.tsdb.retention.time=400d', '--log.level=warn', ...(options.flags ?? [])],
    '/-/ready',
    { port: options.port },
  )
}

export interface RangeSeries {
  metric: Record<string, string>
  values: [number, string][]
}

/** /api/v1/query_range, sorted by labels so that two answers compare equal when their data is. */
export async function rangeQuery(url: string, query: string, start: number, end: number, step: number): Promise<RangeSeries[]> {
  const params = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) })
  const response = await fetch(`${url}/api/v1/query_range?${params}`)
  const body = (await response.json()) as { status: string; error?: string; data: { result: RangeSeries[] } }
  if (body.status !== 'success') throw new Error(`query_range ${query} failed: ${body.error}`)
  return body.data.result.sort((a, b) => JSON.stringify(a.metric).localeCompare(JSON.stringify(b.metric)))
}
