// API cost of collecting an owner with 1,000 repositories (full metric set, downloads of the 5 most recent releases):
// GraphQL requests and rate-limit points counted on the fake GitHub, beside what per-repository REST calls would need.
// Target (issue 2): at most 20 GraphQL requests and 70 points; exits non-zero when missed.
import { parse } from 'graphql'
import github from '../../collectors/github.ts'
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runTarget } from '../../collectors/runtime/run.ts'
import { startGitHubApi } from '../support/github-api.ts'
import { generatedOwner, visibleReleases } from '../support/github-data.ts'
import { rateLimitCost } from '../support/github-limits.ts'
import { parse as parseSchema } from '../../collectors/runtime/schema.ts'

const repositories = 1000
const releases = 5
const limits = { requests: 20, points: 70 }

const org = generatedOwner('bench-org', repositories)
const fake = await startGitHubApi({ owners: [org] })
let samples = 0
let seconds = 0
let reported: { requests: number; points?: number } = { requests: 0 }
let error: string | undefined
try {
  const result = await runTarget(
    { collector: github as unknown as AnyCollector, targets: [], options: { releases }, schedule: github.schedule, print: () => {} },
    parseSchema(github.targets, 'bench-org'),
    { env: { GITHUB_API_URL: fake.url, GITHUB_TOKEN: 'ghp_bench' }, log: createLogger({ level: 'error' }) },
  )
  samples = result.samples
  reported = { requests: result.requests, points: result.points }
  seconds = result.durationSeconds
  error = result.error
} finally {
  await fake.close()
}

const requests = fake.graphqlRequests
const points = fake.points
const strictPoints = fake.graphql.reduce((sum, r) => sum + rateLimitCost(parse(r.query), r.variables, { strict: true }).cost, 0)

// Per-repository REST, for the same metrics; each line's assumption is the cheapest documented endpoint for it.
const nonEmpty = org.repositories.filter((r) => r.defaultBranch !== null).length
const rest: [string, number, string][] = [
  ['list repositories', Math.ceil(repositories / 100), 'GET /users/{owner}/repos?per_page=100: stars, forks, size, created, pushed, fork, archived, language'],
  ['watchers', repositories, 'GET /repos/{o}/{r}: subscribers_count (the listing’s watchers_count repeats stars)'],
  ['open + closed issues', 2 * repositories, 'GET /search/issues?q=repo:{o}/{r}+is:issue+is:open|closed&per_page=1: total_count (search API: 30 requests a minute)'],
  ['open, closed, merged PRs', 3 * repositories, 'GET /search/issues?q=repo:{o}/{r}+is:pr+is:open | is:closed+is:unmerged | is:merged&per_page=1: total_count (search API)'],
  ['releases, latest, downloads', org.repositories.reduce((sum, r) => sum + Math.max(1, Math.ceil(visibleReleases(r).length / 100)), 0), 'GET /repos/{o}/{r}/releases?per_page=100, every page for the count; assets’ download_count come with each release'],
  ['commits on default branch', repositories, `GET /repos/{o}/{r}/commits?sha={branch}&per_page=1: the page number in Link rel="last" (${repositories - nonEmpty} empty repositories answer 409, still a request)`],
]
const restTotal = rest.reduce((sum, [, n]) => sum + n, 0)
const searchCalls = 5 * repositories

const line = (label: string, value: string | number, note = '') => console.log(`  ${label.padEnd(34)} ${String(value).padStart(8)}  ${note}`)
console.log(`github API cost: owner with ${repositories} repositories, full metric set, downloads of the ${releases} most recent releases`)
line('GraphQL requests', requests, `target <= ${limits.requests}`)
line('GraphQL rate-limit points', points, `target <= ${limits.points} (GitHub's rule: connections with first/last; / 100, rounded, min 1)`)
line('  points, strict reading', strictPoints, 'if count-only connections (totalCount, no first/last) were billed too')
line('  as the run reported them', `${reported.requests} / ${reported.points}`, 'requests / points (activity_collector_api_requests, activity_collector_rate_limit_points)')
line('samples recorded', samples)
line('collection time (local fake)', `${seconds.toFixed(2)}s`)
console.log('per-repository REST for the same metrics:')
for (const [label, n, assumption] of rest) line(label, n, assumption)
line('REST requests in all', restTotal, `${(restTotal / requests).toFixed(0)}x the GraphQL requests`)
line('  core API', restTotal - searchCalls, `${((restTotal - searchCalls) / 5000).toFixed(2)} of a token's 5,000 requests/hour (${((restTotal - searchCalls) / 60).toFixed(0)} hours of the anonymous 60/hour)`)
line('  search API', searchCalls, `at a token's 30/minute: ${Math.ceil(searchCalls / 30)} minutes at least`)

const missed = [
  error && `the run failed: ${error}`,
  requests > limits.requests && `${requests} GraphQL requests > ${limits.requests}`,
  points > limits.points && `${points} points > ${limits.points}`,
  (reported.requests !== requests || reported.points !== points) && `the run reported ${reported.requests} requests and ${reported.points} points, the fake counted ${requests} and ${points}`,
].filter(Boolean)
if (missed.length) {
  console.log(`github-cost: target missed: ${missed.join('; ')}`)
  process.exitCode = 1
} else {
  console.log(`github-cost: target met (${requests} <= ${limits.requests} requests, ${points} <= ${limits.points} points)`)
}
