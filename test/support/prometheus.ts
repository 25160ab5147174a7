// Real Debian Prometheus and Pushgateway, started on loopback ports for a test, and the queries tests ask them.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from './servers.ts'

export interface Pushgateway extends Started {
  persistenceFile: string
  /** Restarts the same gateway on the same port and persistence file (a crash and restart). */
  restart(): Promise<void>
}

export async function startPushgateway(options: { persistenceFile?: string } = {}): Promise<Pushgateway> {
  const binary = requireBinary('prometheus-pushgateway', 'prometheus-pushgateway')
  const dir = tempDir('pushgateway')
  const persistenceFile = options.persistenceFile ?? join(dir.path, 'metrics.store')
  const args = (port: number) => [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${persistenceFile}`, '--persistence.interval=1s', '--log.level=warn']
  let current = await startProgram(binary, args, '/-/ready')
  const gateway: Pushgateway = {
    ...current,
    persistenceFile,
    output: () => current.output(),
    stop: async () => {
      await current.stop()
      dir.remove()
    },
    restart: async () => {
      await current.stop()
      current = await startProgram(binary, args, '/-/ready', { port: current.port })
      gateway.process = current.process
    },
  }
  return gateway
}

export interface Prometheus extends Started {
  query(promql: string): Promise<VectorSample[]>
  /** Waits until a query returns at least one series. */
  queryUntil(promql: string, what?: string, timeoutMs?: number): Promise<VectorSample[]>
}

export interface VectorSample {
  metric: Record<string, string>
  value: number
}

export async function queryPrometheus(url: string, promql: string): Promise<VectorSample[]> {
  const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`)
  if (body.data.resultType !== 'vector') throw new Error(`query ${promql} returned a ${body.data.resultType}, not a vector`)
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
}

/** A real Prometheus scraping the given Pushgateways every second, honouring their labels, as the metrics stack does. */
export async function startPrometheus(options: { pushgateways: string[]; extraConfig?: string; flags?: string[]; storagePath?: string }): Promise<Prometheus> {
  const binary = requireBinary('prometheus', 'prometheus')
  const dir = tempDir('prometheus')
  const targets = options.pushgateways.map((u) => new URL(u).host)
  writeFileSync(
    join(dir.path, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: pushgateway',
      '    honor_labels: true',
      '    static_configs:',
      `      - targets: ${JSON.stringify(targets)}`,
      options.extraConfig ?? '',
    ].join('\n'),
  )
  const started = await startProgram(
    binary,
    (port) => [`--config.file=${join(dir.path, 'prometheus.yml')}`, `--storage.tsdb.path=${options.storagePath ?? join(dir.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...(options.flags ?? [])],
    '/-/ready',
  )
  return {
    ...started,
    stop: async () => {
      await started.stop()
      dir.remove()
    },
    query: (promql) => queryPrometheus(started.url, promql),
    queryUntil: (promql, what = promql, timeoutMs = 20_000) =>
      waitFor(`Prometheus to answer ${what}`, async () => {
        const result = await queryPrometheus(started.url, promql)
        return result.length ? result : undefined
      }, timeoutMs),
  }
}

/** The metrics the Pushgateway holds now, as exposition text. */
export async function gatewayText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text()
}
