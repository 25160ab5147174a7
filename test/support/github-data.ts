// The fake GitHub's data: owners, repositories and releases as a test gives them, builders with plausible values,
// a generated owner of any size, and the lookups the GraphQL and REST answers share.
import type { TrafficData } from './github-traffic.ts'
import type { RepositoryHistory } from './github-history-api.ts'
import { randomFrom } from './seeded-random.ts'

export interface ReleaseAssetData {
  name: string
  downloadCount: number
  size: number
  contentType: string
}

export interface ReleaseData {
  tagName: string
  name: string | null
  createdAt: string
  publishedAt: string | null
  isDraft: boolean
  isPrerelease: boolean
  assets: ReleaseAssetData[]
}

export interface RepositoryData {
  databaseId: number
  name: string
  description: string | null
  isFork: boolean
  isArchived: boolean
  isPrivate: boolean
  primaryLanguage: string | null
  license: { key: string; name: string; spdxId: string } | null
  stargazerCount: number
  forkCount: number
  watchers: number
  issues: { open: number; closed: number }
  pullRequests: { open: number; closed: number; merged: number }
  /** null: an empty repository (no commits, so no default branch). */
  defaultBranch: { name: string; commits: number } | null
  releases: ReleaseData[]
  /** Kilobytes, as GitHub counts them; null when GitHub has not computed it. */
  diskUsage: number | null
  createdAt: string
  updatedAt: string
  pushedAt: string | null
  topics: string[]
  /** Its past, event by event (github-history-api.ts): served by the history connections and the star-history endpoint. */
  history?: RepositoryHistory
}

export interface OwnerData {
  databaseId: number
  login: string
  type: 'Organization' | 'User'
  name: string | null
  repositories: RepositoryData[]
}

export interface GitHubData {
  owners: OwnerData[]
  /** Tokens GitHub accepts; absent: any token is accepted. */
  tokens?: string[]
  /** GraphQL points an hour (5,000 for a user token) and how many are left when the server starts. */
  graphqlPoints?: { limit: number; remaining?: number }
  /** REST requests an hour and how many are left, without a token (60) and with one (5,000). */
  restRequests?: { anonymous?: number; authenticated?: number; remaining?: number }
  /** Traffic (views, clones, referrers, paths) and what each token may do (test/support/github-traffic.ts). */
  traffic?: TrafficData
  /** false: no star-history endpoint (404), as on GitHub Enterprise Server. */
  starHistoryEndpoint?: boolean
}

/** GitHub's time format: ISO 8601 in UTC, whole seconds. */
export function githubTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

let nextId = 1_000_000

/** A repository with plausible values; pass what the test cares about. */
export function repository(name: string, fields: Partial<RepositoryData> = {}): RepositoryData {
  const created = Date.parse('2019-03-14T09:26:53Z')
  return {
    databaseId: nextId++,
    name,
    description: `${name}: a repository of the fake GitHub`,
    isFork: false,
    isArchived: false,
    isPrivate: false,
    primaryLanguage: 'Go',
    license: { key: 'apache-2.0', name: 'Apache License 2.0', spdxId: 'Apache-2.0' },
    stargazerCount: 0,
    forkCount: 0,
    watchers: 0,
    issues: { open: 0, closed: 0 },
    pullRequests: { open: 0, closed: 0, merged: 0 },
    defaultBranch: { name: 'main', commits: 1 },
    releases: [],
    diskUsage: 128,
    createdAt: githubTime(created),
    updatedAt: githubTime(created + 86_400_000),
    pushedAt: githubTime(created + 86_400_000),
    topics: [],
    ...fields,
  }
}

export function release(tagName: string, createdAt: string, fields: Partial<ReleaseData> = {}): ReleaseData {
  return {
    tagName,
    name: tagName,
    createdAt,
    publishedAt: githubTime(Date.parse(createdAt) + 600_000),
    isDraft: false,
    isPrerelease: false,
    assets: [],
    ...fields,
  }
}

export function asset(name: string, downloadCount: number): ReleaseAssetData {
  return { name, downloadCount, size: 10_485_760, contentType: 'application/gzip' }
}

export function owner(login: string, repositories: RepositoryData[], type: OwnerData['type'] = 'Organization'): OwnerData {
  return { databaseId: nextId++, login, type, name: login, repositories }
}

const words = ['alert', 'exporter', 'client', 'node', 'push', 'gateway', 'proxy', 'common', 'docs', 'operator', 'chart', 'sdk', 'agent', 'query', 'store', 'rules', 'mixin', 'lint', 'bench', 'ui']
const languages = ['Go', 'TypeScript', 'Python', 'Rust', 'Java', 'Shell', 'C', 'Ruby', 'JavaScript', 'Jsonnet']
const licenses = [
  { key: 'apache-2.0', name: 'Apache License 2.0', spdxId: 'Apache-2.0' },
  { key: 'mit', name: 'MIT License', spdxId: 'MIT' },
  { key: 'bsd-3-clause', name: 'BSD 3-Clause "New" or "Revised" License', spdxId: 'BSD-3-Clause' },
]

/**
 * An owner with `count` repositories as they come in real organizations: heavy-tailed stars and downloads, some forks,
 * archived and empty repositories, no license or language on some, 0 to 40 releases with 0 to 6 assets each, drafts
 * and prereleases among them.
 */
export function generatedOwner(login: string, count: number, type: OwnerData['type'] = 'Organization'): OwnerData {
  const random = randomFrom(login)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  const heavy = (max: number) => Math.floor(Math.exp(random() * Math.log(max + 1))) - 1
  const repositories: RepositoryData[] = []
  const names = new Set<string>()
  for (let i = 0; i < count; i++) {
    let name = `${pick(words)}-${pick(words)}`
    if (names.has(name)) name = `${name}-${i}`
    names.add(name)
    const empty = random() < 0.03
    const created = Date.parse('2012-01-01T00:00:00Z') + Math.floor(random() * 12 * 365 * 86_400_000)
    const pushed = created + Math.floor(random() * (Date.parse('2024-10-01T00:00:00Z') - created))
    const stars = heavy(60_000)
    const releases: ReleaseData[] = []
    const releaseCount = empty || random() < 0.4 ? 0 : 1 + Math.floor(random() * 40)
    let releaseTime = created + 86_400_000
    for (let r = 0; r < releaseCount; r++) {
      releaseTime += Math.floor(random() * 60 * 86_400_000) + 3_600_000
      const assets = Array.from({ length: Math.floor(random() * 7) }, (_, a) => asset(`${name}-${r}.${a}.tar.gz`, heavy(250_000)))
      releases.push(release(`v0.${r}.0`, githubTime(releaseTime), { assets, isDraft: random() < 0.02, isPrerelease: random() < 0.1 }))
    }
    repositories.push(
      repository(name, {
        isFork: random() < 0.15,
        isArchived: random() < 0.08,
        primaryLanguage: empty || random() < 0.1 ? null : pick(languages),
        license: empty || random() < 0.2 ? null : pick(licenses),
        stargazerCount: stars,
        forkCount: Math.floor(stars * random() * 0.3),
        watchers: Math.floor(stars * 0.03) + Math.floor(random() * 10),
        issues: { open: heavy(400), closed: heavy(4000) },
        pullRequests: { open: heavy(150), closed: heavy(800), merged: heavy(6000) },
        defaultBranch: empty ? null : { name: random() < 0.7 ? 'main' : 'master', commits: 1 + heavy(40_000) },
        releases,
        diskUsage: empty ? 0 : 1 + heavy(500_000),
        createdAt: githubTime(created),
        updatedAt: githubTime(pushed),
        pushedAt: githubTime(empty ? created : pushed),
        topics: [pick(words)],
      }),
    )
  }
  return owner(login, repositories, type)
}

/** Releases a reader without push access sees (GitHub shows drafts only to those who can push). */
export function visibleReleases(repository: RepositoryData): ReleaseData[] {
  return repository.releases.filter((r) => !r.isDraft)
}

/** The release GitHub marks Latest: the most recently created one that is neither a draft nor a prerelease. */
export function latestRelease(repository: RepositoryData): ReleaseData | undefined {
  return visibleReleases(repository)
    .filter((r) => !r.isPrerelease)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0]
}

export function findOwner(data: GitHubData, login: string): OwnerData | undefined {
  return data.owners.find((o) => o.login.toLowerCase() === login.toLowerCase())
}

/** A GraphQL node id as GitHub writes them (type prefix, then the id). */
export function nodeId(prefix: string, id: number): string {
  return `${prefix}_kgDO${Buffer.from(String(id)).toString('base64url')}`
}

export type Order = { field: string; direction: 'ASC' | 'DESC' } | null | undefined

/** Items sorted as an orderBy (GraphQL) or sort/direction (REST) asks; no order: as they are. */
export function ordered<T>(items: T[], order: Order, key: (item: T, field: string) => string | number): T[] {
  if (!order) return items
  const sign = order.direction === 'DESC' ? -1 : 1
  return [...items].sort((a, b) => {
    const x = key(a, order.field)
    const y = key(b, order.field)
    return (x < y ? -1 : x > y ? 1 : 0) * sign
  })
}
