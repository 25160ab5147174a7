// collectors/github-history-stars.ts: a repository's stars on each past day. GitHub's star-history endpoint
// (GET /repos/{owner}/{repo}/stargazers/history, changelog 2026-09-04) answers per week, newest week first, 30 weeks a
// page, the stars given each day that are still there, with no stargazer named. Where it is absent (404: GitHub
// Enterprise Server), the stargazer list with each star's time stands in; GitHub.com answers that list only to
// admins and collaborators since 2026-06-30.
import * as v from 'valibot'
import type { Api } from './github-client.ts'
import { DailyCount } from './github-history-days.ts'
import { BudgetSpent, walk, type BilledQuery } from './github-history-graphql.ts'
import type { HistoryContext } from './runtime/define.ts'
import { HttpError } from './runtime/errors.ts'
import type { MetricSpecs } from './runtime/metrics.ts'
import { expectShape } from './runtime/shape.ts'

const day = 86_400

/** One week of the endpoint's answer: `week` is the Unix time its first day starts, `days` its seven days' stars. */
const weekSchema = v.object({ week: v.number(), total: v.number(), days: v.pipe(v.array(v.number()), v.length(7, 'must list the 7 days of the week')) })

/** GitHub pages the history 30 weeks at a time (its maximum). */
export const weeksPerPage = 30

type StarsContext = Pick<HistoryContext<MetricSpecs>, 'http' | 'log'>

export interface StarsRequest {
  api: Api
  token: string
  owner: string
  repository: string
  billed: BilledQuery
}

function remainingOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers['x-ratelimit-remaining']
  const number = Number(Array.isArray(value) ? value[0] : value)
  return value === undefined || !Number.isFinite(number) ? undefined : number
}

/** Stars per day from the star-history endpoint; undefined when the server has no such endpoint (404). */
async function fromHistoryEndpoint(ctx: StarsContext, request: StarsRequest): Promise<DailyCount | undefined> {
  const { api, owner, repository, billed } = request
  const stars = new DailyCount()
  const first = `${api.rest}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repository)}/stargazers/history?per_page=${weeksPerPage}&page=1`
  const headers = { accept: 'application/vnd.github+json', 'x-github-api-version': '2026-03-10', authorization: `bearer ${request.token}` }
  if (!billed.budget.fits('rest', 1)) throw new BudgetSpent('stars')
  let pages = 0
  try {
    for await (const page of ctx.http.pages(first, { headers })) {
      pages++
      ctx.http.spend(1)
      billed.budget.record('rest', 1, remainingOf(page.headers))
      for (const week of expectShape(v.array(weekSchema), page.body, page.url)) {
        // A day's stars count from the midnight after it: the sample of a day holds the value at its 00:00 UTC.
        week.days.forEach((given, index) => given && stars.addFrom(Math.floor((week.week + index * day) / day) * day + day, given))
      }
      if (!billed.budget.fits('rest', 1) && /rel="next"/.test(String(page.headers.link ?? ''))) throw new BudgetSpent('stars')
    }
  } catch (error) {
    if (error instanceof HttpError && error.status === 404 && pages === 0) return undefined
    throw error
  }
  return stars
}

/** Stars per day from the stargazer list, each star's `starredAt`, 100 a page (one GraphQL point each). */
async function fromStargazerList(request: StarsRequest): Promise<DailyCount> {
  const stars = new DailyCount()
  for await (const edges of walk<{ starredAt: string }>(request.billed, 'stargazers', request.owner, request.repository)) {
    for (const edge of edges) stars.at(Date.parse(edge.starredAt) / 1000)
  }
  return stars
}

/** The repository's stars as a count per day; says in the log when it reads the stargazer list instead. */
export async function starsPerDay(ctx: StarsContext, request: StarsRequest): Promise<DailyCount> {
  const stars = await fromHistoryEndpoint(ctx, request)
  if (stars) return stars
  ctx.log.warn(
    'this GitHub has no star-history endpoint (404 at /repos/{owner}/{repo}/stargazers/history: GitHub Enterprise Server); reading the stargazer list with each star’s time instead, which GitHub answers only to admins and collaborators of the repository',
    { owner: request.owner, repository: request.repository, api: request.api.rest },
  )
  return fromStargazerList(request)
}

/** What reading the stars costs: REST requests (one per 30 weeks since creation) or, without the endpoint, GraphQL points. */
export function starRequests(createdSeconds: number, nowSeconds: number): number {
  return Math.max(1, Math.ceil((Math.floor((nowSeconds - createdSeconds) / (7 * day)) + 2) / weeksPerPage))
}
