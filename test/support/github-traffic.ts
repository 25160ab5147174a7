// The fake GitHub's traffic endpoints (REST /repos/{owner}/{repo}/traffic/...), in the shapes GitHub documents
// (docs.github.com/rest/metrics/traffic): per-day views and clones of a 14-day window ending on the fake's own
// "today", the top 10 referrers and paths, and 403 for a token without push access, as GitHub answers it.
import type { Reply } from './servers.ts'

export type Permission = 'ADMIN' | 'MAINTAIN' | 'WRITE' | 'TRIAGE' | 'READ'

export interface TrafficCount {
  count: number
  uniques: number
}

export interface RepositoryTraffic {
  /** Per UTC day (YYYY-MM-DD); a day not listed had no views. GitHub lists only days with traffic. */
  views: Record<string, TrafficCount>
  clones: Record<string, TrafficCount>
  referrers: ({ referrer: string } & TrafficCount)[]
  paths: ({ path: string; title: string } & TrafficCount)[]
}

export interface TrafficData {
  /** The UTC day (YYYY-MM-DD) GitHub's window ends on: it answers that day and the 13 before. Default: today. */
  today?: string
  /** Each token's permission on every repository (GraphQL viewerPermission); a token not listed has READ. */
  permissions?: Record<string, Permission>
  /** Fine-grained tokens without "Administration: read": traffic answers them 403 whatever their permission. */
  withoutAdministration?: string[]
  /** Per "owner/repository"; a repository not listed has no traffic at all. */
  repositories: Record<string, RepositoryTraffic>
}

const docs = 'https://docs.github.com/rest/metrics/traffic'
const pushPermissions: Permission[] = ['ADMIN', 'MAINTAIN', 'WRITE']
const dayMs = 86_400_000

/** The permission GraphQL's viewerPermission reports for `token` (READ: a token that may only read public repositories). */
export function permissionOf(traffic: TrafficData | undefined, token: string | undefined): Permission {
  return (token && traffic?.permissions?.[token]) || 'READ'
}

/** YYYY-MM-DD of a Unix time in milliseconds (UTC). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** The 14 days (YYYY-MM-DD) GitHub answers for when its today is `today`, oldest first. */
export function windowOf(today: string): string[] {
  const end = Date.parse(`${today}T00:00:00Z`)
  return Array.from({ length: 14 }, (_, index) => dayOf(end - (13 - index) * dayMs))
}

/** Deterministic daily counts for `days` days ending on `last`, some days with no traffic (left out, as GitHub does). */
export function generatedDays(seed: number, last: string, days: number): Record<string, TrafficCount> {
  const end = Date.parse(`${last}T00:00:00Z`)
  const out: Record<string, TrafficCount> = {}
  for (let index = 0; index < days; index++) {
    const n = (seed * 7919 + index * 104_729) % 97
    if (n % 11 === 0) continue // a quiet day: GitHub does not list it
    out[dayOf(end - index * dayMs)] = { count: 10 + n * 3, uniques: 1 + (n % 10) }
  }
  return out
}

function perDay(days: Record<string, TrafficCount>, window: string[], per: string | null): { totals: TrafficCount; entries: ({ timestamp: string } & TrafficCount)[] } {
  const inWindow = window.filter((day) => days[day] && days[day].count > 0)
  const totals = inWindow.reduce((sum, day) => ({ count: sum.count + days[day]!.count, uniques: sum.uniques + days[day]!.uniques }), { count: 0, uniques: 0 })
  if (per !== 'week') return { totals, entries: inWindow.map((day) => ({ timestamp: `${day}T00:00:00Z`, ...days[day]! })) }
  // Weeks begin on Monday, timestamps at the week's first day, 00:00 UTC.
  const weeks = new Map<string, TrafficCount>()
  for (const day of inWindow) {
    const ms = Date.parse(`${day}T00:00:00Z`)
    const monday = dayOf(ms - ((new Date(ms).getUTCDay() + 6) % 7) * dayMs)
    const week = weeks.get(monday) ?? { count: 0, uniques: 0 }
    weeks.set(monday, { count: week.count + days[day]!.count, uniques: week.uniques + days[day]!.uniques })
  }
  return { totals, entries: [...weeks].map(([monday, counts]) => ({ timestamp: `${monday}T00:00:00Z`, ...counts })) }
}

/**
 * The answer to a traffic request, or undefined when `pathname` is not one. `exists` says whether the fake has the
 * repository (404 otherwise, as for any repository path).
 */
export function answerTraffic(
  traffic: TrafficData | undefined,
  url: URL,
  token: string | undefined,
  headers: Record<string, string>,
  exists: (owner: string, repository: string) => boolean,
): Reply | undefined {
  const match = /^\/repos\/([^/]+)\/([^/]+)\/traffic\/(views|clones|popular\/referrers|popular\/paths)$/.exec(url.pathname)
  if (!match) return undefined
  const [, owner, name, kind] = match.map((part) => decodeURIComponent(part)) as [string, string, string, string]
  const anchor = { views: 'get-page-views', clones: 'get-repository-clones', 'popular/referrers': 'get-top-referral-sources', 'popular/paths': 'get-top-referral-paths' }[kind]
  if (!exists(owner, name)) return { status: 404, headers, body: { message: 'Not Found', documentation_url: `${docs}#${anchor}`, status: '404' } }
  if (!token || !pushPermissions.includes(permissionOf(traffic, token))) {
    return { status: 403, headers, body: { message: 'Must have push access to repository', documentation_url: `${docs}#${anchor}`, status: '403' } }
  }
  if (traffic?.withoutAdministration?.includes(token)) {
    return { status: 403, headers, body: { message: 'Resource not accessible by personal access token', documentation_url: `${docs}#${anchor}`, status: '403' } }
  }
  const key = Object.keys(traffic?.repositories ?? {}).find((k) => k.toLowerCase() === `${owner}/${name}`.toLowerCase())
  const data: RepositoryTraffic = (key && traffic?.repositories[key]) || { views: {}, clones: {}, referrers: [], paths: [] }
  const window = windowOf(traffic?.today ?? dayOf(Date.now()))
  const per = url.searchParams.get('per')
  if (kind === 'views') {
    const { totals, entries } = perDay(data.views, window, per)
    return { status: 200, headers, body: { ...totals, views: entries } }
  }
  if (kind === 'clones') {
    const { totals, entries } = perDay(data.clones, window, per)
    return { status: 200, headers, body: { ...totals, clones: entries } }
  }
  const top = <T extends TrafficCount>(items: T[]) => [...items].sort((a, b) => b.count - a.count).slice(0, 10)
  if (kind === 'popular/referrers') return { status: 200, headers, body: top(data.referrers).map(({ referrer, count, uniques }) => ({ referrer, count, uniques })) }
  return { status: 200, headers, body: top(data.paths).map(({ path, title, count, uniques }) => ({ path, title, count, uniques })) }
}
