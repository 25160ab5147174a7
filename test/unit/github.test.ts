// The GitHub collector against the fake GitHub: metrics, pagination, nulls, failures, tokenless REST, request counts.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { schema as publishedSchema } from '@octokit/graphql-schema'
import { buildClientSchema, parse, validate } from 'graphql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import github from '../../collectors/github.ts'
import { collectOnce, valueOf, type CollectOnce, type Sample } from '../support/collect.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { asset, generatedOwner, owner, release, repository, type GitHubData, type RepositoryData } from '../support/github-data.ts'
import { badGateway, graphqlTimeout } from '../support/github-limits.ts'
import { expectedMetrics } from '../support/github-expected.ts'
import { tempDir } from '../support/servers.ts'
import { check, parse as parseSchema } from '../../collectors/runtime/schema.ts'

interface Run {
  result: CollectOnce['result']
  /** The github_* samples (none when the run failed: nothing is pushed then). */
  data: Sample[]
  /** Everything printed: data, success time and health. */
  samples: Sample[]
  logs: { level?: unknown; msg?: unknown; [field: string]: unknown }[]
  value(name: string, labels?: Record<string, string>): number | undefined
}

const fast = { timeoutMs: 2000, retries: 2, retryBaseMs: 10 }

async function collect(fake: FakeGitHub, target: string, options: { env?: Record<string, string>; releases?: number; http?: typeof fast } = {}): Promise<Run> {
  const run = await collectOnce(github, target, { GITHUB_API_URL: fake.url, GITHUB_TOKEN: 'ghp_test', ...options.env }, { http: options.http ?? fast, collectorOptions: parseSchema(github.options!, { releases: options.releases }) })
  const data = run.samples.filter((s) => s.name.startsWith('github_'))
  return { result: run.result, data, samples: run.samples, logs: run.logs, value: (name, labels = {}) => valueOf(data, name, labels) }
}

function assertRepository(run: Run, login: string, repo: RepositoryData, releases = 5): void {
  const labels = { owner: login, repository: repo.name }
  for (const [name, want] of Object.entries(expectedMetrics(repo, releases))) {
    assert.is(run.value(name, labels), want, `${name} of ${repo.name}`)
  }
  const info = run.data.find((s) => s.name === 'github_repository_info' && s.labels.repository === repo.name)
  // project: the target is in no project (no activity.yml here), so it is its own.
  assert.equal(info?.labels, { owner: login, repository: repo.name, fork: String(repo.isFork), archived: String(repo.isArchived), language: repo.primaryLanguage ?? '', project: run.result.target })
  assert.is(info?.value, 1)
}

const health = (run: Run, name: string) => valueOf(run.samples, `activity_collector_${name}`)

let fake: FakeGitHub | undefined
async function serve(data: GitHubData): Promise<FakeGitHub> {
  await fake?.close()
  fake = await startGitHubApi(data)
  return fake
}

const test = suite('github collector')
test.after.each(async () => {
  await fake?.close()
  fake = undefined
})

test('every GraphQL document it sends is valid against GitHub’s published schema', async () => {
  const api = await serve({ owners: [owner('prometheus', [repository('prometheus', { releases: [release('v1.0.0', '2024-01-02T03:04:05Z', { assets: [asset('a.tar.gz', 3)] })] })])] })
  for (const releases of [0, 1, 5, 20]) {
    for (const target of ['prometheus', 'prometheus/prometheus']) {
      const run = await collect(api, target, { releases })
      assert.ok(run.result.ok, `${target} releases=${releases}: ${run.result.error}`)
    }
  }
  const documents = new Set(api.graphql.map((request) => request.query))
  assert.is(documents.size, 8, 'one owner and one repository document for each releases option tried')
  // What @octokit/graphql-schema's validate() does, without graphql-tag's global fragment-name warnings.
  const schema = buildClientSchema(publishedSchema.json as Parameters<typeof buildClientSchema>[0])
  for (const document of documents) assert.equal(validate(schema, parse(document)).map((e) => e.message), [], document)
})

test('an owner’s repositories are collected 100 per request, over several pages, with owner totals', async () => {
  const org = generatedOwner('prometheus', 250)
  const api = await serve({ owners: [org] })
  const run = await collect(api, 'prometheus')
  assert.ok(run.result.ok, run.result.error)
  assert.is(api.graphqlRequests, 3, 'ceil(250 / 100) GraphQL requests')
  assert.is(api.restRequests, 0)
  assert.equal(api.graphql.map((r) => r.variables.after ?? null).slice(1).every((cursor) => typeof cursor === 'string'), true, 'pages 2 and 3 follow the cursor GitHub returned')
  assert.is(health(run, 'api_requests'), 3)
  for (const repo of org.repositories) assertRepository(run, 'prometheus', repo)
  assert.is(run.value('github_owner_repositories', { owner: 'prometheus' }), 250)
  assert.is(run.value('github_owner_stars', { owner: 'prometheus' }), org.repositories.reduce((sum, r) => sum + r.stargazerCount, 0))
  assert.is(run.value('github_owner_forks', { owner: 'prometheus' }), org.repositories.reduce((sum, r) => sum + r.forkCount, 0))
  assert.is(api.points, 18, 'each page of 100 repositories with 5 releases costs 6 points')
  assert.is(health(run, 'rate_limit_remaining'), 5000 - 18)
  assert.ok(run.logs.some((l) => l.msg === 'GitHub GraphQL rate limit' && l.points === 18), 'the run logs the points it spent')
})

test('forks, archived and private repositories: forks and archived are labelled, private ones left out', async () => {
  const api = await serve({
    owners: [
      owner('acme', [
        repository('fork', { isFork: true, stargazerCount: 3 }),
        repository('old', { isArchived: true, stargazerCount: 5 }),
        repository('secret', { isPrivate: true, stargazerCount: 7 }),
        repository('main-project', { stargazerCount: 11 }),
      ]),
    ],
  })
  const run = await collect(api, 'acme')
  assert.ok(run.result.ok, run.result.error)
  const info = run.data.filter((s) => s.name === 'github_repository_info').map((s) => `${s.labels.repository} fork=${s.labels.fork} archived=${s.labels.archived}`)
  assert.equal(info.sort(), ['fork fork=true archived=false', 'main-project fork=false archived=false', 'old fork=false archived=true'])
  assert.is(run.value('github_owner_repositories', { owner: 'acme' }), 3)
  assert.is(run.value('github_owner_stars', { owner: 'acme' }), 3 + 5 + 11)
})

test('an owner with no repositories records zero totals and nothing else', async () => {
  const api = await serve({ owners: [owner('newcomer', [], 'User')] })
  const run = await collect(api, 'newcomer')
  assert.ok(run.result.ok, run.result.error)
  assert.equal(run.data.map((s) => `${s.name} ${s.value}`).sort(), ['github_owner_forks 0', 'github_owner_repositories 0', 'github_owner_stars 0'])
  assert.is(api.graphqlRequests, 1)
})

test('a repository with null fields records what it has and nothing for the rest', async () => {
  const empty = repository('empty', { primaryLanguage: null, license: null, defaultBranch: null, diskUsage: null, pushedAt: null, releases: [], description: null })
  const api = await serve({ owners: [owner('acme', [empty])] })
  const run = await collect(api, 'acme/empty')
  assert.ok(run.result.ok, run.result.error)
  const labels = { owner: 'acme', repository: 'empty' }
  for (const absent of ['github_repository_commits', 'github_repository_disk_usage_bytes', 'github_repository_pushed_timestamp_seconds', 'github_repository_latest_release_timestamp_seconds', 'github_repository_release_downloads']) {
    assert.is(run.value(absent, labels), undefined, `${absent} is not recorded`)
  }
  assert.is(run.value('github_repository_releases', labels), 0)
  assert.is(run.value('github_repository_created_timestamp_seconds', labels), Date.parse(empty.createdAt) / 1000)
  assertRepository(run, 'acme', empty)
})

test('release downloads add up the assets of the N most recent releases; drafts and prereleases as GitHub shows them', async () => {
  const repo = repository('tool', {
    releases: [
      release('v1', '2024-01-01T00:00:00Z', { assets: [asset('a', 1000)] }),
      release('v2', '2024-02-01T00:00:00Z', { assets: [asset('a', 200), asset('b', 30)] }),
      release('v3-rc', '2024-03-01T00:00:00Z', { isPrerelease: true, assets: [asset('a', 4)] }),
      release('v3-draft', '2024-04-01T00:00:00Z', { isDraft: true, assets: [asset('a', 50_000)] }),
    ],
  })
  const api = await serve({ owners: [owner('acme', [repo])] })
  const labels = { owner: 'acme', repository: 'tool' }
  const two = await collect(api, 'acme/tool', { releases: 2 })
  assert.is(two.value('github_repository_release_downloads', labels), 4 + 200 + 30, 'v3-rc and v2: the draft is invisible to a reader')
  assert.is(two.value('github_repository_releases', labels), 3)
  assert.is(two.value('github_repository_latest_release_timestamp_seconds', labels), Date.parse(repo.releases[1]!.publishedAt!) / 1000, 'Latest is v2: not the prerelease')
  const none = await collect(api, 'acme/tool', { releases: 0 })
  assert.is(none.value('github_repository_release_downloads', labels), undefined, 'releases: 0 collects no downloads')
  assert.is(none.value('github_repository_releases', labels), 3)
})

test('a 502 is retried and the run succeeds', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 120)] })
  api.queue(badGateway())
  const run = await collect(api, 'acme')
  assert.ok(run.result.ok, run.result.error)
  assert.is(api.graphqlRequests, 3, 'one 502, then two pages')
  assert.is(health(run, 'api_requests'), 3)
  assert.is(run.value('github_owner_repositories', { owner: 'acme' }), 120)
})

test('malformed JSON fails the run with a clear error and records nothing', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 150)] })
  api.queue({ status: 200, body: '{"data": {"repositoryOwner": {"login": "acme", "repositories": ' })
  const run = await collect(api, 'acme')
  assert.is(run.result.ok, false)
  assert.match(run.result.error!, /graphql: unexpected response: body is not JSON \(\{"data": \{"repositoryOwner"/)
  assert.not.match(run.result.error!, /\n/)
  assert.equal(run.data, [], 'nothing printed (pushed) for the target')
  assert.is(health(run, 'last_run_success'), 0)
  assert.is(api.graphqlRequests, 1, 'a 200 with a broken body is not retried')
})

test('a hanging request times out and fails the run after the configured retries', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  api.queue({ hang: true }, { hang: true })
  const run = await collect(api, 'acme', { http: { timeoutMs: 300, retries: 1, retryBaseMs: 10 } })
  assert.is(run.result.ok, false)
  assert.match(run.result.error!, /ETIMEDOUT/)
  assert.is(api.graphqlRequests, 2, 'first attempt and one retry')
  assert.equal(run.data, [])
})

test('a page GitHub cannot answer in time is asked again in smaller pages', async () => {
  const org = generatedOwner('acme', 130)
  const api = await serve({ owners: [org] })
  api.intercept = (_request, graphql) => (graphql && Number(graphql.variables.pageSize) > 50 ? graphqlTimeout() : undefined)
  const run = await collect(api, 'acme', { http: { ...fast, retries: 0 } })
  assert.ok(run.result.ok, run.result.error)
  assert.is(api.graphqlRequests, 1 + 3, 'one timed-out page of 100, then three pages of 50')
  for (const repo of org.repositories) assertRepository(run, 'acme', repo)
  assert.ok(run.logs.some((l) => l.level === 'warn' && l.pageSize === 50))
})

test('without a token, the REST listing gives what it can and one log line names what it cannot, and why', async () => {
  const org = generatedOwner('acme', 230)
  const api = await serve({ owners: [org] })
  const run = await collect(api, 'acme', { env: { GITHUB_TOKEN: '' } })
  assert.ok(run.result.ok, run.result.error)
  assert.is(api.graphqlRequests, 0)
  assert.is(api.restRequests, 3, '100 repositories a page, following Link headers')
  assert.match(api.requests[1]!.url, /^\/user\/\d+\/repos\?per_page=100&page=2$/, 'the second page is the one GitHub’s Link header names')
  for (const repo of org.repositories) {
    const labels = { owner: 'acme', repository: repo.name }
    const want = expectedMetrics(repo, 5)
    for (const name of ['github_repository_stars', 'github_repository_forks', 'github_repository_created_timestamp_seconds', 'github_repository_pushed_timestamp_seconds']) assert.is(run.value(name, labels), want[name], `${name} of ${repo.name}`)
    assert.is(run.value('github_repository_disk_usage_bytes', labels), (repo.diskUsage ?? 0) * 1024)
  }
  const names = new Set(run.data.map((s) => s.name))
  for (const missing of ['github_repository_open_issues', 'github_repository_merged_pull_requests', 'github_repository_commits', 'github_repository_release_downloads', 'github_repository_watchers']) assert.not.ok(names.has(missing), missing)
  assert.is(run.value('github_owner_repositories', { owner: 'acme' }), 230)
  assert.is(run.value('github_owner_stars', { owner: 'acme' }), org.repositories.reduce((sum, r) => sum + r.stargazerCount, 0))
  const warnings = run.logs.filter((l) => l.level === 'warn')
  assert.is(warnings.length, 1)
  assert.match(String(warnings[0]!.msg), /GITHUB_TOKEN or GITHUB_TOKEN_FILE/)
  assert.ok((warnings[0]!.missing as string[]).includes('github_repository_open_issues'))
  assert.is(health(run, 'rate_limit_remaining'), 60 - 3, 'GitHub’s anonymous REST limit, from its headers')
})

test('without a token, one repository’s watchers come from its own REST answer', async () => {
  const repo = repository('tool', { watchers: 17, stargazerCount: 400 })
  const api = await serve({ owners: [owner('acme', [repo])] })
  const run = await collect(api, 'acme/tool', { env: { GITHUB_TOKEN: '' } })
  assert.ok(run.result.ok, run.result.error)
  assert.is(api.restRequests, 1)
  assert.is(run.value('github_repository_watchers', { owner: 'acme', repository: 'tool' }), 17, 'subscribers_count, not the REST watchers_count (which repeats stars)')
  assert.is(run.value('github_repository_stars', { owner: 'acme', repository: 'tool' }), 400)
})

test('an owner or repository GitHub does not know fails with a one-line error naming it', async () => {
  const api = await serve({ owners: [owner('acme', [repository('tool')])] })
  const unknownOwner = await collect(api, 'nobody')
  assert.is(unknownOwner.result.error, "nobody: GitHub has no user or organization 'nobody'; check the name in activity.yml")
  const unknownRepository = await collect(api, 'acme/nothing')
  assert.is(unknownRepository.result.error, "acme/nothing: GitHub: Could not resolve to a Repository with the name 'acme/nothing'; check the name in activity.yml (a renamed owner or repository needs its new name)")
  const tokenless = await collect(api, 'nobody', { env: { GITHUB_TOKEN: '' } })
  assert.match(tokenless.result.error!, /^nobody: GitHub has no such user or organization \(404 at .*\/users\/nobody\/repos\?per_page=100&page=1\); check the name in activity.yml$/)
  for (const run of [unknownOwner, unknownRepository, tokenless]) assert.equal(run.data, [])
})

test('a token GitHub refuses is reported as such, and a token from GITHUB_TOKEN_FILE is sent as a bearer token', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 3)], tokens: ['ghp_good'] })
  const refused = await collect(api, 'acme', { env: { GITHUB_TOKEN: 'ghp_bad' } })
  assert.is(refused.result.error, 'acme: GitHub refused the token (401 Bad credentials); check the token in GITHUB_TOKEN or GITHUB_TOKEN_FILE')
  const dir = tempDir('github-token')
  try {
    const file = join(dir.path, 'github_token')
    writeFileSync(file, 'ghp_good\n')
    const run = await collect(api, 'acme', { env: { GITHUB_TOKEN: '', GITHUB_TOKEN_FILE: file } })
    assert.ok(run.result.ok, run.result.error)
    assert.is(api.requests.at(-1)!.headers.authorization, 'bearer ghp_good')
  } finally {
    dir.remove()
  }
})

test('a GitHub Enterprise Server base URL sends GraphQL to /api/graphql and REST to /api/v3', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 5)] })
  const withToken = await collect(api, 'acme', { env: { GITHUB_API_URL: `${api.url}/api/v3` } })
  assert.ok(withToken.result.ok, withToken.result.error)
  const tokenless = await collect(api, 'acme', { env: { GITHUB_API_URL: `${api.url}/api/v3/`, GITHUB_TOKEN: '' } })
  assert.ok(tokenless.result.ok, tokenless.result.error)
  assert.equal(api.requests.map((r) => r.url), ['/api/graphql', '/api/v3/users/acme/repos?per_page=100&page=1'])
})

test('targets are an owner or owner/repository, the releases option is 0 to 20, traffic is true or false', () => {
  assert.equal(parseSchema(github.targets, 'grafana/grafana'), { id: 'grafana/grafana', owner: 'grafana', repository: 'grafana' })
  assert.equal(parseSchema(github.targets, 'prometheus'), { id: 'prometheus', owner: 'prometheus', repository: undefined })
  for (const bad of ['a/b/c', '-leading', 'has space', '', 'x/']) assert.not.ok(check(github.targets, bad).ok, bad)
  assert.equal(parseSchema(github.options!, {}), { releases: 5, traffic: true })
  assert.equal(parseSchema(github.options!, { releases: 0, traffic: false }), { releases: 0, traffic: false })
  for (const bad of [{ releases: 21 }, { releases: -1 }, { releases: 2.5 }, { releases: '5' }, { release: 5 }, { traffic: 'yes' }]) assert.not.ok(check(github.options!, bad).ok, JSON.stringify(bad))
})

test.run()
