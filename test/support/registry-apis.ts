// Local npm, pypistats.org and crates.io APIs: the endpoints the registry collectors read, answered in the shapes and
// with the limits each registry documents. A request beyond a documented limit is refused (400), so that a collector
// that breaks one fails its test instead of being silently truncated as the real API would.
import { startApiServer, type ApiServer, type RecordedRequest, type Reply } from './servers.ts'

export interface Day {
  date: string
  downloads: number
}

const dayMs = 86_400_000
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)
export const dayMsOf = (date: string) => Date.parse(`${date}T00:00:00Z`)

/** Consecutive days from `first` to `last`, each with `downloads(index)`. */
export function days(first: string, last: string, downloads: (index: number) => number): Day[] {
  const out: Day[] = []
  for (let at = dayMsOf(first), i = 0; at <= dayMsOf(last); at += dayMs, i++) out.push({ date: isoDay(at), downloads: downloads(i) })
  return out
}

// ---------------------------------------------------------------------------------------------------------------- npm

export interface NpmData {
  /** Package → its days since it was published (days before are counted 0, as npm answers). */
  packages: Record<string, Day[]>
  /** The last day npm has counted (last-month ends there). */
  lastDay: string
}

const npmFirstDay = '2015-01-10'

function npmRange(data: NpmData, name: string, start: string, end: string) {
  const known = new Map(data.packages[name]!.map((d) => [d.date, d.downloads]))
  const from = start < npmFirstDay ? npmFirstDay : start
  const to = end > data.lastDay ? data.lastDay : end
  const downloads = from > to ? [] : days(from, to, () => 0).map((d) => ({ day: d.date, downloads: known.get(d.date) ?? 0 }))
  return { start: from, end: to, package: name, downloads }
}

/** GET /downloads/range/{period}/{package or a,b,c} as api.npmjs.org answers it (docs/download-counts.md of npm/registry). */
export function npmReply(data: NpmData, request: RecordedRequest): Reply {
  const match = /^\/downloads\/range\/([^/]+)\/(.+)$/.exec(new URL(request.url, 'http://npm.invalid').pathname)
  if (!match) return { status: 404, body: { error: 'not found' } }
  const [, period, names] = match as unknown as [string, string, string]
  let start: string
  let end: string
  const spans: Record<string, number> = { 'last-day': 1, 'last-week': 7, 'last-month': 30, 'last-year': 365 }
  if (spans[period]) {
    end = data.lastDay
    start = isoDay(dayMsOf(end) - (spans[period]! - 1) * dayMs)
  } else {
    const range = /^(\d{4}-\d{2}-\d{2}):(\d{4}-\d{2}-\d{2})$/.exec(period)
    if (!range) return { status: 400, body: { error: `invalid period ${period}` } }
    ;[, start, end] = range as unknown as [string, string, string]
  }
  const spanDays = (dayMsOf(end) - dayMsOf(start)) / dayMs + 1
  const list = names.split(',')
  if (list.length > 1) {
    if (list.length > 128) return { status: 400, body: { error: 'bulk queries are limited to at most 128 packages' } }
    if (list.some((n) => n.startsWith('@'))) return { status: 400, body: { error: 'scoped packages are not supported in bulk queries' } }
    if (spanDays > 365) return { status: 400, body: { error: 'bulk range queries are limited to at most 365 days of data' } }
    return { body: Object.fromEntries(list.map((n) => [n, data.packages[n] ? npmRange(data, n, start, end) : null])) }
  }
  // 18 months: npm truncates silently; this fake refuses, so that a longer request fails the test.
  if (spanDays > 549) return { status: 400, body: { error: 'range queries are limited to at most 18 months of data' } }
  if (!data.packages[names]) return { status: 404, body: { error: `package ${names} not found` } }
  return { body: npmRange(data, names, start, end) }
}

// ---------------------------------------------------------------------------------------------------------- pypistats

export interface PypiDay extends Day {
  /** Downloads by Python minor version ('3.12', 'null'); they sum to `downloads`. */
  python: Record<string, number>
  /** Downloads by system ('Linux', 'Windows', 'Darwin', 'other', 'null'). */
  system: Record<string, number>
  /** Downloads from known mirrors, left out unless asked. */
  mirrors: number
}

export interface PypiData {
  packages: Record<string, PypiDay[]>
}

/** A day of `downloads`, split over Python versions and systems (deterministically). */
export function pypiDay(date: string, downloads: number): PypiDay {
  const third = Math.floor(downloads / 3)
  return {
    date,
    downloads,
    python: downloads ? { '3.12': downloads - 2 * third, '3.11': third, null: third } : {},
    system: downloads ? { Linux: downloads - third, Windows: third } : {},
    mirrors: downloads ? 5 : 0,
  }
}

/** GET /api/packages/{package}/{overall,python_minor,system} as pypistats.org answers it (https://pypistats.org/api). */
export function pypiReply(data: PypiData, request: RecordedRequest): Reply {
  const url = new URL(request.url, 'http://pypi.invalid')
  const match = /^\/api\/packages\/([^/]+)\/(overall|python_minor|system)$/.exec(url.pathname)
  if (!match) return { status: 404, body: { message: 'Not Found' } }
  const [, name, kind] = match as unknown as [string, string, string]
  const packageDays = data.packages[name]
  if (!packageDays) return { status: 404, body: { message: 'Not Found' } }
  const rows: { category: string; date: string; downloads: number }[] = []
  for (const d of packageDays) {
    if (kind === 'overall') {
      rows.push({ category: 'without_mirrors', date: d.date, downloads: d.downloads })
      if (url.searchParams.get('mirrors') !== 'false') rows.push({ category: 'with_mirrors', date: d.date, downloads: d.downloads + d.mirrors })
    } else {
      for (const [category, downloads] of Object.entries(kind === 'system' ? d.system : d.python)) rows.push({ category, date: d.date, downloads })
    }
  }
  return { body: { data: rows, package: name, type: `${kind}_downloads` } }
}

// ----------------------------------------------------------------------------------------------------------- crates.io

export interface CrateData {
  downloads: number
  recent_downloads: number
  versions: { id: number; num: string; downloads: number }[]
  /** Per version and day (the versions crates.io lists one by one). */
  version_downloads: { version: number; date: string; downloads: number }[]
  /** The other versions, summed per day. */
  extra_downloads: Day[]
}

export interface CratesData {
  crates: Record<string, CrateData>
}

/** GET /api/v1/crates/{crate} and /api/v1/crates/{crate}/downloads as crates.io answers them. */
export function cratesReply(data: CratesData, request: RecordedRequest): Reply {
  // crates.io's data-access policy: requests without a User-Agent are refused.
  if (!request.headers['user-agent']) return { status: 403, body: { errors: [{ detail: 'We require that all requests include a `User-Agent` header.' }] } }
  const match = /^\/api\/v1\/crates\/([^/]+)(\/downloads)?$/.exec(new URL(request.url, 'http://crates.invalid').pathname)
  const crate = match && data.crates[match[1]!]
  if (!match || !crate) return { status: 404, body: { errors: [{ detail: `crate \`${match?.[1]}\` does not exist` }] } }
  if (match[2]) {
    return {
      body: {
        version_downloads: crate.version_downloads.map((d) => ({ version: d.version, downloads: d.downloads, date: d.date })),
        meta: { extra_downloads: crate.extra_downloads.map((d) => ({ date: d.date, downloads: d.downloads })) },
      },
    }
  }
  return {
    body: {
      crate: { id: match[1], name: match[1], downloads: crate.downloads, recent_downloads: crate.recent_downloads, max_version: crate.versions[0]?.num ?? '0.0.0' },
      versions: crate.versions.map((v) => ({ ...v, crate: match[1], yanked: false })),
      keywords: [],
      categories: [],
    },
  }
}

// -------------------------------------------------------------------------------------------------------------- start

export type Registry = 'npm' | 'pypi' | 'crates'

export interface RegistryApi extends ApiServer {
  /** When each request arrived (ms), to check a documented rate was kept. */
  times: number[]
}

/** Starts one registry's fake. `intercept` may answer first (a 429 with retry-after); undefined lets the normal answer through. */
export async function startRegistryApi(
  registry: 'npm',
  data: NpmData,
  intercept?: (request: RecordedRequest, index: number) => Reply | undefined,
): Promise<RegistryApi>
export async function startRegistryApi(registry: 'pypi', data: PypiData, intercept?: (request: RecordedRequest, index: number) => Reply | undefined): Promise<RegistryApi>
export async function startRegistryApi(registry: 'crates', data: CratesData, intercept?: (request: RecordedRequest, index: number) => Reply | undefined): Promise<RegistryApi>
export async function startRegistryApi(
  registry: Registry,
  data: NpmData | PypiData | CratesData,
  intercept?: (request: RecordedRequest, index: number) => Reply | undefined,
): Promise<RegistryApi> {
  const times: number[] = []
  let index = 0
  const answer = (request: RecordedRequest): Reply => {
    if (registry === 'npm') return npmReply(data as NpmData, request)
    if (registry === 'pypi') return pypiReply(data as PypiData, request)
    return cratesReply(data as CratesData, request)
  }
  const server = await startApiServer((request) => {
    times.push(Date.now())
    return intercept?.(request, index++) ?? answer(request)
  })
  return Object.assign(server, { times })
}

/** The most requests any window of `seconds` held. */
export function busiestWindow(times: readonly number[], seconds: number): number {
  let most = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= seconds * 1000) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}
