// A repository's past for the fake GitHub, generated from a seed: a ten-year repository with 50,000 stars, 20,000 issues
// and pull requests and 5,000 forks, as RepositoryData whose current counts agree with its history.
import { githubTime, release, repository, type RepositoryData } from './github-data.ts'
import type { IssueData, PullRequestData, RepositoryHistory } from './github-history-api.ts'
import { randomFrom } from './seeded-random.ts'

export interface HistorySize {
  years: number
  stars: number
  issues: number
  pullRequests: number
  forks: number
  releases: number
  commits: number
}

/** The repository the issue's tests and bench use: ten years, 50,000 stars, 20,000 issues and pull requests, 5,000 forks. */
export const tenYears: HistorySize = { years: 10, stars: 50_000, issues: 12_000, pullRequests: 8_000, forks: 5_000, releases: 150, commits: 15_000 }

const day = 86_400

/**
 * A repository's past from a seed: created `years` before `endSeconds`, activity growing over time (more events in
 * recent years), issues closed after days to months or still open, pull requests merged, closed or open. Every
 * event is before `endSeconds`.
 */
export function generatedHistory(seed: string, size: HistorySize, endSeconds: number): RepositoryHistory {
  const random = randomFrom(seed)
  const createdAt = Math.floor(endSeconds - size.years * 365.25 * day + random() * day)
  const span = endSeconds - createdAt
  const times = (count: number) => Array.from({ length: count }, () => createdAt + 1 + Math.floor(Math.sqrt(random()) * (span - 2))).sort((a, b) => a - b)
  const after = (time: number, meanDays: number) => {
    const at = Math.floor(time + 60 - Math.log(1 - random()) * meanDays * day)
    return at < endSeconds ? at : null
  }
  const pullRequests = times(size.pullRequests).map((createdAt): PullRequestData => {
    const fate = random()
    if (fate < 0.65) {
      const mergedAt = after(createdAt, 4)
      return { createdAt, closedAt: mergedAt, mergedAt }
    }
    return { createdAt, closedAt: fate < 0.85 ? after(createdAt, 10) : null, mergedAt: null }
  })
  return {
    createdAt,
    stars: times(size.stars),
    issues: times(size.issues).map((createdAt) => ({ createdAt, closedAt: random() < 0.8 ? after(createdAt, 20) : null })),
    pullRequests,
    forks: times(size.forks),
    releases: times(size.releases).map((createdAt) => ({ createdAt, publishedAt: random() < 0.02 ? null : Math.min(endSeconds - 1, createdAt + 600) })),
    commits: times(size.commits),
  }
}

/** Counts as GitHub reports them now (the repository's current totals), from its history. */
export function currentCounts(history: RepositoryHistory) {
  const merged = history.pullRequests.filter((p) => p.mergedAt !== null).length
  const closedPulls = history.pullRequests.filter((p) => p.mergedAt === null && p.closedAt !== null).length
  const closedIssues = history.issues.filter((i) => i.closedAt !== null).length
  return {
    stargazerCount: history.stars.length,
    forkCount: history.forks.length,
    issues: { open: history.issues.length - closedIssues, closed: closedIssues },
    pullRequests: { open: history.pullRequests.length - merged - closedPulls, closed: closedPulls, merged },
    commits: history.commits.length,
  }
}


/** A repository of the fake GitHub with this past; its current counts (stars, open issues, ...) are the history's. */
export function historyRepository(name: string, history: RepositoryHistory, fields: Partial<RepositoryData> = {}): RepositoryData {
  const counts = currentCounts(history)
  const last = Math.max(history.createdAt, ...history.commits.slice(-1))
  return repository(name, {
    stargazerCount: counts.stargazerCount,
    forkCount: counts.forkCount,
    issues: counts.issues,
    pullRequests: counts.pullRequests,
    defaultBranch: { name: 'main', commits: counts.commits },
    releases: history.releases.map((r, index) =>
      release(`v1.${index}.0`, githubTime(r.createdAt * 1000), { publishedAt: r.publishedAt === null ? null : githubTime(r.publishedAt * 1000), isDraft: r.publishedAt === null }),
    ),
    createdAt: githubTime(history.createdAt * 1000),
    updatedAt: githubTime(last * 1000),
    pushedAt: githubTime(last * 1000),
    history,
    ...fields,
  })
}
