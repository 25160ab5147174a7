// collectors/github.ts: stars, forks, issues, pull requests, releases, downloads and commits of every repository of a GitHub owner (or of one repository).
import * as v from 'valibot'
import { apiOf, explain, GitHubError } from './github-client.ts'
import { historyMetrics, writeHistory } from './github-history.ts'
import { collectTraffic, trafficMetrics, type TrafficRepository } from './github-traffic.ts'
import { defineCollector, type CollectorContext } from './runtime/define.ts'
import { HttpError } from './runtime/errors.ts'
import { graphqlQuery } from './runtime/graphql.ts'
import { toSeconds, type MetricSpecs } from './runtime/metrics.ts'
import type { Schema } from './runtime/schema.ts'
import { expectShape } from './runtime/shape.ts'

const repositoryLabels = ['owner', 'repository'] as const

const metrics = {
  github_repository_stars: { help: 'Stars (stargazers) of the repository.', labels: repositoryLabels },
  github_repository_forks: { help: 'Forks of the repository.', labels: repositoryLabels },
  github_repository_watchers: { help: 'Accounts watching the repository (notification subscribers, not stars).', labels: repositoryLabels },
  github_repository_open_issues: { help: 'Open issues of the repository (pull requests not included).', labels: repositoryLabels },
  github_repository_closed_issues: { help: 'Closed issues of the repository (pull requests not included).', labels: repositoryLabels },
  github_repository_open_pull_requests: { help: 'Open pull requests of the repository.', labels: repositoryLabels },
  github_repository_closed_pull_requests: { help: 'Pull requests of the repository closed without being merged.', labels: repositoryLabels },
  github_repository_merged_pull_requests: { help: 'Merged pull requests of the repository.', labels: repositoryLabels },
  github_repository_releases: { help: 'Releases of the repository (drafts only when the token may see them).', labels: repositoryLabels },
  github_repository_latest_release_timestamp_seconds: { help: 'Unix time at which the release GitHub marks Latest (not a draft, not a prerelease) was published.', labels: repositoryLabels },
  github_repository_release_downloads: { help: 'Downloads of the assets of the most recent releases (how many: the source option releases, default 5), summed.', labels: repositoryLabels },
  github_repository_commits: { help: 'Commits reachable from the head of the default branch.', labels: repositoryLabels },
  github_repository_disk_usage_bytes: { help: 'Size of the repository on GitHub (its git data), in bytes.', labels: repositoryLabels },
  github_repository_created_timestamp_seconds: { help: 'Unix time at which the repository was created.', labels: repositoryLabels },
  github_repository_pushed_timestamp_seconds: { help: 'Unix time of the last push to any branch of the repository.', labels: repositoryLabels },
  github_repository_info: { help: 'Always 1; its labels say whether the repository is a fork, is archived, and its main language ("" when GitHub detected none).', labels: ['owner', 'repository', 'fork', 'archived', 'language'] },
  github_owner_repositories: { help: 'Public repositories the user or organization owns, forks and archived ones included.', labels: ['owner'] },
  github_owner_stars: { help: 'Stars of all public repositories of the owner, summed.', labels: ['owner'] },
  github_owner_forks: { help: 'Forks of all public repositories of the owner, summed.', labels: ['owner'] },
  ...trafficMetrics,
  ...historyMetrics,
} as const satisfies MetricSpecs

const options = v.strictObject({
  releases: v.optional(
    v.pipe(
      v.number('must be a whole number from 0 to 20'),
      v.integer('must be a whole number from 0 to 20'),
      v.minValue(0, 'must be at least 0'),
      v.maxValue(20, 'must be at most 20 (GitHub bills each release of each repository)'),
    ),
    5,
  ),
  traffic: v.optional(v.boolean('must be true or false'), true),
})
type Options = v.InferOutput<typeof options>
type Context = CollectorContext<typeof metrics, Options>

const login = '[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}'
const repositoryName = '[A-Za-z0-9._-]{1,100}'

/** `owner` (every public repository a user or organization owns) or `owner/repository` (that one). */
const ownerOrRepository = v.pipe(
  v.string('must be a GitHub owner (prometheus) or owner/repository (grafana/grafana)'),
  v.regex(new RegExp(`^${login}(/${repositoryName})?$`), 'must be a GitHub user or organization (prometheus) or owner/repository (grafana/grafana)'),
  v.transform((id) => {
    const [owner, repository] = id.split('/') as [string, string | undefined]
    return { id, owner, repository }
  }),
)
type GitHubTarget = v.InferOutput<typeof ownerOrRepository>

// ---- GraphQL (with a token): one request per 100 repositories ----

/**
 * Everything the metrics need of one repository. Rate-limit cost (GitHub: each connection with first/last costs
 * the product of the first/last of the connections above it; the sum / 100, rounded, at least 1): the count-only
 * connections carry no first/last and cost nothing; releases cost 1 per repository and their assets one per release
 * asked for, so 100 repositories with 5 releases each are 1 + 100 + 500 = 601 requests = 6 points.
 */
function repositoryFragment(releases: number): string {
  const recent = releases
    ? `releases(first: ${releases}, orderBy: {field: CREATED_AT, direction: DESC}) {
      totalCount
      nodes { releaseAssets(first: 100) { totalCount nodes { downloadCount } } }
    }`
    : 'releases { totalCount }'
  return `fragment RepositoryActivity on Repository {
    name
    owner { login }
    isFork
    isArchived
    viewerPermission
    primaryLanguage { name }
    stargazerCount
    forkCount
    watchers { totalCount }
    openIssues: issues(states: [OPEN]) { totalCount }
    closedIssues: issues(states: [CLOSED]) { totalCount }
    openPullRequests: pullRequests(states: [OPEN]) { totalCount }
    closedPullRequests: pullRequests(states: [CLOSED]) { totalCount }
    mergedPullRequests: pullRequests(states: [MERGED]) { totalCount }
    latestRelease { publishedAt }
    ${recent}
    defaultBranchRef { target { ... on Commit { history { totalCount } } } }
    diskUsage
    createdAt
    pushedAt
  }`
}

function ownerDocument(releases: number): string {
  return `query OwnerRepositories($login: String!, $pageSize: Int!, $after: String) {
  repositoryOwner(login: $login) {
    login
    repositories(first: $pageSize, after: $after, privacy: PUBLIC, ownerAffiliations: [OWNER], orderBy: {field: NAME, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...RepositoryActivity }
    }
  }
  rateLimit { cost remaining resetAt }
}
${repositoryFragment(releases)}`
}

function repositoryDocument(releases: number): string {
  return `query Repository($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { ...RepositoryActivity }
  rateLimit { cost remaining resetAt }
}
${repositoryFragment(releases)}`
}

const total = v.object({ totalCount: v.number() })
const repositorySchema = v.object({
  name: v.string(),
  owner: v.object({ login: v.string() }),
  isFork: v.boolean(),
  isArchived: v.boolean(),
  viewerPermission: v.nullish(v.string()),
  primaryLanguage: v.nullable(v.object({ name: v.string() })),
  stargazerCount: v.number(),
  forkCount: v.number(),
  watchers: total,
  openIssues: total,
  closedIssues: total,
  openPullRequests: total,
  closedPullRequests: total,
  mergedPullRequests: total,
  latestRelease: v.nullable(v.object({ publishedAt: v.nullable(v.string()) })),
  releases: v.object({
    totalCount: v.number(),
    nodes: v.optional(v.array(v.nullable(v.object({ releaseAssets: v.object({ totalCount: v.number(), nodes: v.array(v.nullable(v.object({ downloadCount: v.number() }))) }) })))),
  }),
  defaultBranchRef: v.nullable(v.object({ target: v.nullable(v.object({ history: v.optional(total) })) })),
  diskUsage: v.nullable(v.number()),
  createdAt: v.string(),
  pushedAt: v.nullable(v.string()),
})
type Repository = v.InferOutput<typeof repositorySchema>

const rateLimitSchema = v.nullable(v.object({ cost: v.number(), remaining: v.number(), resetAt: v.string() }))
const ownerPageSchema = v.object({
  repositoryOwner: v.nullable(
    v.object({
      login: v.string(),
      repositories: v.object({
        totalCount: v.number(),
        pageInfo: v.object({ hasNextPage: v.boolean(), endCursor: v.nullable(v.string()) }),
        nodes: v.array(v.nullable(repositorySchema)),
      }),
    }),
  ),
  rateLimit: rateLimitSchema,
})
const repositoryAnswerSchema = v.object({ repository: v.nullable(repositorySchema), rateLimit: rateLimitSchema })

async function collectWithToken(target: GitHubTarget, ctx: Context, token: string, hint: string): Promise<void> {
  const api = apiOf(ctx)
  const headers = { authorization: `bearer ${token}` }
  const query = graphqlQuery({ http: ctx.http, baseUrl: api.rest, url: api.graphqlUrl, headers, explain: (answer) => explain(answer, target.id, api, hint) })
  const spent: { points: number; remaining?: number; resetAt?: string } = { points: 0 }
  const ask = async <T extends { rateLimit: v.InferOutput<typeof rateLimitSchema> }>(schema: Schema<T>, document: string, variables: Record<string, unknown>): Promise<T> => {
    let answer: T
    try {
      answer = await query(schema, document, variables)
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) {
        throw new GitHubError(target.id, `GitHub refused the token (401 ${error.detail || 'Bad credentials'})`, 'check the token in GITHUB_TOKEN or GITHUB_TOKEN_FILE')
      }
      throw error
    }
    if (answer.rateLimit) {
      ctx.http.spend(answer.rateLimit.cost)
      spent.points += answer.rateLimit.cost
      spent.remaining = answer.rateLimit.remaining
      spent.resetAt = answer.rateLimit.resetAt
    }
    return answer
  }
  const releases = ctx.options.releases
  const seen: TrafficRepository[] = [] // traffic is asked for once every repository is recorded
  const record = (repository: Repository) => void (recordRepository(ctx, repository), seen.push({ owner: repository.owner.login, repository: repository.name, permission: repository.viewerPermission }))

  if (target.repository) {
    const answer = await ask(repositoryAnswerSchema, repositoryDocument(releases), { owner: target.owner, name: target.repository })
    if (!answer.repository) throw new GitHubError(target.id, 'GitHub has no such repository', 'check the name in activity.yml')
    record(answer.repository)
  } else {
    let after: string | null = null
    let pageSize = 100
    let owner: string | undefined
    let repositories = 0
    let stars = 0
    let forks = 0
    for (;;) {
      let page: v.InferOutput<typeof ownerPageSchema>
      try {
        page = await ask(ownerPageSchema, ownerDocument(releases), { login: target.owner, pageSize, after })
      } catch (error) {
        // GitHub answers 502/504 when a query runs past its time limit; smaller pages cost the same points and usually fit.
        if (error instanceof HttpError && (error.status === 502 || error.status === 504) && pageSize > 25) {
          pageSize /= 2
          ctx.log.warn('GitHub did not answer a page in time; asking for smaller pages', { status: error.status, pageSize })
          continue
        }
        throw error
      }
      const found = page.repositoryOwner
      if (!found) throw new GitHubError(target.id, `GitHub has no user or organization '${target.owner}'`, 'check the name in activity.yml')
      owner = found.login
      repositories = found.repositories.totalCount
      for (const repository of found.repositories.nodes) {
        if (!repository) continue
        record(repository)
        stars += repository.stargazerCount
        forks += repository.forkCount
      }
      if (!found.repositories.pageInfo.hasNextPage || !found.repositories.pageInfo.endCursor) break
      after = found.repositories.pageInfo.endCursor
    }
    ctx.metrics.gauge('github_owner_repositories', repositories, { owner: owner ?? target.owner })
    ctx.metrics.gauge('github_owner_stars', stars, { owner: owner ?? target.owner })
    ctx.metrics.gauge('github_owner_forks', forks, { owner: owner ?? target.owner })
  }
  ctx.log.info('GitHub GraphQL rate limit', { points: spent.points, remaining: spent.remaining, resetAt: spent.resetAt })
  if (ctx.options.traffic) await collectTraffic(ctx, api.rest, token, seen)
}

function recordRepository(ctx: Context, repository: Repository): void {
  const labels = { owner: repository.owner.login, repository: repository.name }
  const gauge: Context['metrics']['gauge'] = (name, value, labels) => ctx.metrics.gauge(name, value, labels)
  gauge('github_repository_stars', repository.stargazerCount, labels)
  gauge('github_repository_forks', repository.forkCount, labels)
  gauge('github_repository_watchers', repository.watchers.totalCount, labels)
  gauge('github_repository_open_issues', repository.openIssues.totalCount, labels)
  gauge('github_repository_closed_issues', repository.closedIssues.totalCount, labels)
  gauge('github_repository_open_pull_requests', repository.openPullRequests.totalCount, labels)
  gauge('github_repository_closed_pull_requests', repository.closedPullRequests.totalCount, labels)
  gauge('github_repository_merged_pull_requests', repository.mergedPullRequests.totalCount, labels)
  gauge('github_repository_releases', repository.releases.totalCount, labels)
  gauge('github_repository_latest_release_timestamp_seconds', toSeconds(repository.latestRelease?.publishedAt), labels)
  const recent = repository.releases.nodes
  // No releases: no downloads to speak of (recorded as absent, not as 0).
  if (recent?.length) {
    let downloads = 0
    for (const release of recent) {
      if (!release) continue
      if (release.releaseAssets.totalCount > release.releaseAssets.nodes.length) {
        ctx.log.warn('a release has more than 100 assets; downloads count the first 100', { ...labels, assets: release.releaseAssets.totalCount })
      }
      for (const asset of release.releaseAssets.nodes) downloads += asset?.downloadCount ?? 0
    }
    gauge('github_repository_release_downloads', downloads, labels)
  }
  gauge('github_repository_commits', repository.defaultBranchRef?.target?.history?.totalCount, labels)
  gauge('github_repository_disk_usage_bytes', repository.diskUsage === null ? undefined : repository.diskUsage * 1024, labels)
  gauge('github_repository_created_timestamp_seconds', toSeconds(repository.createdAt), labels)
  gauge('github_repository_pushed_timestamp_seconds', toSeconds(repository.pushedAt), labels)
  recordInfo(ctx, labels, repository.isFork, repository.isArchived, repository.primaryLanguage?.name)
}

function recordInfo(ctx: Context, labels: { owner: string; repository: string }, fork: boolean, archived: boolean, language: string | null | undefined): void {
  ctx.metrics.gauge('github_repository_info', 1, { ...labels, fork: String(fork), archived: String(archived), language: language ?? '' })
}

// ---- REST (without a token): what the repository listing says, 100 repositories per request ----

const restRepositorySchema = v.object({
  name: v.string(),
  owner: v.object({ login: v.string() }),
  fork: v.boolean(),
  archived: v.optional(v.boolean(), false),
  language: v.nullish(v.string()),
  stargazers_count: v.number(),
  forks_count: v.number(),
  size: v.nullish(v.number()),
  created_at: v.string(),
  pushed_at: v.nullish(v.string()),
  /** Only in GET /repos/{owner}/{repo}, not in listings. */
  subscribers_count: v.optional(v.number()),
})
type RestRepository = v.InferOutput<typeof restRepositorySchema>

/** Metrics only GraphQL (and so a token) gives; the REST listing has no counts of these. */
const needsToken = [
  'github_repository_open_issues',
  'github_repository_closed_issues',
  'github_repository_open_pull_requests',
  'github_repository_closed_pull_requests',
  'github_repository_merged_pull_requests',
  'github_repository_releases',
  'github_repository_latest_release_timestamp_seconds',
  'github_repository_release_downloads',
  'github_repository_commits',
  'github_repository_traffic_*',
] as const

function recordRestRepository(ctx: Context, repository: RestRepository): void {
  const labels = { owner: repository.owner.login, repository: repository.name }
  ctx.metrics.gauge('github_repository_stars', repository.stargazers_count, labels)
  ctx.metrics.gauge('github_repository_forks', repository.forks_count, labels)
  ctx.metrics.gauge('github_repository_watchers', repository.subscribers_count, labels)
  ctx.metrics.gauge('github_repository_disk_usage_bytes', repository.size === null || repository.size === undefined ? undefined : repository.size * 1024, labels)
  ctx.metrics.gauge('github_repository_created_timestamp_seconds', toSeconds(repository.created_at), labels)
  ctx.metrics.gauge('github_repository_pushed_timestamp_seconds', toSeconds(repository.pushed_at), labels)
  recordInfo(ctx, labels, repository.fork, repository.archived, repository.language)
}

const restHeaders = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' }

async function collectWithoutToken(target: GitHubTarget, ctx: Context): Promise<void> {
  const { rest } = apiOf(ctx)
  // The listing's watchers_count is the star count (a REST quirk); real watchers come only with one repository's own GET.
  const missing = target.repository ? [...needsToken] : [...needsToken, 'github_repository_watchers']
  ctx.log.warn('no GitHub token: collecting through the REST API, which does not give these metrics; set GITHUB_TOKEN or GITHUB_TOKEN_FILE to collect them', { missing })
  try {
    if (target.repository) {
      const url = `${rest}/repos/${target.owner}/${target.repository}`
      const answer = await ctx.http.getJson(url, { headers: restHeaders })
      ctx.http.spend(1) // REST bills one request of the hour's 60 (5,000 with a token) per answer
      recordRestRepository(ctx, expectShape(restRepositorySchema, answer.body, url))
      return
    }
    let owner = target.owner
    let repositories = 0
    let stars = 0
    let forks = 0
    // 100 a page, following the Link headers GitHub sends.
    for await (const page of ctx.http.pages(`${rest}/users/${target.owner}/repos?per_page=100&page=1`, { headers: restHeaders })) {
      ctx.http.spend(1)
      for (const repository of expectShape(v.array(restRepositorySchema), page.body, page.url)) {
        recordRestRepository(ctx, repository)
        owner = repository.owner.login
        repositories++
        stars += repository.stargazers_count
        forks += repository.forks_count
      }
    }
    ctx.metrics.gauge('github_owner_repositories', repositories, { owner })
    ctx.metrics.gauge('github_owner_stars', stars, { owner })
    ctx.metrics.gauge('github_owner_forks', forks, { owner })
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) {
      throw new GitHubError(target.id, `GitHub has no such ${target.repository ? 'repository' : 'user or organization'} (404 at ${error.url})`, 'check the name in activity.yml')
    }
    throw error
  }
}

const rateLimitHint = 'GitHub allows 60 REST requests an hour without a token and 5,000 GraphQL points an hour with one: set GITHUB_TOKEN or GITHUB_TOKEN_FILE, or run less often'

export default defineCollector({
  name: 'github',
  description: 'GitHub: stars, forks, watchers, issues, pull requests, releases, downloads and commits of the repositories of an owner',
  schedule: '0 * * * *',
  targets: ownerOrRepository,
  example: 'prometheus',
  options,
  rateLimitHint,
  metrics,
  async collect(target, ctx) {
    const token = ctx.secret('GITHUB_TOKEN')
    if (token) await collectWithToken(target, ctx, token, rateLimitHint)
    else await collectWithoutToken(target, ctx)
  },
  async history(target, ctx) {
    const token = ctx.secret('GITHUB_TOKEN')
    // Without a token the scheduled history job says so once and stays green, as the current values do without one.
    if (!token) return ctx.log.warn('no GitHub token: the history (stars, issues, pull requests, forks, releases, commits since creation) reads GitHub’s GraphQL API, which needs one; nothing written. Set GITHUB_TOKEN or GITHUB_TOKEN_FILE', { target: target.id })
    await writeHistory(target, ctx, token, rateLimitHint)
  },
})
