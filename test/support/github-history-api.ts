// The fake GitHub's history: a repository's past as data the server owns (each star, issue, pull request, fork, release
// and commit with its times; generated in github-history-data.ts), and what GitHub serves of it: the star-history endpoint
// (GET /repos/{owner}/{repo}/stargazers/history: weeks newest first, 30 a page, Link headers) and the GraphQL
// connections with creation, closing, merging, starring and commit times (wired into github-graphql.ts and github-rest.ts).
import type { Reply } from './servers.ts'

const day = 86_400

/** Unix seconds. */
export interface IssueData {
  createdAt: number
  closedAt: number | null
}

export interface PullRequestData extends IssueData {
  mergedAt: number | null
}

/** A repository's past, every time in Unix seconds, each list oldest first. */
export interface RepositoryHistory {
  createdAt: number
  /** When each star still present was given. */
  stars: number[]
  issues: IssueData[]
  pullRequests: PullRequestData[]
  forks: number[]
  /** Publication times (null: a draft). */
  releases: { createdAt: number; publishedAt: number | null }[]
  /** Committed dates of the commits of the default branch. */
  commits: number[]
}

/** What a repository of the fake says of itself now, for a past derived from it (github-data.ts' RepositoryData). */
export interface CurrentCounts {
  name: string
  createdAt: string
  stargazerCount: number
  forkCount: number
  issues: { open: number; closed: number }
  pullRequests: { open: number; closed: number; merged: number }
  defaultBranch: { commits: number } | null
  releases: { createdAt: string; publishedAt: string | null; isDraft: boolean }[]
  history?: RepositoryHistory
}

const derived = new WeakMap<object, RepositoryHistory>()

/**
 * The repository's past: the one the test gave, else one derived from its current counts (seeded by its name, events
 * spread evenly since its creation), so every repository of the fake answers history queries and agrees with its counts.
 */
export function historyOf(data: CurrentCounts): RepositoryHistory {
  if (data.history) return data.history
  const known = derived.get(data)
  if (known) return known
  let seed = [...data.name].reduce((hash, char) => Math.imul(hash ^ char.charCodeAt(0), 16777619), 2166136261) >>> 0
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    return seed / 4294967296
  }
  const createdAt = Math.floor(Date.parse(data.createdAt) / 1000)
  const end = Math.max(createdAt + 2, Math.floor(Date.now() / 1000) - 3600)
  const times = (count: number) => Array.from({ length: count }, () => createdAt + 1 + Math.floor(random() * (end - createdAt - 1))).sort((a, b) => a - b)
  const closing = (created: number) => created + Math.floor(random() * (end - created))
  const issues = [...times(data.issues.open).map((createdAt) => ({ createdAt, closedAt: null })), ...times(data.issues.closed).map((createdAt) => ({ createdAt, closedAt: closing(createdAt) }))]
  const merged = times(data.pullRequests.merged).map((createdAt) => {
    const at = closing(createdAt)
    return { createdAt, closedAt: at, mergedAt: at }
  })
  const pullRequests = [...times(data.pullRequests.open).map((createdAt) => ({ createdAt, closedAt: null, mergedAt: null })), ...times(data.pullRequests.closed).map((createdAt) => ({ createdAt, closedAt: closing(createdAt), mergedAt: null })), ...merged]
  const history: RepositoryHistory = {
    createdAt,
    stars: times(data.stargazerCount),
    issues: issues.sort((a, b) => a.createdAt - b.createdAt),
    pullRequests: pullRequests.sort((a, b) => a.createdAt - b.createdAt),
    forks: times(data.forkCount),
    releases: data.releases.map((r) => ({ createdAt: Date.parse(r.createdAt) / 1000, publishedAt: r.publishedAt === null || r.isDraft ? null : Date.parse(r.publishedAt) / 1000 })),
    commits: times(data.defaultBranch?.commits ?? 0),
  }
  derived.set(data, history)
  return history
}

// ---------------------------------------------------------------- GraphQL connections

interface PageArgs {
  first?: number | null
  last?: number | null
  after?: string | null
  before?: string | null
}
type Order = { field: string; direction: 'ASC' | 'DESC' } | null | undefined
/** github-graphql.ts' connection(): GitHub's paging over a list. */
export type Connection = <T>(name: string, args: PageArgs, items: T[] | undefined, count?: number, node?: (item: T) => unknown) => Record<string, unknown>

/** GitHub's time format: ISO 8601 in UTC, whole seconds. */
const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')

/** A creation-ordered list as `orderBy` asks (GitHub's default without orderBy: oldest first). */
function inOrder<T>(items: T[], order: Order, fields: string[]): T[] {
  if (!order) return items
  if (!fields.includes(order.field)) throw new Error(`the fake GitHub API orders this connection only by ${fields.join(', ')}, not ${order.field}`)
  return order.direction === 'DESC' ? [...items].reverse() : items
}

const newestFirst = new WeakMap<number[], number[]>()

/** The fields of a Repository node that come from its history; `node` is the rest of it, as github-graphql.ts builds it. */
export function withHistory<N extends Record<string, unknown>>(node: N, data: CurrentCounts, connection: Connection): N {
  // Lazily: a repository whose past nobody asks for costs nothing (an owner of 5,000 repositories).
  const history = new Proxy({} as RepositoryHistory, { get: (_, field) => historyOf(data)[field as keyof RepositoryHistory] })
  const issueState = (issue: IssueData) => (issue.closedAt === null ? 'OPEN' : 'CLOSED')
  const pullState = (pull: PullRequestData) => (pull.mergedAt !== null ? 'MERGED' : pull.closedAt !== null ? 'CLOSED' : 'OPEN')
  const inStates = <T>(items: T[], states: string[] | null | undefined, state: (item: T) => string) => (states?.length ? items.filter((item) => states.includes(state(item))) : items)
  // A count alone (no first/last) is answered from the repository's counts, without its past.
  type Resolver = (args: PageArgs) => unknown
  const counted = (resolver: Resolver, paged: Resolver): Resolver => (args) => (args.first == null && args.last == null ? resolver(args) : paged(args))
  const original = { issues: node.issues as Resolver, pullRequests: node.pullRequests as Resolver, stargazers: node.stargazers as Resolver }
  const paged = {
    issues: (args: PageArgs & { states?: string[] | null; orderBy?: Order }) => {
      const items = inOrder(inStates(history.issues, args.states, issueState), args.orderBy, ['CREATED_AT'])
      return connection('issues', args, items, items.length, (issue) => ({ __typename: 'Issue', createdAt: iso(issue.createdAt), closedAt: issue.closedAt === null ? null : iso(issue.closedAt) }))
    },
    pullRequests: (args: PageArgs & { states?: string[] | null; orderBy?: Order }) => {
      const items = inOrder(inStates(history.pullRequests, args.states, pullState), args.orderBy, ['CREATED_AT'])
      return connection('pullRequests', args, items, items.length, (pull) => ({
        __typename: 'PullRequest',
        createdAt: iso(pull.createdAt),
        closedAt: pull.closedAt === null ? null : iso(pull.closedAt),
        mergedAt: pull.mergedAt === null ? null : iso(pull.mergedAt),
      }))
    },
    forks: (args: PageArgs & { orderBy?: Order }) => {
      const items = inOrder(history.forks, args.orderBy, ['CREATED_AT'])
      return connection('forks', args, items, items.length, (createdAt) => ({ __typename: 'Repository', createdAt: iso(createdAt) }))
    },
    stargazers: (args: PageArgs & { orderBy?: Order }) => {
      const items = inOrder(history.stars, args.orderBy, ['STARRED_AT'])
      const stargazers = connection('stargazers', args, items, items.length, (starredAt) => ({ __typename: 'User', login: `stargazer-${starredAt}`, starredAt }))
      const edges = stargazers.edges as () => { cursor: string; node: { starredAt: number } }[]
      return { ...stargazers, edges: () => edges().map((edge) => ({ ...edge, starredAt: iso(edge.node.starredAt) })) }
    },
  }
  Object.assign(node, {
    issues: counted(original.issues, paged.issues as Resolver),
    pullRequests: counted(original.pullRequests, paged.pullRequests as Resolver),
    forks: counted((args) => connection('forks', args, undefined, data.forkCount), paged.forks as Resolver),
    stargazers: counted(original.stargazers, paged.stargazers as Resolver),
  })
  const branch = node.defaultBranchRef as { target: Record<string, unknown> } | null
  const countOnly = branch?.target.history as ((args: PageArgs) => unknown) | undefined
  if (branch && countOnly) {
    branch.target.history = (args: PageArgs) => {
      // A count alone needs no past (the collector's commit count of 5,000 repositories).
      if (args.first == null && args.last == null) return countOnly(args)
      // A branch's history lists its newest commit first.
      if (!newestFirst.has(history.commits)) newestFirst.set(history.commits, [...history.commits].reverse())
      const commits = newestFirst.get(history.commits)!
      return connection('history', args, commits, commits.length, (committedDate) => ({ __typename: 'Commit', committedDate: iso(committedDate) }))
    }
  }
  return node
}

// ---------------------------------------------------------------- REST: the star-history endpoint

/** The Unix time of the Sunday 00:00 UTC that starts the week of `seconds` (1970-01-04 was a Sunday). */
export function weekStart(seconds: number): number {
  const days = Math.floor(seconds / day)
  return (days - ((((days - 3) % 7) + 7) % 7)) * day
}

export interface StarWeek {
  week: number
  total: number
  days: number[]
}

const weeksOf = new WeakMap<RepositoryHistory, StarWeek[]>()

/** Every week from the repository's creation to the week of `nowSeconds`, newest first, as the endpoint answers. */
export function starWeeks(history: RepositoryHistory, nowSeconds: number): StarWeek[] {
  const known = weeksOf.get(history)
  if (known && known[0]!.week === weekStart(nowSeconds)) return known
  const weeks: StarWeek[] = []
  for (let week = weekStart(nowSeconds); week >= weekStart(history.createdAt); week -= 7 * day) weeks.push({ week, total: 0, days: [0, 0, 0, 0, 0, 0, 0] })
  for (const star of history.stars) {
    const entry = weeks[(weeks[0]!.week - weekStart(star)) / (7 * day)]
    if (!entry) continue
    entry.days[Math.floor((star - entry.week) / day)]!++
    entry.total++
  }
  weeksOf.set(history, weeks)
  return weeks
}

const perPageLimit = 30

/**
 * GET /repos/{owner}/{repo}/stargazers/history?per_page=&page=: a page of weeks (per_page at most 30, default 30)
 * with GitHub's Link header.
 */
export function starHistoryReply(history: RepositoryHistory, url: URL, linkBase: string, headers: Record<string, string>): Reply {
  const weeks = starWeeks(history, Date.now() / 1000)
  const perPage = Math.min(perPageLimit, Math.max(1, Number(url.searchParams.get('per_page') ?? perPageLimit) || perPageLimit))
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1)
  const last = Math.max(1, Math.ceil(weeks.length / perPage))
  const link = (n: number, rel: string) => `<${linkBase}?per_page=${perPage}&page=${n}>; rel="${rel}"`
  const links = [...(page > 1 ? [link(page - 1, 'prev')] : []), ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []), ...(page > 1 ? [link(1, 'first')] : [])]
  return { status: 200, headers: { ...headers, ...(links.length ? { link: links.join(', ') } : {}) }, body: weeks.slice((page - 1) * perPage, page * perPage) }
}
