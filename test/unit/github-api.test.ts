// The fake GitHub the collector tests and the benchmark rely on: GitHub's cost rule, error shapes, pagination.
import { parse } from 'graphql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { generatedOwner, owner, repository } from '../support/github-data.ts'
import { rateLimitCost } from '../support/github-limits.ts'

let fake: FakeGitHub | undefined
const test = suite('fake GitHub')
test.after.each(async () => {
  await fake?.close()
  fake = undefined
})

async function graphql(api: FakeGitHub, query: string, token: string | null = 'ghp_test'): Promise<{ status: number; body: { data?: unknown; errors?: { type?: string; message: string; locations?: unknown }[] } }> {
  const response = await fetch(`${api.url}/graphql`, { method: 'POST', headers: token ? { authorization: `bearer ${token}` } : {}, body: JSON.stringify({ query }) })
  return { status: response.status, body: (await response.json()) as never }
}

test('bills GitHub’s documented example 5,101 requests = 51 points, and counts its documented node totals', () => {
  const labels = parse(`query { viewer { login repositories(first: 100) { edges { node { id
    issues(first: 50) { edges { node { id labels(first: 60) { edges { node { id name } } } } } } } } } } }`)
  assert.equal({ ...rateLimitCost(labels), nodes: undefined }, { requests: 1 + 100 + 5000, cost: 51, nodes: undefined })
  const simple = parse(`query { viewer { repositories(first: 50) { edges { repository: node { name
    issues(first: 10) { totalCount edges { node { title bodyHTML } } } } } } } }`)
  assert.is(rateLimitCost(simple).nodes, 550)
  const complex = parse(`query { viewer { repositories(first: 50) { edges { repository: node { name
    pullRequests(first: 20) { edges { pullRequest: node { title comments(first: 10) { edges { comment: node { bodyHTML } } } } } }
    issues(first: 20) { totalCount edges { issue: node { title bodyHTML comments(first: 10) { edges { comment: node { bodyHTML } } } } } } } } }
    followers(first: 10) { edges { follower: node { login } } } } }`)
  assert.is(rateLimitCost(complex).nodes, 22_060)
})

test('count-only connections add no requests; variables and fragments are followed; the strict reading counts them', () => {
  const document = parse(`query($n: Int!) { repositoryOwner(login: "x") { repositories(first: 100) { nodes { ...R } } } }
    fragment R on Repository { issues { totalCount } releases(first: $n) { nodes { releaseAssets(first: 100) { nodes { downloadCount } } } } }`)
  assert.equal(rateLimitCost(document, { n: 5 }), { requests: 1 + 100 + 500, cost: 6, nodes: 100 + 500 + 50_000 })
  assert.is(rateLimitCost(document, { n: 5 }, { strict: true }).requests, 1 + 100 + 100 + 500)
  assert.is(rateLimitCost(parse('{ rateLimit { cost } }')).cost, 1, 'the minimum is 1')
})

test('refuses a document that is not valid against GitHub’s schema, in GitHub’s error shape, and bills nothing', async () => {
  const api = (fake = await startGitHubApi({ owners: [owner('acme', [])] }))
  const answer = await graphql(api, '{ repositoryOwner(login: "acme") { login stars } }')
  assert.is(answer.status, 200)
  assert.is(answer.body.data, undefined)
  assert.match(answer.body.errors![0]!.message, /Cannot query field "stars" on type "RepositoryOwner"/)
  assert.ok(answer.body.errors![0]!.locations)
  assert.is(api.points, 0)
})

test('refuses nodes of a connection without first or last, as GitHub does', async () => {
  const api = (fake = await startGitHubApi({ owners: [generatedOwner('acme', 3)] }))
  const answer = await graphql(api, '{ repositoryOwner(login: "acme") { repositories { nodes { name } } } }')
  assert.is(answer.body.errors![0]!.type, 'MISSING_PAGINATION_BOUNDARIES')
  const counted = await graphql(api, '{ repositoryOwner(login: "acme") { repositories { totalCount } } }')
  assert.equal(counted.body, { data: { repositoryOwner: { repositories: { totalCount: 3 } } } })
})

test('answers GraphQL only with a token, as GitHub does', async () => {
  const api = (fake = await startGitHubApi({ owners: [] }))
  const answer = await graphql(api, '{ rateLimit { cost } }', null)
  assert.is(answer.status, 401)
})

test('pages REST listings with GitHub’s Link headers and recorded field shapes', async () => {
  const api = (fake = await startGitHubApi({ owners: [owner('acme', ['a', 'b', 'c', 'd', 'e'].map((name) => repository(name)))] }))
  const first = await fetch(`${api.url}/users/acme/repos?per_page=2`)
  const id = api.data.owners[0]!.databaseId
  const base = `${api.url}/user/${id}/repos`
  assert.is(first.headers.get('link'), `<${base}?per_page=2&page=2>; rel="next", <${base}?per_page=2&page=3>; rel="last"`)
  const repos = (await first.json()) as Record<string, unknown>[]
  assert.equal(repos.map((r) => r.full_name), ['acme/a', 'acme/b'])
  for (const field of ['html_url', 'stargazers_count', 'watchers_count', 'forks_count', 'size', 'pushed_at', 'license', 'topics', 'visibility']) assert.ok(field in repos[0]!, field)
  assert.not.ok('subscribers_count' in repos[0]!, 'listings carry no subscribers_count')
  const last = await fetch(`${base}?per_page=2&page=3`)
  assert.is(last.headers.get('link'), `<${base}?per_page=2&page=2>; rel="prev", <${base}?per_page=2&page=1>; rel="first"`)
  assert.is(((await last.json()) as unknown[]).length, 1)
  assert.is(last.headers.get('x-ratelimit-remaining'), '58')
})

test.run()
