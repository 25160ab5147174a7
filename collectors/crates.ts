// collectors/crates.ts: downloads of Rust crates from crates.io: totals per crate and version, and per day (the last 90 days).
import * as v from 'valibot'
import { defineCollector, type CollectorContext } from './runtime/define.ts'
import { HttpError, NotFoundError } from './runtime/errors.ts'
import type { HistorySample } from './runtime/history.ts'
import { expectShape } from './runtime/shape.ts'

const crateName = v.pipe(
  v.string('must be a crate name (serde)'),
  v.regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'must be a crate name: a letter, then letters, digits, - or _, at most 64 (serde, tokio-util)'),
  v.transform((id) => ({ id })),
)

const crateSchema = v.object({
  crate: v.object({ name: v.string(), downloads: v.number(), recent_downloads: v.nullish(v.number()) }),
  versions: v.nullish(v.array(v.object({ id: v.number(), num: v.string(), downloads: v.number() }))),
})
const downloadsSchema = v.object({
  version_downloads: v.array(v.object({ version: v.number(), downloads: v.number(), date: v.string() })),
  meta: v.object({ extra_downloads: v.nullish(v.array(v.object({ date: v.string(), downloads: v.number() }))) }),
})

const metrics = {
  crates_crate_downloads: { help: 'Downloads of the crate since it was published, as crates.io counts them.', labels: ['crate'] },
  crates_crate_recent_downloads: { help: 'Downloads of the crate in the last 90 days, as crates.io counts them.', labels: ['crate'] },
  crates_version_downloads: { help: 'Downloads of one version of the crate since it was published.', labels: ['crate', 'version'] },
  crates_crate_daily_downloads: { help: 'Downloads of the crate on one UTC day (all versions); timestamped 00:00 UTC of its day (history path).', labels: ['crate'] },
  crates_version_daily_downloads: {
    help: 'Downloads of one version of the crate on one UTC day; the versions crates.io does not list one by one are summed as version="other" (history path).',
    labels: ['crate', 'version'],
  },
} as const

const secondsOf = (isoDate: string) => Date.parse(`${isoDate.slice(0, 10)}T00:00:00Z`) / 1000
/** crates.io's crawler policy asks for a User-Agent that says who is asking; CRATES_USER_AGENT adds a contact. */
const defaultUserAgent = 'activity-platform (crates.io download collector; set CRATES_USER_AGENT to add a contact)'

async function getShaped<T>(ctx: CollectorContext, url: string, schema: v.GenericSchema<unknown, T>, crate: string): Promise<T> {
  const headers = { 'user-agent': ctx.setting('CRATES_USER_AGENT') ?? defaultUserAgent }
  try {
    return expectShape(schema, (await ctx.http.getJson(url, { headers })).body, url)
  } catch (error) {
    throw error instanceof HttpError && error.status === 404 ? new NotFoundError(url, `crates.io has no crate '${crate}'`) : error
  }
}

/** The crate's totals, and its days (per crate and per version) from `from` on, as history samples: 2 requests. */
async function downloads(ctx: CollectorContext, crate: string, from: number) {
  const api = (ctx.setting('CRATES_API_URL') ?? 'https://crates.io').replace(/\/+$/, '')
  const info = await getShaped(ctx, `${api}/api/v1/crates/${crate}`, crateSchema, crate)
  const daily = await getShaped(ctx, `${api}/api/v1/crates/${crate}/downloads`, downloadsSchema, crate)
  const versionNames = new Map((info.versions ?? []).map((version) => [version.id, version.num]))
  const perDay = new Map<number, number>()
  const perVersionDay = new Map<string, number>()
  const count = (version: string, date: string, value: number) => {
    const at = secondsOf(date)
    if (at < from) return
    perDay.set(at, (perDay.get(at) ?? 0) + value)
    const key = `${version}\u0000${at}`
    perVersionDay.set(key, (perVersionDay.get(key) ?? 0) + value)
  }
  for (const d of daily.version_downloads) count(versionNames.get(d.version) ?? String(d.version), d.date, d.downloads)
  for (const d of daily.meta.extra_downloads ?? []) count('other', d.date, d.downloads)
  const samples: HistorySample[] = [...perDay].map(([at, value]) => ({ name: 'crates_crate_daily_downloads', labels: { crate }, timestampSeconds: at, value }))
  for (const [key, value] of perVersionDay) {
    const [version, at] = key.split('\u0000') as [string, string]
    samples.push({ name: 'crates_version_daily_downloads', labels: { crate, version }, timestampSeconds: Number(at), value })
  }
  return { info, samples }
}

export default defineCollector({
  name: 'crates',
  description: 'crates.io: downloads of crates, in total, per version and per day (the last 90 days)',
  schedule: '0 8 * * *',
  targets: crateName,
  example: 'serde',
  rateLimitHint: 'crates.io asks crawlers for at most one request a second; run less often',
  // https://crates.io/data-access: "a maximum of 1 request per second" for API crawlers.
  requestRate: [{ requests: 1, seconds: 1 }],
  metrics,
  async collect(target, ctx) {
    const { info, samples } = await downloads(ctx, target.id, 0)
    ctx.metrics.gauge('crates_crate_downloads', info.crate.downloads, { crate: target.id })
    ctx.metrics.gauge('crates_crate_recent_downloads', info.crate.recent_downloads, { crate: target.id })
    for (const version of info.versions ?? []) ctx.metrics.gauge('crates_version_downloads', version.downloads, { crate: target.id, version: version.num })
    await ctx.history.write(samples)
  },
  async history(target, ctx) {
    const { samples } = await downloads(ctx, target.id, ctx.since ?? 0)
    await ctx.history.write(samples)
    if (samples.length) await ctx.progress.set(`crates/${target.id}`, Math.max(...samples.map((s) => s.timestampSeconds)))
  },
})
