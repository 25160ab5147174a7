// The fake GitHub's REST endpoints, shaped like @octokit/fixtures' recordings: an owner's repository listings (paged
// with GitHub's Link headers), one repository, its star history and traffic, billed against the REST rate limit.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { findOwner, nodeId, ordered, type OwnerData, type RepositoryData } from './github-data.ts'
import { historyOf, starHistoryReply } from './github-history-api.ts'
import { restDocs, restHeaders, tokenOf, type FakeState } from './github-limits.ts'
import { answerTraffic } from './github-traffic.ts'
import type { RecordedRequest, Reply } from './servers.ts'

interface FixtureEntry {
  method: string
  path: string
  status: number
  response: Record<string, unknown>
  headers: Record<string, string>
}

const fixtures = createRequire(import.meta.url)
function recorded(scenario: string): FixtureEntry[] {
  return JSON.parse(readFileSync(fixtures.resolve(`@octokit/fixtures/scenarios/api.github.com/${scenario}/normalized-fixture.json`), 'utf8')) as FixtureEntry[]
}

const recordedRepository = recorded('get-repository')[0]!
/** Fields GitHub shows only to someone with admin rights on the repository. */
const adminOnly = ['permissions', 'temp_clone_token', 'allow_squash_merge', 'allow_merge_commit', 'allow_rebase_merge', 'allow_auto_merge', 'delete_branch_on_merge', 'allow_update_branch', 'use_squash_pr_title_as_default', 'squash_merge_commit_title', 'squash_merge_commit_message', 'merge_commit_title', 'merge_commit_message', 'allow_forking', 'web_commit_signoff_required']
/** Fields only GET /repos/{owner}/{repo} has, not the listings. */
const singleOnly = ['organization', 'network_count', 'subscribers_count', 'parent', 'source']

function restRepository(base: string, ownerData: OwnerData, data: RepositoryData, single: boolean): Record<string, unknown> {
  const text = JSON.stringify(recordedRepository.response)
    .replaceAll('https://api.github.com', base)
    .replaceAll('octokit-fixture-org/hello-world', `${ownerData.login}/${data.name}`)
    .replaceAll('octokit-fixture-org', ownerData.login)
  const json = JSON.parse(text) as Record<string, unknown> & { owner: Record<string, unknown>; organization?: Record<string, unknown> }
  for (const field of adminOnly) delete json[field]
  if (!single) for (const field of singleOnly) delete json[field]
  const ownerId = ownerData.databaseId
  for (const account of [json.owner, json.organization]) {
    if (!account) continue
    Object.assign(account, { id: ownerId, node_id: nodeId(ownerData.type === 'User' ? 'U' : 'O', ownerId), avatar_url: `https://avatars.githubusercontent.com/u/${ownerId}?v=4`, type: ownerData.type })
  }
  if (ownerData.type === 'User') delete json.organization
  const openIssues = data.issues.open + data.pullRequests.open
  Object.assign(json, {
    id: data.databaseId,
    node_id: nodeId('R', data.databaseId),
    name: data.name,
    full_name: `${ownerData.login}/${data.name}`,
    private: data.isPrivate,
    visibility: data.isPrivate ? 'private' : 'public',
    description: data.description,
    fork: data.isFork,
    created_at: data.createdAt,
    updated_at: data.updatedAt,
    pushed_at: data.pushedAt,
    size: data.diskUsage ?? 0,
    // In REST, watchers_count and watchers repeat the star count; the real watchers are subscribers_count.
    stargazers_count: data.stargazerCount,
    watchers_count: data.stargazerCount,
    watchers: data.stargazerCount,
    language: data.primaryLanguage,
    forks_count: data.forkCount,
    forks: data.forkCount,
    archived: data.isArchived,
    open_issues_count: openIssues,
    open_issues: openIssues,
    license: data.license && { key: data.license.key, name: data.license.name, spdx_id: data.license.spdxId, url: `${base}/licenses/${data.license.key}`, node_id: nodeId('L', data.license.key.length) },
    topics: data.topics,
    default_branch: data.defaultBranch?.name ?? 'main',
  })
  if (single) Object.assign(json, { subscribers_count: data.watchers, network_count: data.forkCount })
  return json
}

function notFound(headers: Record<string, string>, docs = restDocs): Reply {
  return { status: 404, headers, body: { message: 'Not Found', documentation_url: docs, status: '404' } }
}

/** A page of a REST listing with the Link header GitHub sends (next/last, then prev/first as pages go on). */
function listing<T>(items: T[], url: URL, linkBase: string, headers: Record<string, string>, render: (item: T) => unknown): Reply {
  const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30))
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1)
  const last = Math.max(1, Math.ceil(items.length / perPage))
  const link = (n: number, rel: string) => {
    const params = new URLSearchParams(url.searchParams)
    params.set('per_page', String(perPage))
    params.set('page', String(n))
    return `<${linkBase}?${params.toString()}>; rel="${rel}"`
  }
  const links: string[] = []
  if (page > 1) links.push(link(page - 1, 'prev'))
  if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
  if (page > 1) links.push(link(1, 'first'))
  return {
    status: 200,
    headers: { ...headers, ...(links.length ? { link: links.join(', ') } : {}) },
    body: items.slice((page - 1) * perPage, page * perPage).map(render),
  }
}

export function answerRest(state: FakeState, request: RecordedRequest, prefix: string): Reply {
  const token = tokenOf(request)
  if (token && state.data.tokens && !state.data.tokens.includes(token)) return { status: 401, body: { message: 'Bad credentials', documentation_url: restDocs } }
  const authenticated = Boolean(token)
  if (Date.now() >= state.rest.resetAt) {
    state.rest.used = 0
    state.rest.resetAt = Date.now() + 3_600_000
  }
  const limit = authenticated ? state.data.restRequests?.authenticated ?? 5000 : state.data.restRequests?.anonymous ?? 60
  if (state.rest.used >= limit) {
    return {
      status: 403,
      headers: restHeaders(state, authenticated),
      body: { message: `API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`, documentation_url: `${restDocs}/overview/rate-limits-for-the-rest-api` },
    }
  }
  state.rest.used++
  const headers = restHeaders(state, authenticated)
  const host = request.headers.host ?? '127.0.0.1'
  const base = `http://${host}${prefix}`
  const url = new URL(request.url.slice(prefix.length) || '/', 'http://fake')
  const visible = (r: RepositoryData) => !r.isPrivate || authenticated
  if (request.method !== 'GET') return notFound(headers)

  const sortRepositories = (repositories: RepositoryData[]) => {
    const sort = url.searchParams.get('sort') ?? 'full_name'
    const direction = url.searchParams.get('direction') ?? (sort === 'full_name' ? 'asc' : 'desc')
    const field = { full_name: 'NAME', created: 'CREATED_AT', updated: 'UPDATED_AT', pushed: 'PUSHED_AT' }[sort] ?? 'NAME'
    return ordered(repositories, { field, direction: direction === 'desc' ? 'DESC' : 'ASC' }, (r, f) =>
      f === 'NAME' ? r.name.toLowerCase() : Date.parse(f === 'PUSHED_AT' ? r.pushedAt ?? r.createdAt : f === 'UPDATED_AT' ? r.updatedAt : r.createdAt),
    )
  }

  let match = /^\/(users|orgs)\/([^/]+)\/repos$/.exec(url.pathname) ?? /^\/(user)\/(\d+)\/repos$/.exec(url.pathname)
  if (match) {
    const [, kind, key] = match as unknown as [string, string, string]
    const found = kind === 'user' ? state.data.owners.find((o) => String(o.databaseId) === key) : findOwner(state.data, decodeURIComponent(key))
    if (!found || (kind === 'orgs' && found.type !== 'Organization')) return notFound(headers, `${restDocs}/repos/repos#list-repositories-for-a-user`)
    // GitHub's Link headers point at the owner's id, whichever name the first request used.
    const linkBase = kind === 'orgs' ? `${base}/organizations/${found.databaseId}/repos` : `${base}/user/${found.databaseId}/repos`
    return listing(sortRepositories(found.repositories.filter(visible)), url, linkBase, headers, (r) => restRepository(base, found, r, false))
  }
  match = /^\/organizations\/(\d+)\/repos$/.exec(url.pathname)
  if (match) {
    const found = state.data.owners.find((o) => String(o.databaseId) === match![1] && o.type === 'Organization')
    if (!found) return notFound(headers)
    return listing(sortRepositories(found.repositories.filter(visible)), url, `${base}/organizations/${found.databaseId}/repos`, headers, (r) => restRepository(base, found, r, false))
  }
  const exists = (login: string, name: string) => Boolean(findOwner(state.data, login)?.repositories.some((r) => r.name.toLowerCase() === name.toLowerCase() && visible(r)))
  const traffic = answerTraffic(state.data.traffic, url, token, headers, exists)
  if (traffic) return traffic
  match = /^\/repos\/([^/]+)\/([^/]+)\/stargazers\/history$/.exec(url.pathname)
  if (match) {
    const repo = findOwner(state.data, decodeURIComponent(match[1]!))?.repositories.find((r) => r.name.toLowerCase() === decodeURIComponent(match![2]!).toLowerCase())
    if (state.data.starHistoryEndpoint === false || !repo || !visible(repo)) return notFound(headers)
    return starHistoryReply(historyOf(repo), url, `${base}${url.pathname}`, headers)
  }
  match = /^\/repos\/([^/]+)\/([^/]+)$/.exec(url.pathname)
  if (match) {
    const found = findOwner(state.data, decodeURIComponent(match[1]!))
    const repo = found?.repositories.find((r) => r.name.toLowerCase() === decodeURIComponent(match![2]!).toLowerCase())
    if (!found || !repo || !visible(repo)) return notFound(headers, `${restDocs}/repos/repos#get-a-repository`)
    return { status: 200, headers, body: restRepository(base, found, repo, true) }
  }
  return notFound(headers)
}
