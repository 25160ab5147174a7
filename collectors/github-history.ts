// collectors/github-history.ts: the GitHub collector's history: for each repository of a target, its stars, issues,
// pull requests, forks, releases and commits on every day since its creation, one sample per UTC day at 00:00, under
// the names `activity collect github` pushes. Each (repository, source) is written whole, then remembered in
// ctx.progress, so a run that stops (a failure, a kill, the run's share of the rate limit spent) is continued by the
// next one without writing a day twice. Release downloads exist only as today's totals: they have no history here.
import { apiOf, explain, GitHubError, type Api } from './github-client.ts'
import { budgetSetting, budgetShareFrom, HistoryBudget, type Limit } from './github-history-budget.ts'
import { dailySamples, DailyCount, dayRange, difference, type DayRange } from './github-history-days.ts'
import { BudgetSpent, oneRepository, ownerRepositories, walk, type BilledQuery, type HistoryRepository } from './github-history-graphql.ts'
import { starRequests, starsPerDay } from './github-history-stars.ts'
import type { HistoryContext } from './runtime/define.ts'
import { HttpError } from './runtime/errors.ts'
import { graphqlQuery } from './runtime/graphql.ts'
import type { HistorySample } from './runtime/history.ts'
import type { MetricSpecs } from './runtime/metrics.ts'

const repositoryLabels = ['owner', 'repository'] as const

export const historyMetrics = {
  github_history_complete: {
    help: '1 once the history of the repository (stars, issues, pull requests, forks, releases and commits on every day since its creation) is written into the metrics Prometheus; 0 while later history runs still have some to write.',
    labels: repositoryLabels,
  },
  github_history_points_needed: {
    help: 'Rate-limit points the rest of the repository’s history still needs, as estimated by the last history run (GraphQL points plus REST requests, 100 items or 30 weeks of stars each); 0 once it is complete.',
    labels: repositoryLabels,
  },
} as const satisfies MetricSpecs

type Context = Pick<HistoryContext<typeof historyMetrics>, 'http' | 'metrics' | 'log' | 'now' | 'history' | 'progress' | 'since' | 'setting'>

export interface HistoryTarget {
  id: string
  owner: string
  repository?: string
}

/** One kind of history of a repository: what reading it costs, and its samples once read. */
interface Source {
  name: 'stars' | 'issues' | 'pull_requests' | 'forks' | 'releases' | 'commits'
  limit: Limit
  /** Requests (points) reading it will take, from the counts GitHub gave before. */
  cost(repository: HistoryRepository, nowSeconds: number): number
  read(run: Run, repository: HistoryRepository, labels: Labels, range: DayRange): Promise<HistorySample[]>
}

type Labels = { owner: string; repository: string }

interface Run {
  ctx: Context
  api: Api
  token: string
  billed: BilledQuery
}

const pages = (count: number) => Math.max(1, Math.ceil(count / 100))
const seconds = (time: string) => Date.parse(time) / 1000

/** Counts of a walk's nodes by the time fields `times` picks (a node may count in none). */
async function countWalk<N>(run: Run, name: Parameters<typeof walk>[1], labels: Labels, counts: DailyCount[], times: (node: N) => (string | null)[]): Promise<void> {
  for await (const nodes of walk<N>(run.billed, name, labels.owner, labels.repository)) {
    for (const node of nodes) times(node).forEach((time, index) => time && counts[index]!.at(seconds(time)))
  }
}

const sources: Source[] = [
  {
    name: 'stars',
    limit: 'rest',
    cost: (repository, now) => starRequests(seconds(repository.createdAt), now),
    async read(run, _repository, labels, range) {
      const stars = await starsPerDay(run.ctx, { api: run.api, token: run.token, owner: labels.owner, repository: labels.repository, billed: run.billed })
      return dailySamples('github_repository_stars', labels, range, stars.values(range.first, range.last))
    },
  },
  {
    name: 'issues',
    limit: 'graphql',
    cost: (repository) => pages(repository.issues.totalCount),
    async read(run, _repository, labels, range) {
      const [opened, closed] = [new DailyCount(), new DailyCount()]
      await countWalk<{ createdAt: string; closedAt: string | null }>(run, 'issues', labels, [opened, closed], (issue) => [issue.createdAt, issue.closedAt])
      const closedValues = closed.values(range.first, range.last)
      return [
        ...dailySamples('github_repository_open_issues', labels, range, difference(opened.values(range.first, range.last), closedValues)),
        ...dailySamples('github_repository_closed_issues', labels, range, closedValues),
      ]
    },
  },
  {
    name: 'pull_requests',
    limit: 'graphql',
    cost: (repository) => pages(repository.pullRequests.totalCount),
    async read(run, _repository, labels, range) {
      const [opened, merged, closed] = [new DailyCount(), new DailyCount(), new DailyCount()]
      type PullRequest = { createdAt: string; closedAt: string | null; mergedAt: string | null }
      await countWalk<PullRequest>(run, 'pullRequests', labels, [opened, merged, closed], (pr) => [pr.createdAt, pr.mergedAt, pr.mergedAt ? null : pr.closedAt])
      const mergedValues = merged.values(range.first, range.last)
      const closedValues = closed.values(range.first, range.last)
      return [
        ...dailySamples('github_repository_open_pull_requests', labels, range, difference(opened.values(range.first, range.last), mergedValues, closedValues)),
        ...dailySamples('github_repository_merged_pull_requests', labels, range, mergedValues),
        ...dailySamples('github_repository_closed_pull_requests', labels, range, closedValues),
      ]
    },
  },
  {
    name: 'forks',
    limit: 'graphql',
    cost: (repository) => pages(repository.forks.totalCount),
    async read(run, _repository, labels, range) {
      const forks = new DailyCount()
      await countWalk<{ createdAt: string }>(run, 'forks', labels, [forks], (fork) => [fork.createdAt])
      return dailySamples('github_repository_forks', labels, range, forks.values(range.first, range.last))
    },
  },
  {
    name: 'releases',
    limit: 'graphql',
    cost: (repository) => pages(repository.releases.totalCount),
    async read(run, _repository, labels, range) {
      const releases = new DailyCount()
      // Drafts have no publication time: they were never published, and count on no day.
      await countWalk<{ publishedAt: string | null }>(run, 'releases', labels, [releases], (release) => [release.publishedAt])
      return dailySamples('github_repository_releases', labels, range, releases.values(range.first, range.last))
    },
  },
  {
    name: 'commits',
    limit: 'graphql',
    cost: (repository) => pages(repository.defaultBranchRef?.target?.history?.totalCount ?? 0),
    async read(run, repository, labels, range) {
      // An empty repository has no default branch: no commits to count, recorded as absent as the collector does.
      if (!repository.defaultBranchRef?.target?.history) return []
      const commits = new DailyCount()
      await countWalk<{ committedDate: string }>(run, 'commits', labels, [commits], (commit) => [commit.committedDate])
      return dailySamples('github_repository_commits', labels, range, commits.values(range.first, range.last))
    },
  },
]

/** The progress key of one source of one repository: its value is the last day written (Unix seconds). */
export function progressKey(labels: Labels, source: Source['name']): string {
  return `${labels.owner}/${labels.repository}/${source}`
}

async function repositoriesOf(target: HistoryTarget, billed: BilledQuery): Promise<HistoryRepository[]> {
  if (target.repository) {
    const found = await oneRepository(billed, target.owner, target.repository)
    if (!found) throw new GitHubError(target.id, 'GitHub has no such repository', 'check the name in activity.yml')
    return [found]
  }
  const found = await ownerRepositories(billed, target.owner)
  if (!found) throw new GitHubError(target.id, `GitHub has no user or organization '${target.owner}'`, 'check the name in activity.yml')
  return found
}

/**
 * Writes what is not yet written of the target's history, within the run's share of the rate limits; records
 * github_history_complete and github_history_points_needed for each repository.
 */
export async function writeHistory(target: HistoryTarget, ctx: Context, token: string, hint: string): Promise<void> {
  const share = budgetShareFrom(ctx.setting(budgetSetting))
  const api = apiOf(ctx)
  const budget = new HistoryBudget(share)
  const query = graphqlQuery({
    http: ctx.http,
    baseUrl: api.rest,
    url: api.graphqlUrl,
    headers: { authorization: `bearer ${token}` },
    explain: (answer) => explain(answer, target.id, api, hint),
  })
  const billed: BilledQuery = { query, budget, spend: (points) => ctx.http.spend(points), url: api.graphqlUrl }
  const run: Run = { ctx, api, token, billed }
  const nowSeconds = ctx.now() / 1000

  let repositories: HistoryRepository[]
  try {
    repositories = await repositoriesOf(target, billed)
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) throw new GitHubError(target.id, `GitHub refused the token (401 ${error.detail || 'Bad credentials'})`, 'check the token in GITHUB_TOKEN or GITHUB_TOKEN_FILE')
    throw error
  }

  let stoppedAt: string | undefined
  let tooLarge: string | undefined
  const left: string[] = []
  for (const repository of repositories) {
    const labels = { owner: repository.owner.login, repository: repository.name }
    const range = dayRange(seconds(repository.createdAt), nowSeconds, ctx.since)
    let needed = 0
    for (const source of sources) {
      const key = progressKey(labels, source.name)
      if ((await ctx.progress.get(key)) !== undefined) continue
      const cost = source.cost(repository, nowSeconds)
      if (!stoppedAt && !budget.fits(source.limit, cost)) {
        stoppedAt = key
        const allowed = budget.allowance(source.limit).allowed
        if (allowed !== undefined && cost > allowed) tooLarge = `${key} needs ${cost} ${source.limit === 'rest' ? 'REST requests' : 'points'}, more than this run's ${allowed}`
      }
      if (stoppedAt) {
        needed += cost
        left.push(key)
        continue
      }
      const before = { graphql: budget.spent('graphql'), rest: budget.spent('rest') }
      let samples: HistorySample[]
      try {
        samples = range.first <= range.last ? await source.read(run, repository, labels, range) : []
      } catch (error) {
        if (!(error instanceof BudgetSpent)) throw error
        stoppedAt = key
        needed += cost
        left.push(key)
        continue
      }
      if (samples.length) await ctx.history.write(samples)
      // A run with --since wrote only part of the past: the days before it are still to be written by a later run.
      if (ctx.since === undefined) await ctx.progress.set(key, range.last)
      ctx.log.info('history written', {
        ...labels,
        source: source.name,
        days: samples.length ? (range.last - range.first) / 86_400 + 1 : 0,
        samples: samples.length,
        points: budget.spent('graphql') - before.graphql,
        restRequests: budget.spent('rest') - before.rest,
      })
    }
    ctx.metrics.gauge('github_history_complete', needed === 0 ? 1 : 0, labels)
    ctx.metrics.gauge('github_history_points_needed', needed, labels)
  }

  if (stoppedAt) {
    const graphql = budget.allowance('graphql')
    const rest = budget.allowance('rest')
    ctx.log.warn(`history stopped at this run's share of the GitHub rate limit (${Math.round(share * 100)}% of what remained, ${budgetSetting}); the next run continues`, {
      target: target.id,
      points: budget.spent('graphql'),
      pointsAllowed: graphql.allowed,
      pointsRemainingAtStart: graphql.remainingAtStart,
      restRequests: budget.spent('rest'),
      restRequestsAllowed: rest.allowed,
      restRemainingAtStart: rest.remainingAtStart,
      next: stoppedAt,
      left: left.length,
      ...(tooLarge && { tooLargeForOneRun: `${tooLarge}: raise ${budgetSetting} for a run` }),
    })
  } else {
    ctx.log.info('history complete', { target: target.id, repositories: repositories.length, points: budget.spent('graphql'), restRequests: budget.spent('rest') })
  }
}
