// Fake GitHub, Docker Hub and npm on one port, standalone: `node --import tsx test/support/fake-apis.ts --port N [--host H] [--data FILE] [--now MS]`.
// GitHub: GraphQL at /graphql (and /api/graphql), REST at /users, /orgs, /user, /repos (and under /api/v3);
// Docker Hub at /v2/... ; npm's download counts at /downloads/range/... . The Swarm e2e points GITHUB_API_URL,
// DOCKERHUB_API_URL and NPM_API_URL here.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import * as v from 'valibot'
import { dockerHubReply, hubNamespace, hubRepository, type DockerHubData, type HubRepository } from './dockerhub-api.ts'
import { githubHandler } from './github-api.ts'
import { asset, generatedOwner, owner, release, repository, type GitHubData, type OwnerData, type RepositoryData } from './github-data.ts'
import { days, isoDay, npmReply, type NpmData } from './registry-apis.ts'
import { startApiServer, type ApiServer } from './servers.ts'

/** The data file: JSON or YAML. Owners and namespaces are listed, or generated (`generate: N`). */
const count = (max = Number.MAX_SAFE_INTEGER) => v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(max))
const releaseSpec = v.object({
  tagName: v.string(),
  createdAt: v.string(),
  isDraft: v.optional(v.boolean()),
  isPrerelease: v.optional(v.boolean()),
  assets: v.optional(v.array(v.object({ name: v.string(), downloadCount: count() })), []),
})
const repositorySpec = v.looseObject({ name: v.string(), releases: v.optional(v.array(releaseSpec), []) })
const ownerSpec = v.object({
  login: v.string(),
  type: v.optional(v.picklist(['Organization', 'User']), 'Organization'),
  generate: v.optional(count(5000), 0),
  repositories: v.optional(v.array(repositorySpec), []),
})
const dataSpec = v.strictObject({
  github: v.optional(v.object({ owners: v.optional(v.array(ownerSpec), []), tokens: v.optional(v.array(v.string())) }), {}),
  dockerhub: v.optional(v.object({ namespaces: v.optional(v.record(v.string(), v.union([count(), v.array(v.looseObject({ name: v.string() }))])), {}) }), {}),
  // Package name -> the day it was published; it is downloaded 100 + (n mod 7) times on its n-th day, up to yesterday.
  npm: v.optional(v.object({ packages: v.optional(v.record(v.string(), v.pipe(v.string(), v.isoDate())), {}) }), {}),
})
export type FakeApisData = v.InferInput<typeof dataSpec>

/** What the e2e watches by default: the targets of the example activity.yml. */
export const defaultData: FakeApisData = {
  github: {
    owners: [
      { login: 'prometheus', generate: 60 },
      {
        login: 'grafana',
        generate: 20,
        repositories: [{ name: 'grafana', stargazerCount: 64_000, forkCount: 12_000, releases: [{ tagName: 'v11.3.0', createdAt: '2024-10-22T12:00:00Z', assets: [{ name: 'grafana-11.3.0.linux-amd64.tar.gz', downloadCount: 48_210 }] }] }],
      },
    ],
  },
  dockerhub: { namespaces: { prom: 40, bitnami: 5, grafana: [{ name: 'grafana', pull_count: 3_000_000_000, star_count: 3_100 }] } },
  npm: { packages: { 'prom-client': '2026-01-01' } },
}

/** The downloads of an npm package on its n-th day, in the fake. */
export const npmDownloadsOn = (n: number) => 100 + (n % 7)

export function buildData(input: FakeApisData, now = Date.now()): { github: GitHubData; dockerhub: DockerHubData; npm: NpmData } {
  const spec = v.parse(dataSpec, input)
  const owners: OwnerData[] = spec.github.owners.map((o) => {
    const listed = o.repositories.map(({ name, releases, ...fields }) =>
      repository(name, {
        ...(fields as Partial<RepositoryData>),
        releases: releases.map((r) => release(r.tagName, r.createdAt, { isDraft: r.isDraft ?? false, isPrerelease: r.isPrerelease ?? false, assets: r.assets.map((a) => asset(a.name, a.downloadCount)) })),
      }),
    )
    const generated = o.generate ? generatedOwner(o.login, o.generate, o.type).repositories.filter((g) => !listed.some((l) => l.name === g.name)) : []
    return owner(o.login, [...listed, ...generated], o.type)
  })
  const namespaces: Record<string, HubRepository[]> = {}
  for (const [namespace, repositories] of Object.entries(spec.dockerhub.namespaces)) {
    namespaces[namespace] = typeof repositories === 'number' ? hubNamespace(namespace, repositories) : repositories.map(({ name, ...fields }) => hubRepository(namespace, name, fields as Partial<HubRepository>))
  }
  const lastDay = isoDay(now - 86_400_000)
  const packages = Object.fromEntries(Object.entries(spec.npm.packages).map(([name, first]) => [name, days(first, lastDay, npmDownloadsOn)]))
  return { github: { owners, tokens: spec.github.tokens }, dockerhub: { namespaces }, npm: { lastDay, packages } }
}

export async function startFakeApis(input: FakeApisData = defaultData, listen: { port?: number; host?: string } = {}, now = Date.now()): Promise<ApiServer> {
  const data = buildData(input, now)
  const github = githubHandler(data.github)
  return startApiServer(async (request) => {
    if (request.url === '/' || request.url === '/healthz') return { body: { github_graphql: '/graphql', github_rest: '/users/{owner}/repos', dockerhub: '/v2/namespaces/{namespace}/repositories' } }
    if (request.url.startsWith('/downloads/')) return npmReply(data.npm, request)
    return (
      (await github.route(request)) ??
      // Docker Hub's next links name hub.docker.com; the collector follows them on its configured base.
      dockerHubReply(data.dockerhub, request, 'https://hub.docker.com') ?? { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } }
    )
  }, listen)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, data: { type: 'string' }, now: { type: 'string' } } })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: give a port number`)
  // --now MS fixes the clock the data is built on (npm's last day is the day before it), so that a test started
  // before midnight UTC expects the same days as the server it started, and a restarted server answers the same.
  const now = values.now === undefined ? Date.now() : Number(values.now)
  if (!Number.isSafeInteger(now)) throw new Error(`--now ${values.now}: give milliseconds since 1970`)
  const input = values.data ? (parseYaml(readFileSync(values.data, 'utf8')) as FakeApisData) : defaultData
  const server = await startFakeApis(input, { port, host: values.host }, now)
  process.stdout.write(`fake GitHub and Docker Hub APIs on http://${values.host}:${new URL(server.url).port}${values.data ? ` (data: ${values.data})` : ' (default data)'}\n`)
  const stop = () => void server.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
