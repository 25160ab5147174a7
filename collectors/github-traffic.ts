// collectors/github-traffic.ts: GitHub's traffic of the repositories a token may push to (views and clones per day, top
// referrers and paths), part of the github collector's run. GitHub keeps traffic for 14 days; the days go into the
// history path with their own timestamps, so the platform keeps them for good.
import * as v from 'valibot'
import type { CollectorContext } from './runtime/define.ts'
import { HttpError, oneLine } from './runtime/errors.ts'
import type { HistorySample } from './runtime/history.ts'
import { utcDayStart } from './runtime/history.ts'
import type { MetricSpecs } from './runtime/metrics.ts'
import type { Schema } from './runtime/schema.ts'
import { expectShape } from './runtime/shape.ts'

const repositoryLabels = ['owner', 'repository'] as const
const daily = 'One sample a day, at 00:00 UTC, written through the history path once the day is over (GitHub keeps 14 days; the platform keeps them all).'

export const trafficMetrics = {
  github_repository_traffic_views: { help: `Views of the repository's pages on github.com during the UTC day the sample's timestamp starts. ${daily}`, labels: repositoryLabels },
  github_repository_traffic_unique_visitors: { help: `Distinct visitors of the repository's pages during the UTC day the sample's timestamp starts. ${daily}`, labels: repositoryLabels },
  github_repository_traffic_clones: { help: `Clones of the repository during the UTC day the sample's timestamp starts. ${daily}`, labels: repositoryLabels },
  github_repository_traffic_unique_cloners: { help: `Distinct cloners of the repository during the UTC day the sample's timestamp starts. ${daily}`, labels: repositoryLabels },
  github_repository_traffic_referrer_views: { help: "Views over the last 14 days that came from a referring site (GitHub's top 10 referrers of the repository).", labels: ['owner', 'repository', 'referrer'] },
  github_repository_traffic_referrer_unique_visitors: { help: "Distinct visitors over the last 14 days that came from a referring site (GitHub's top 10 referrers).", labels: ['owner', 'repository', 'referrer'] },
  github_repository_traffic_path_views: { help: "Views over the last 14 days of one of the repository's 10 most viewed pages (path on github.com).", labels: ['owner', 'repository', 'path'] },
  github_repository_traffic_path_unique_visitors: { help: "Distinct visitors over the last 14 days of one of the repository's 10 most viewed pages.", labels: ['owner', 'repository', 'path'] },
} as const satisfies MetricSpecs

type TrafficContext = Pick<CollectorContext<typeof trafficMetrics>, 'http' | 'metrics' | 'log' | 'now' | 'history'>

/** What GraphQL's `viewerPermission` says a token may do; traffic answers ADMIN, MAINTAIN and WRITE (push access). */
const pushPermissions = new Set(['ADMIN', 'MAINTAIN', 'WRITE'])

export interface TrafficRepository {
  owner: string
  repository: string
  /** GraphQL `viewerPermission` (null when GitHub does not say). */
  permission: string | null | undefined
}

/** The REST requests one repository costs each run: views, clones, referrers, paths. */
export const requestsPerRepository = 4
/** GitHub updates views and clones hourly: a day is written once it has been over this long, so its value is final. */
export const settleSeconds = 3 * 3600
/** Traffic stops for the run when fewer REST requests than this share of the hour's limit are left (kept for the rest). */
const reserveShare = 0.1
/** The days GitHub's answer covers: today and the 13 before it (UTC). Days it leaves out had no traffic. */
const windowDays = 14

const day = v.object({ timestamp: v.string(), count: v.number(), uniques: v.number() })
const viewsSchema = v.object({ count: v.number(), uniques: v.number(), views: v.array(day) })
const clonesSchema = v.object({ count: v.number(), uniques: v.number(), clones: v.array(day) })
const referrersSchema = v.array(v.object({ referrer: v.string(), count: v.number(), uniques: v.number() }))
const pathsSchema = v.array(v.object({ path: v.string(), title: v.optional(v.string()), count: v.number(), uniques: v.number() }))

const headers = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' }
const permissionHint = 'fine-grained token: repository permission "Administration: read"; classic token: the repo (or public_repo) scope of an account with push access'

function header(response: { headers: Record<string, string | string[] | undefined> }, name: string): number | undefined {
  const value = response.headers[name]
  const number = Number(Array.isArray(value) ? value[0] : value)
  return value === undefined || !Number.isFinite(number) ? undefined : number
}

/**
 * The days of one answer as history samples: every day of GitHub's window that has been over for `settleSeconds`,
 * a day GitHub left out written as 0 (GitHub lists only days with traffic).
 */
function daySamples(days: v.InferOutput<typeof day>[], names: { count: string; uniques: string }, labels: Record<string, string>, now: number): HistorySample[] {
  const settled = (start: number) => start + 86_400 + settleSeconds <= now
  const byDay = new Map<number, { count: number; uniques: number }>()
  const today = utcDayStart(now)
  for (let start = today - (windowDays - 1) * 86_400; settled(start); start += 86_400) byDay.set(start, { count: 0, uniques: 0 })
  for (const entry of days) {
    const start = utcDayStart(Date.parse(entry.timestamp) / 1000)
    if (Number.isFinite(start) && settled(start)) byDay.set(start, { count: entry.count, uniques: entry.uniques })
  }
  return [...byDay].flatMap(([timestampSeconds, { count, uniques }]) => [
    { name: names.count, labels, timestampSeconds, value: count },
    { name: names.uniques, labels, timestampSeconds, value: uniques },
  ])
}

/**
 * Traffic of every repository the token may push to: 4 REST requests each (REST has its own 5,000 an hour, apart from
 * GraphQL's points). Repositories without push access are not asked; a refusal (403: a fine-grained token without
 * Administration read) skips the repository. Either way one log line names them and the permission, and nothing fails.
 */
export async function collectTraffic(ctx: TrafficContext, rest: string, token: string, repositories: TrafficRepository[]): Promise<void> {
  const auth = { ...headers, authorization: `bearer ${token}` }
  const withoutPush = repositories.filter((r) => !pushPermissions.has(r.permission ?? ''))
  const refused: string[] = []
  const samples: HistorySample[] = []
  let asked = 0
  let stopped: string | undefined
  const get = async <T>(schema: Schema<T>, url: string) => {
    const answer = await ctx.http.getJson(url, { headers: auth })
    ctx.http.spend(1)
    const remaining = header(answer, 'x-ratelimit-remaining')
    const limit = header(answer, 'x-ratelimit-limit')
    if (remaining !== undefined && limit !== undefined && remaining < limit * reserveShare) stopped = `${remaining} of ${limit} REST requests left this hour`
    return expectShape(schema, answer.body, url)
  }

  for (const { owner, repository } of repositories.filter((r) => pushPermissions.has(r.permission ?? ''))) {
    if (stopped) break
    const labels = { owner, repository }
    const base = `${rest}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repository)}/traffic`
    asked++
    let views: v.InferOutput<typeof viewsSchema>
    try {
      views = await get(viewsSchema, `${base}/views?per=day`)
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) {
        refused.push(`${owner}/${repository}`)
        continue
      }
      throw error
    }
    const [clones, referrers, paths] = await Promise.all([get(clonesSchema, `${base}/clones?per=day`), get(referrersSchema, `${base}/popular/referrers`), get(pathsSchema, `${base}/popular/paths`)])
    const now = ctx.now() / 1000
    samples.push(...daySamples(views.views, { count: 'github_repository_traffic_views', uniques: 'github_repository_traffic_unique_visitors' }, labels, now))
    samples.push(...daySamples(clones.clones, { count: 'github_repository_traffic_clones', uniques: 'github_repository_traffic_unique_cloners' }, labels, now))
    // GitHub answers its top 10; slicing keeps the label values bounded should it ever send more.
    for (const { referrer, count, uniques } of referrers.slice(0, 10)) {
      ctx.metrics.gauge('github_repository_traffic_referrer_views', count, { ...labels, referrer })
      ctx.metrics.gauge('github_repository_traffic_referrer_unique_visitors', uniques, { ...labels, referrer })
    }
    for (const { path, count, uniques } of paths.slice(0, 10)) {
      ctx.metrics.gauge('github_repository_traffic_path_views', count, { ...labels, path })
      ctx.metrics.gauge('github_repository_traffic_path_unique_visitors', uniques, { ...labels, path })
    }
  }

  const unasked = withoutPush.map((r) => `${r.owner}/${r.repository}`)
  if (refused.length || unasked.length) {
    const fields = { permission: permissionHint, refused, notAsked: unasked.slice(0, 20), notAskedCount: unasked.length }
    if (refused.length) ctx.log.warn('GitHub traffic: GitHub refused the token the traffic of some repositories (403); give it the permission below to collect it', fields)
    else ctx.log.info('GitHub traffic: not asked for the repositories the token has no push access to; give it the permission below to collect it', fields)
  }
  if (stopped) ctx.log.warn('GitHub traffic stopped for this run to keep REST requests for the rest of the hour', { reason: stopped, asked, of: repositories.length - withoutPush.length })
  if (!samples.length) return
  try {
    await ctx.history.write(samples)
  } catch (error) {
    // The days stay in GitHub's 14-day window: the next run writes them. The current values still get pushed.
    ctx.log.warn('GitHub traffic days not written this run; the next run writes them while GitHub still has them', { reason: oneLine(error), samples: samples.length })
  }
}
