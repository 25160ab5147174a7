// History as OpenMetrics text (`activity history --openmetrics`, and `collect --stdout`): HELP and TYPE from the
// collector's specs, `name{labels} value timestamp` with timestamps in seconds, `# EOF` last. The text is what
// `promtool tsdb create-blocks-from openmetrics` reads, so a family's samples must be together and each series in time
// order: the document keeps every sample until it is finished, then writes them grouped.
import type { HistorySample, HistorySink } from './history.ts'
import { checkSample, seriesLabels, type SeriesOwner } from './history-series.ts'
import type { MetricSpecs } from './metrics.ts'

export interface OpenMetricsDocument {
  /** The sink of one target: its samples join the document; close() leaves the document open. */
  sinkFor(owner: SeriesOwner, specs: MetricSpecs): HistorySink
  /** Samples held (one per series and timestamp). */
  readonly samples: number
  /** The whole document: every family with its HELP and TYPE, then `# EOF`. */
  finish(): string
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

/** Milliseconds as seconds, exactly: 1700000000123 -> 1700000000.123. */
function seconds(ms: number): string {
  const whole = Math.floor(ms / 1000)
  const rest = ms - whole * 1000
  return rest ? `${whole}.${String(rest).padStart(3, '0').replace(/0+$/, '')}` : String(whole)
}

export function createOpenMetricsDocument(): OpenMetricsDocument {
  /** name -> HELP */
  const helps = new Map<string, string>()
  /** name -> rendered label set -> timestamp (ms) -> value */
  const families = new Map<string, Map<string, Map<number, number>>>()
  let samples = 0

  function add(sample: HistorySample, owner: SeriesOwner, specs: MetricSpecs) {
    checkSample(sample, specs)
    helps.set(sample.name, specs[sample.name]!.help)
    const labels = seriesLabels(sample, owner)
      .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
      .join(',')
    let family = families.get(sample.name)
    if (!family) families.set(sample.name, (family = new Map()))
    let points = family.get(labels)
    if (!points) family.set(labels, (points = new Map()))
    const at = Math.round(sample.timestampSeconds * 1000)
    if (!points.has(at)) samples++
    points.set(at, sample.value)
  }

  return {
    sinkFor(owner, specs) {
      return {
        async write(batch) {
          for (const sample of batch) add(sample, owner, specs)
        },
        async close() {},
      }
    },
    get samples() {
      return samples
    },
    finish() {
      const lines: string[] = []
      for (const name of [...families.keys()].sort()) {
        lines.push(`# HELP ${name} ${escapeHelp(helps.get(name)!)}`, `# TYPE ${name} gauge`)
        const family = families.get(name)!
        for (const labels of [...family.keys()].sort()) {
          const prefix = `${name}{${labels}} `
          for (const [at, value] of [...family.get(labels)!].sort(([a], [b]) => a - b)) lines.push(`${prefix}${number(value)} ${seconds(at)}`)
        }
      }
      lines.push('# EOF')
      return lines.join('\n') + '\n'
    },
  }
}

/** A sink printing one target's samples as a whole OpenMetrics document when it is closed (`collect --stdout`). */
export function createPrintingSink(owner: SeriesOwner, specs: MetricSpecs, print: (text: string) => void): HistorySink {
  const document = createOpenMetricsDocument()
  const sink = document.sinkFor(owner, specs)
  return {
    write: (samples) => sink.write(samples),
    async close() {
      if (document.samples) print(`# ${owner.job} target=${owner.target} history (OpenMetrics)\n${document.finish()}`)
    },
  }
}
