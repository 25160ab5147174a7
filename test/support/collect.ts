// Runs a collector once the way the CLI does, capturing what it would push, for tests.
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runTarget, type RunSettings, type TargetResult } from '../../collectors/runtime/run.ts'
import { parse } from '../../collectors/runtime/schema.ts'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses Prometheus exposition text (the subset prom-client and the Pushgateway write). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!match) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the one sample with this name whose labels include `labels`; undefined when absent. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value
}

export interface CollectOnce {
  result: TargetResult
  /** What the run printed: the data group (only on success) then the health group. */
  text: string
  samples: Sample[]
  logs: Record<string, unknown>[]
}

export async function collectOnce(
  collector: AnyCollector,
  target: string,
  env: Record<string, string | undefined>,
  options: { http?: RunSettings['http']; collectorOptions?: unknown } = {},
): Promise<CollectOnce> {
  const logs: Record<string, unknown>[] = []
  let text = ''
  const parsed = parse(collector.targets, target)
  const result = await runTarget(
    {
      collector,
      targets: [parsed],
      options: options.collectorOptions ?? (collector.options ? parse(collector.options, {}) : {}),
      schedule: collector.schedule,
      print: (chunk) => (text += chunk),
    },
    parsed,
    {
      env,
      log: createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
      http: { timeoutMs: 2000, retries: 3, retryBaseMs: 10, ...options.http },
    },
  )
  return { result, text, samples: parseExposition(text), logs }
}
