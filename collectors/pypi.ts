// collectors/pypi.ts: downloads per day of PyPI packages from pypistats.org (mirrors excluded), by Python version and system.
import * as v from 'valibot'
import { defineCollector, type CollectorContext } from './runtime/define.ts'
import { HttpError, NotFoundError } from './runtime/errors.ts'
import type { HistorySample } from './runtime/history.ts'
import { expectShape } from './runtime/shape.ts'

/** A PyPI project name (PEP 508), kept as PEP 503 normalises it: lower case, runs of - _ . as one -. */
const projectName = v.pipe(
  v.string('must be a PyPI package name (requests)'),
  v.regex(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/, 'must be a PyPI package name: letters, digits, - _ . (requests, prometheus-client)'),
  v.transform((name) => ({ id: name.toLowerCase().replace(/[-_.]+/g, '-') })),
)

/** pypistats' time series: one entry per day and category (without_mirrors; a Python minor version; a system). */
const seriesSchema = v.object({
  package: v.string(),
  type: v.string(),
  data: v.array(v.object({ category: v.nullable(v.string()), date: v.string(), downloads: v.number() })),
})
type Series = v.InferOutput<typeof seriesSchema>

const metrics = {
  pypi_package_daily_downloads: { help: 'Downloads of the package on one UTC day, known mirrors excluded, as pypistats.org counts them; timestamped 00:00 UTC of its day (history path).', labels: ['package'] },
  pypi_package_daily_downloads_by_python: { help: 'Downloads of the package on one UTC day by Python minor version (3.12, ...; unknown when the installer did not say); history path.', labels: ['package', 'python'] },
  pypi_package_daily_downloads_by_system: { help: 'Downloads of the package on one UTC day by operating system (Linux, Windows, Darwin, other, unknown); history path.', labels: ['package', 'system'] },
  pypi_package_downloads_last_day: { help: 'Downloads of the package on the last day pypistats.org has counted, mirrors excluded.', labels: ['package'] },
  pypi_package_downloads_last_week: { help: 'Downloads of the package in the last 7 days pypistats.org has counted, mirrors excluded.', labels: ['package'] },
  pypi_package_downloads_last_month: { help: 'Downloads of the package in the last 30 days pypistats.org has counted, mirrors excluded.', labels: ['package'] },
  pypi_package_last_counted_day_timestamp_seconds: { help: 'Unix time of 00:00 UTC of the last day pypistats.org has counted for the package.', labels: ['package'] },
} as const

const secondsOf = (isoDate: string) => Date.parse(`${isoDate}T00:00:00Z`) / 1000
const categoryLabel = (category: string | null) => (category === null || category === 'null' ? 'unknown' : category)

async function series(ctx: CollectorContext, api: string, name: string, path: string): Promise<Series> {
  const url = `${api}/api/packages/${name}/${path}`
  try {
    return expectShape(seriesSchema, (await ctx.http.getJson(url)).body, url)
  } catch (error) {
    throw error instanceof HttpError && error.status === 404 ? new NotFoundError(url, `pypistats.org has no package '${name}'`) : error
  }
}

/** The three series of a package (3 requests), as history samples from `from` on, and its days without mirrors. */
async function dailyDownloads(ctx: CollectorContext, name: string, from: number): Promise<{ samples: HistorySample[]; days: { date: string; downloads: number }[] }> {
  const api = (ctx.setting('PYPISTATS_API_URL') ?? 'https://pypistats.org').replace(/\/+$/, '')
  const overall = await series(ctx, api, name, 'overall?mirrors=false')
  const python = await series(ctx, api, name, 'python_minor')
  const system = await series(ctx, api, name, 'system')
  const days = overall.data.filter((d) => d.category === 'without_mirrors').sort((a, b) => a.date.localeCompare(b.date))
  const samples: HistorySample[] = []
  const add = (metric: string, labels: Record<string, string>, date: string, value: number) => {
    if (secondsOf(date) >= from) samples.push({ name: metric, labels, timestampSeconds: secondsOf(date), value })
  }
  for (const d of days) add('pypi_package_daily_downloads', { package: name }, d.date, d.downloads)
  for (const d of python.data) add('pypi_package_daily_downloads_by_python', { package: name, python: categoryLabel(d.category) }, d.date, d.downloads)
  for (const d of system.data) add('pypi_package_daily_downloads_by_system', { package: name, system: categoryLabel(d.category) }, d.date, d.downloads)
  return { samples, days }
}

export default defineCollector({
  name: 'pypi',
  description: 'PyPI: downloads per day of packages (pypistats.org, 180 days kept upstream), by Python version and system',
  schedule: '0 7 * * *', // pypistats.org loads a UTC day from BigQuery once a day
  targets: projectName,
  example: 'requests',
  rateLimitHint: 'pypistats.org allows 5 requests a second and 30 a minute per address; run less often or with fewer packages',
  // https://pypistats.org/api: "rate limited to 5 requests per second and 30 requests per minute" per address.
  requestRate: [
    { requests: 5, seconds: 1 },
    { requests: 30, seconds: 60 },
  ],
  metrics,
  async collect(target, ctx) {
    const { samples, days } = await dailyDownloads(ctx, target.id, 0)
    const labels = { package: target.id }
    const sum = (n: number) => days.slice(-n).reduce((total, d) => total + d.downloads, 0)
    const last = days[days.length - 1]
    ctx.metrics.gauge('pypi_package_downloads_last_day', last?.downloads, labels)
    ctx.metrics.gauge('pypi_package_downloads_last_week', last && sum(7), labels)
    ctx.metrics.gauge('pypi_package_downloads_last_month', last && sum(30), labels)
    ctx.metrics.gauge('pypi_package_last_counted_day_timestamp_seconds', last && secondsOf(last.date), labels)
    // Every run writes all the days pypistats.org still has: past 180 days they exist only here.
    await ctx.history.write(samples)
  },
  async history(target, ctx) {
    const { samples } = await dailyDownloads(ctx, target.id, ctx.since ?? 0)
    await ctx.history.write(samples)
    if (samples.length) await ctx.progress.set(`pypi/${target.id}`, Math.max(...samples.map((s) => s.timestampSeconds)))
  },
})
