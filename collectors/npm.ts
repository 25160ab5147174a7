// collectors/npm.ts: downloads per day of npm packages (npm's download-counts API), back to each package's first day.
import * as v from 'valibot'
import { defineCollector, soloRun, type CollectorContext, type RunShared, type Target } from './runtime/define.ts'
import { HttpError, NotFoundError } from './runtime/errors.ts'
import type { HistorySample } from './runtime/history.ts'
import { expectShape } from './runtime/shape.ts'

/** npm's rules for a package name (lower case, URL-safe, an optional @scope/). */
const packageName = v.pipe(
  v.string('must be an npm package name (prom-client, or @scope/name)'),
  v.regex(/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/, 'must be an npm package name, lower case (prom-client, or @scope/name)'),
  v.maxLength(214, 'must be at most 214 characters (npm refuses longer names)'),
  v.transform((id) => ({ id })),
)

const rangeSchema = v.object({
  start: v.string(),
  end: v.string(),
  package: v.string(),
  downloads: v.array(v.object({ day: v.string(), downloads: v.number() })),
})
type Range = v.InferOutput<typeof rangeSchema>
const bulkSchema = v.record(v.string(), v.nullable(rangeSchema))

const day = 86_400
/** The first day npm has counts for. */
export const firstCountedDay = Date.parse('2015-01-10T00:00:00Z') / 1000
/** npm's limits: a bulk query names at most 128 packages and 365 days; any other query at most 18 months (540 days here, to stay inside). */
export const bulkPackages = 128
export const bulkDays = 365
export const singleDays = 540

const isoDay = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10)
const secondsOf = (isoDate: string) => Date.parse(`${isoDate}T00:00:00Z`) / 1000

/** The unscoped targets of the run in groups of at most 128 (npm's bulk form does not take scoped names). */
function bulkGroup(run: RunShared, name: string): string[] | undefined {
  if (name.startsWith('@')) return undefined
  const unscoped = [...new Set(run.targets.map((t: Target) => t.id).filter((id) => !id.startsWith('@')))]
  if (unscoped.length < 2) return undefined // one name is the single form, whose answer is not keyed by package
  const index = unscoped.indexOf(name)
  if (index < 0) return undefined
  const start = Math.floor(index / bulkPackages) * bulkPackages
  return unscoped.slice(start, start + bulkPackages)
}

/** The days of `name` in `period` (last-month, or start:end), through the bulk form when the run has other unscoped packages. */
async function rangeOf(ctx: CollectorContext, api: string, name: string, period: string): Promise<Range> {
  const run = ctx.run ?? soloRun({ id: name })
  const group = bulkGroup(run, name)
  if (!group) {
    const url = `${api}/downloads/range/${period}/${name}`
    const answer = await ctx.http.getJson(url).catch((error: unknown) => {
      throw error instanceof HttpError && error.status === 404 ? new NotFoundError(url, `npm has no package '${name}'`) : error
    })
    return expectShape(rangeSchema, answer.body, url)
  }
  const url = `${api}/downloads/range/${period}/${group.join(',')}`
  const bulk = await run.once(url, async () => expectShape(bulkSchema, (await ctx.http.getJson(url)).body, url))
  const range = bulk[name]
  if (!range) throw new NotFoundError(url, `npm has no package '${name}'`)
  return range
}

const metrics = {
  npm_package_daily_downloads: { help: 'Downloads of the package on one UTC day, as npm counts them; each sample is timestamped 00:00 UTC of its day (history path).', labels: ['package'] },
  npm_package_downloads_last_day: { help: 'Downloads of the package on the last day npm has counted (usually yesterday, UTC).', labels: ['package'] },
  npm_package_downloads_last_week: { help: 'Downloads of the package in the last 7 days npm has counted.', labels: ['package'] },
  npm_package_downloads_last_month: { help: 'Downloads of the package in the last 30 days npm has counted.', labels: ['package'] },
  npm_package_last_counted_day_timestamp_seconds: { help: 'Unix time of 00:00 UTC of the last day npm has counted for the package.', labels: ['package'] },
} as const

const samplesOf = (name: string, days: Range['downloads'], from: number): HistorySample[] =>
  days.filter((d) => secondsOf(d.day) >= from).map((d) => ({ name: 'npm_package_daily_downloads', labels: { package: name }, timestampSeconds: secondsOf(d.day), value: d.downloads }))

export default defineCollector({
  name: 'npm',
  description: 'npm: downloads per day of packages, with their history since the first day',
  schedule: '0 6 * * *', // npm counts a UTC day soon after midnight
  targets: packageName,
  example: 'prom-client',
  rateLimitHint: 'npm documents no rate, but answers 429 when asked too often; run less often',
  metrics,
  async collect(target, ctx) {
    const api = (ctx.setting('NPM_API_URL') ?? 'https://api.npmjs.org').replace(/\/+$/, '')
    const range = await rangeOf(ctx, api, target.id, 'last-month')
    const days = range.downloads
    const labels = { package: target.id }
    const sum = (n: number) => days.slice(-n).reduce((total, d) => total + d.downloads, 0)
    ctx.metrics.gauge('npm_package_downloads_last_day', days.length ? days[days.length - 1]!.downloads : undefined, labels)
    ctx.metrics.gauge('npm_package_downloads_last_week', days.length ? sum(7) : undefined, labels)
    ctx.metrics.gauge('npm_package_downloads_last_month', days.length ? sum(30) : undefined, labels)
    ctx.metrics.gauge('npm_package_last_counted_day_timestamp_seconds', days.length ? secondsOf(days[days.length - 1]!.day) : undefined, labels)
    await ctx.history.write(samplesOf(target.id, days, 0))
  },
  /** Every day since the package's first downloads, 365 days a request for unscoped packages (bulk), 540 for scoped ones. */
  async history(target, ctx) {
    const api = (ctx.setting('NPM_API_URL') ?? 'https://api.npmjs.org').replace(/\/+$/, '')
    const key = `npm/${target.id}`
    const written = await ctx.progress.get(key)
    const today = Math.floor(ctx.now() / 1000 / day) * day
    const from = Math.max(firstCountedDay, ctx.since === undefined ? 0 : Math.floor(ctx.since / day) * day, written === undefined ? 0 : written + day)
    const bulk = bulkGroup(ctx.run ?? soloRun(target), target.id) !== undefined
    const span = bulk ? bulkDays : singleDays
    // Windows on a fixed grid from npm's first day, so that every target of a bulk group asks the same ones.
    let windowStart = firstCountedDay + Math.floor((from - firstCountedDay) / (span * day)) * span * day
    let started = written !== undefined
    for (; windowStart <= today; windowStart += span * day) {
      const windowEnd = Math.min(windowStart + (span - 1) * day, today)
      const range = await rangeOf(ctx, api, target.id, `${isoDay(windowStart)}:${isoDay(windowEnd)}`)
      let days = range.downloads.filter((d) => secondsOf(d.day) >= from)
      // Before its first download the package did not exist: npm answers 0 for those days, which are not history.
      if (!started) {
        const first = days.findIndex((d) => d.downloads > 0)
        days = first < 0 ? [] : days.slice(first)
      }
      if (days.length) {
        started = true
        await ctx.history.write(samplesOf(target.id, days, from))
        await ctx.progress.set(key, secondsOf(days[days.length - 1]!.day))
      }
    }
  },
})
