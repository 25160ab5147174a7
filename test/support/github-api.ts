// A fake GitHub (GraphQL and REST) on a loopback port: answers from data it is given, paginates and bills like GitHub.
//
// GraphQL documents are checked against GitHub's published schema (@octokit/graphql-schema) and executed with
// graphql-js against that same schema over the data, so any query shape is answered truthfully, with GitHub's field
// shapes, or refused the way GitHub refuses it. Each request's rate-limit cost is computed from the received document
// by GitHub's documented rule (see rateLimitCost). REST answers take their shape from @octokit/fixtures' recordings.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { schema as publishedSchema } from '@octokit/graphql-schema'
import {
  buildClientSchema,
  execute,
  getNamedType,
  GraphQLError,
  isCompositeType,
  isObjectType,
  isInterfaceType,
  Kind,
  parse,
  validate,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql'
import { answerTraffic, permissionOf, type TrafficData } from './github-traffic.ts'
import { historyOf, starHistoryReply, withHistory, type RepositoryHistory } from './github-history-api.ts'
import { startApiServer, type ApiServer, type RecordedRequest, type Reply } from './servers.ts'

// ---------------------------------------------------------------- data

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

/** Small deterministic generator (mulberry32): the same owner gets the same repositories on every run. */
function randomFrom(seedText: string): () => number {
  let seed = [...seedText].reduce((hash, char) => Math.imul(hash ^ char.charCodeAt(0), 16777619), 2166136261) >>> 0
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
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

// ---------------------------------------------------------------- GraphQL: schema, cost, execution

let cachedSchema: GraphQLSchema | undefined

/** GitHub's published GraphQL schema (@octokit/graphql-schema), built once. */
export function githubSchema(): GraphQLSchema {
  cachedSchema ??= buildClientSchema(publishedSchema.json as Parameters<typeof buildClientSchema>[0])
  return cachedSchema
}

export interface QueryCost {
  /** Requests GitHub counts: each connection asked with first/last, times the first/last of the connections above it. */
  requests: number
  /** Points: requests / 100, rounded, at least 1. */
  cost: number
  /** Nodes the query may return (GitHub refuses more than 500,000). */
  nodes: number
}

/**
 * GitHub's documented rate-limit score: "add up the number of requests needed to fulfill each unique connection in
 * the call, assuming every request reaches its first or last limit; divide by 100 and round; the minimum is 1".
 * A connection asked with first/last needs one request per parent node the connections above it can return
 * (the product of their first/last); a connection asked without first/last (only its totalCount) has no limit to
 * reach and, as observed on GitHub, adds nothing. `strict` counts those count-only connections too (the reading
 * where every connection is a request), for comparison.
 */
export function rateLimitCost(document: DocumentNode, variables: Record<string, unknown> = {}, options: { operationName?: string; strict?: boolean } = {}): QueryCost {
  const schema = githubSchema()
  const fragments = new Map<string, FragmentDefinitionNode>()
  let operation: OperationDefinitionNode | undefined
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
    if (definition.kind === Kind.OPERATION_DEFINITION && (!options.operationName || definition.name?.value === options.operationName)) operation ??= definition
  }
  if (!operation) return { requests: 0, cost: 1, nodes: 0 }
  const root = operation.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType()
  let requests = 0
  let nodes = 0

  const limitOf = (field: FieldNode): number | undefined => {
    for (const argument of field.arguments ?? []) {
      if (argument.name.value !== 'first' && argument.name.value !== 'last') continue
      const value: ValueNode = argument.value
      const limit = value.kind === Kind.INT ? Number(value.value) : value.kind === Kind.VARIABLE ? variables[value.name.value] : undefined
      if (typeof limit === 'number') return limit
    }
    return undefined
  }

  const walk = (selectionSet: SelectionSetNode, type: GraphQLCompositeType, multiplier: number, seen: Set<string>): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type
        if (condition && isCompositeType(condition)) walk(selection.selectionSet, condition, multiplier, seen)
        continue
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value)
        if (!fragment || seen.has(fragment.name.value)) continue
        const condition = schema.getType(fragment.typeCondition.name.value)
        if (condition && isCompositeType(condition)) walk(fragment.selectionSet, condition, multiplier, new Set([...seen, fragment.name.value]))
        continue
      }
      if (!isObjectType(type) && !isInterfaceType(type)) continue
      const definition = type.getFields()[selection.name.value]
      if (!definition || !selection.selectionSet) continue
      const fieldType = getNamedType(definition.type)
      let childMultiplier = multiplier
      if (fieldType.name.endsWith('Connection')) {
        const limit = limitOf(selection)
        if (limit !== undefined) {
          requests += multiplier
          nodes += multiplier * limit
          childMultiplier = multiplier * limit
        } else if (options.strict) {
          requests += multiplier
        }
      }
      if (isCompositeType(fieldType)) walk(selection.selectionSet, fieldType, childMultiplier, seen)
    }
  }
  if (root) walk(operation.selectionSet, root, 1, new Set())
  return { requests, cost: Math.max(1, Math.round(requests / 100)), nodes }
}

/** An error GitHub reports with a `type` (NOT_FOUND, RATE_LIMITED, ...). */
class GitHubGraphqlError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

function encodeCursor(index: number): string {
  return Buffer.from(`cursor:v2:${index}`).toString('base64')
}

function decodeCursor(cursor: string): number {
  const match = /^cursor:v2:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'))
  if (!match) throw new GitHubGraphqlError('INVALID_CURSOR_ARGUMENTS', `\`${cursor}\` does not appear to be a valid cursor.`)
  return Number(match[1])
}

interface PageArgs {
  first?: number | null
  last?: number | null
  after?: string | null
  before?: string | null
}

/**
 * A connection over `items` (or, when GitHub's nodes are not modelled here, only over a count). nodes/edges/pageInfo
 * are resolved lazily, so a count-only selection never needs first/last, as on GitHub.
 */
function connection<T>(name: string, args: PageArgs, items: T[] | undefined, count = items?.length ?? 0, node: (item: T) => unknown = (item) => item) {
  const window = () => {
    if (!items) throw new Error(`the fake GitHub API does not model the nodes of the \`${name}\` connection, only its totalCount`)
    const first = args.first ?? undefined
    const last = args.last ?? undefined
    if (first === undefined && last === undefined) {
      throw new GitHubGraphqlError('MISSING_PAGINATION_BOUNDARIES', `You must provide a \`first\` or \`last\` value to properly paginate the \`${name}\` connection.`)
    }
    for (const [argument, limit] of [['first', first], ['last', last]] as const) {
      if (limit !== undefined && limit > 100) throw new GitHubGraphqlError('EXCESSIVE_PAGINATION', `Requesting ${limit} records on the \`${name}\` connection exceeds the \`${argument}\` limit of 100 records.`)
      if (limit !== undefined && limit < 0) throw new GitHubGraphqlError('INVALID_PAGINATION', `\`${argument}\` on the \`${name}\` connection cannot be less than zero.`)
    }
    const lower = args.after ? decodeCursor(args.after) + 1 : 0
    const upper = args.before ? Math.min(decodeCursor(args.before), items.length) : items.length
    let start = lower
    let end = upper
    if (first !== undefined) end = Math.min(end, start + first)
    if (last !== undefined) start = Math.max(start, end - last)
    return {
      slice: items.slice(start, end).map((item, offset) => ({ item, index: start + offset })),
      hasNextPage: first !== undefined ? end < upper : false,
      hasPreviousPage: last !== undefined ? start > lower : false,
    }
  }
  return {
    totalCount: count,
    nodes: () => window().slice.map(({ item }) => node(item)),
    edges: () => window().slice.map(({ item, index }) => ({ cursor: encodeCursor(index), node: node(item) })),
    pageInfo: () => {
      const { slice, hasNextPage, hasPreviousPage } = window()
      return {
        hasNextPage,
        hasPreviousPage,
        startCursor: slice.length ? encodeCursor(slice[0]!.index) : null,
        endCursor: slice.length ? encodeCursor(slice[slice.length - 1]!.index) : null,
      }
    },
  }
}

function nodeId(prefix: string, id: number): string {
  return `${prefix}_kgDO${Buffer.from(String(id)).toString('base64url')}`
}

type Order = { field: string; direction: 'ASC' | 'DESC' } | null | undefined

function ordered<T>(items: T[], order: Order, key: (item: T, field: string) => string | number): T[] {
  if (!order) return items
  const sign = order.direction === 'DESC' ? -1 : 1
  return [...items].sort((a, b) => {
    const x = key(a, order.field)
    const y = key(b, order.field)
    return (x < y ? -1 : x > y ? 1 : 0) * sign
  })
}

interface RateState {
  limit: number
  used: number
  resetAt: number
  /** Cost of the query being executed (rateLimit { cost }). */
  cost: number
  nodes: number
}

function releaseNode(repository: RepositoryData, data: ReleaseData) {
  return {
    __typename: 'Release',
    id: nodeId('RE', Date.parse(data.createdAt) / 1000),
    tagName: data.tagName,
    name: data.name,
    createdAt: data.createdAt,
    publishedAt: data.publishedAt,
    isDraft: data.isDraft,
    isPrerelease: data.isPrerelease,
    isLatest: latestRelease(repository) === data,
    releaseAssets: (args: PageArgs & { name?: string | null }) => {
      const assets = args.name ? data.assets.filter((a) => a.name === args.name) : data.assets
      return connection('releaseAssets', args, assets, assets.length, (a) => ({ __typename: 'ReleaseAsset', ...a }))
    },
  }
}

function repositoryNode(ownerData: OwnerData, data: RepositoryData) {
  const countOnly = (name: string, count: number) => (args: PageArgs) => connection(name, args, undefined, count)
  const states = (args: { states?: string[] | null }, counts: Record<string, number>) =>
    (args.states?.length ? args.states : Object.keys(counts).map((s) => s.toUpperCase())).reduce((sum, state) => sum + (counts[state.toLowerCase()] ?? 0), 0)
  const node = {
    __typename: 'Repository',
    id: nodeId('R', data.databaseId),
    databaseId: data.databaseId,
    name: data.name,
    nameWithOwner: `${ownerData.login}/${data.name}`,
    owner: { __typename: ownerData.type, login: ownerData.login, id: nodeId(ownerData.type === 'User' ? 'U' : 'O', ownerData.databaseId) },
    description: data.description,
    url: `https://github.com/${ownerData.login}/${data.name}`,
    isFork: data.isFork,
    isArchived: data.isArchived,
    isPrivate: data.isPrivate,
    viewerPermission: (_args: unknown, context: { permission: string }) => context.permission,
    isEmpty: data.defaultBranch === null,
    visibility: data.isPrivate ? 'PRIVATE' : 'PUBLIC',
    primaryLanguage: data.primaryLanguage && { __typename: 'Language', name: data.primaryLanguage },
    licenseInfo: data.license && { __typename: 'License', key: data.license.key, name: data.license.name, spdxId: data.license.spdxId },
    stargazerCount: data.stargazerCount,
    forkCount: data.forkCount,
    stargazers: countOnly('stargazers', data.stargazerCount),
    watchers: countOnly('watchers', data.watchers),
    issues: (args: PageArgs & { states?: string[] | null }) => connection('issues', args, undefined, states(args, data.issues)),
    pullRequests: (args: PageArgs & { states?: string[] | null }) => connection('pullRequests', args, undefined, states(args, data.pullRequests)),
    latestRelease: () => {
      const latest = latestRelease(data)
      return latest ? releaseNode(data, latest) : null
    },
    // Without orderBy the fake lists releases oldest first, so a query that forgets orderBy gets old releases and is caught.
    releases: (args: PageArgs & { orderBy?: Order }) => {
      const visible = ordered(
        [...visibleReleases(data)].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt)),
        args.orderBy,
        (r, field) => (field === 'NAME' ? r.name ?? r.tagName : Date.parse(r.createdAt)),
      )
      return connection('releases', args, visible, visible.length, (r) => releaseNode(data, r))
    },
    defaultBranchRef: data.defaultBranch && {
      __typename: 'Ref',
      name: data.defaultBranch.name,
      prefix: 'refs/heads/',
      target: {
        __typename: 'Commit',
        oid: Buffer.from(`${data.databaseId}:${data.defaultBranch.commits}`).toString('hex').padEnd(40, '0').slice(0, 40),
        history: countOnly('history', data.defaultBranch.commits),
      },
    },
    diskUsage: data.diskUsage,
    createdAt: data.createdAt,
    updatedAt: data.updatedAt,
    pushedAt: data.pushedAt,
  }
  return withHistory(node, data, connection)
}

function ownerNode(data: OwnerData) {
  return {
    __typename: data.type,
    id: nodeId(data.type === 'User' ? 'U' : 'O', data.databaseId),
    databaseId: data.databaseId,
    login: data.login,
    name: data.name,
    url: `https://github.com/${data.login}`,
    repositories: (args: PageArgs & { privacy?: string | null; ownerAffiliations?: (string | null)[] | null; isFork?: boolean | null; isArchived?: boolean | null; orderBy?: Order }) => {
      const affiliations = args.ownerAffiliations ?? ['OWNER', 'COLLABORATOR']
      let repositories = affiliations.includes('OWNER') ? data.repositories : []
      if (args.privacy) repositories = repositories.filter((r) => r.isPrivate === (args.privacy === 'PRIVATE'))
      if (typeof args.isFork === 'boolean') repositories = repositories.filter((r) => r.isFork === args.isFork)
      if (typeof args.isArchived === 'boolean') repositories = repositories.filter((r) => r.isArchived === args.isArchived)
      repositories = ordered(repositories, args.orderBy, (r, field) =>
        field === 'NAME' ? r.name.toLowerCase() : field === 'STARGAZERS' ? r.stargazerCount : Date.parse(field === 'PUSHED_AT' ? r.pushedAt ?? r.createdAt : field === 'UPDATED_AT' ? r.updatedAt : r.createdAt),
      )
      return connection('repositories', args, repositories, repositories.length, (r) => repositoryNode(data, r))
    },
    repository: (args: { name: string }) => {
      const found = data.repositories.find((r) => r.name.toLowerCase() === args.name.toLowerCase())
      return found ? repositoryNode(data, found) : null
    },
  }
}

/** Resolves a field from the model object, calling it when it is a function; a field the fake does not model is an error, never a silent null. */
const fieldResolver: GraphQLFieldResolver<unknown, unknown> = (source, args, context, info: GraphQLResolveInfo) => {
  if (source === null || typeof source !== 'object' || !(info.fieldName in source)) {
    throw new Error(`the fake GitHub API does not model ${info.parentType.name}.${info.fieldName}; add it to test/support/github-api.ts`)
  }
  const value = (source as Record<string, unknown>)[info.fieldName]
  return typeof value === 'function' ? (value as (a: unknown, c: unknown, i: GraphQLResolveInfo) => unknown).call(source, args, context, info) : value
}

function findOwner(data: GitHubData, login: string): OwnerData | undefined {
  return data.owners.find((o) => o.login.toLowerCase() === login.toLowerCase())
}

function rootValue(data: GitHubData, rate: RateState) {
  return {
    repositoryOwner: ({ login }: { login: string }) => {
      const found = findOwner(data, login)
      return found ? ownerNode(found) : null
    },
    organization: ({ login }: { login: string }) => {
      const found = findOwner(data, login)
      if (!found || found.type !== 'Organization') throw new GitHubGraphqlError('NOT_FOUND', `Could not resolve to an Organization with the login of '${login}'.`)
      return ownerNode(found)
    },
    user: ({ login }: { login: string }) => {
      const found = findOwner(data, login)
      if (!found || found.type !== 'User') throw new GitHubGraphqlError('NOT_FOUND', `Could not resolve to a User with the login of '${login}'.`)
      return ownerNode(found)
    },
    repository: ({ owner: login, name }: { owner: string; name: string }) => {
      const found = findOwner(data, login)
      const repo = found?.repositories.find((r) => r.name.toLowerCase() === name.toLowerCase())
      if (!found || !repo) throw new GitHubGraphqlError('NOT_FOUND', `Could not resolve to a Repository with the name '${login}/${name}'.`)
      return repositoryNode(found, repo)
    },
    rateLimit: () => ({
      __typename: 'RateLimit',
      cost: rate.cost,
      limit: rate.limit,
      nodeCount: rate.nodes,
      remaining: Math.max(0, rate.limit - rate.used),
      used: rate.used,
      resetAt: githubTime(rate.resetAt),
    }),
  }
}

function formatError(error: GraphQLError): Record<string, unknown> {
  const original = error.originalError
  return {
    ...(original instanceof GitHubGraphqlError ? { type: original.type } : {}),
    ...(error.path ? { path: error.path } : {}),
    ...(error.locations ? { locations: error.locations } : {}),
    message: error.message,
  }
}

// ---------------------------------------------------------------- REST, shaped like @octokit/fixtures' recordings

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

const restDocs = 'https://docs.github.com/rest'

// ---------------------------------------------------------------- the server

export interface FakeGitHub extends ApiServer {
  data: GitHubData
  /** Each answered GraphQL request: its document, variables and the points GitHub would bill for it. */
  graphql: { query: string; variables: Record<string, unknown>; cost: QueryCost }[]
  /** GraphQL points billed so far. */
  readonly points: number
  /** Requests to the GraphQL endpoint (answered or refused, retries included). */
  readonly graphqlRequests: number
  /** Requests to REST endpoints. */
  readonly restRequests: number
  /** Answers the next requests with these replies instead (one each, in order): 502s, rate limits, hangs, bad JSON. */
  queue(...replies: Reply[]): void
  /** Consulted before the normal answer; a Reply replaces it (e.g. fail only large pages). */
  intercept?: (request: RecordedRequest, graphql?: { query: string; variables: Record<string, unknown> }) => Reply | undefined
}

/** GitHub's answer to too many requests in a short time (a secondary rate limit); GitHub does not always send retry-after. */
export function secondaryRateLimit(retryAfterSeconds?: number): Reply {
  return {
    status: 403,
    headers: { ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }), 'x-ratelimit-remaining': '4990', 'x-ratelimit-limit': '5000' },
    body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: `${restDocs}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits` },
  }
}

/** GitHub's GraphQL answer once the hour's points are spent: a 200 whose errors say RATE_LIMITED, none left until `resetSeconds` (Unix time). */
export function graphqlRateLimited(resetSeconds: number, limit = 5000): Reply {
  return {
    status: 200,
    headers: { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetSeconds), 'x-ratelimit-used': String(limit), 'x-ratelimit-resource': 'graphql' },
    body: { errors: [{ type: 'RATE_LIMITED', code: 'graphql_rate_limit', message: 'API rate limit already exceeded for user ID 1000.' }] },
  }
}

export function tooManyRequests(retryAfterSeconds: number): Reply {
  return { status: 429, headers: { 'retry-after': String(retryAfterSeconds) }, body: { message: 'Too Many Requests', documentation_url: `${restDocs}/overview/rate-limits-for-the-rest-api` } }
}

/** What GitHub answers when a GraphQL query runs past its time limit. */
export function graphqlTimeout(): Reply {
  return { status: 502, body: { data: null, errors: [{ message: 'Something went wrong while executing your query. This may be the result of a timeout, or it could be a GitHub bug. Please include `C0DE:1234:5678:9ABC:DEF0` when reporting this issue.' }] } }
}

export function badGateway(): Reply {
  return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }
}

interface State {
  data: GitHubData
  graphql: FakeGitHub['graphql']
  rate: RateState
  rest: { used: number; resetAt: number }
  faults: Reply[]
  counts: { graphql: number; rest: number }
  intercept?: FakeGitHub['intercept']
}

function tokenOf(request: RecordedRequest): string | undefined {
  const header = request.headers.authorization
  const match = typeof header === 'string' ? /^(?:bearer|token)\s+(\S+)$/i.exec(header.trim()) : null
  return match?.[1]
}

function graphqlHeaders(rate: RateState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(rate.limit),
    'x-ratelimit-remaining': String(Math.max(0, rate.limit - rate.used)),
    'x-ratelimit-reset': String(Math.floor(rate.resetAt / 1000)),
    'x-ratelimit-used': String(rate.used),
    'x-ratelimit-resource': 'graphql',
    'x-github-media-type': 'github.v4; format=json',
  }
}

async function answerGraphql(state: State, request: RecordedRequest): Promise<Reply> {
  const token = tokenOf(request)
  if (!token) return { status: 401, body: { message: 'This endpoint requires you to be authenticated.', documentation_url: 'https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql' } }
  if (state.data.tokens && !state.data.tokens.includes(token)) return { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/graphql' } }
  if (request.method !== 'POST') return { status: 404, body: { message: 'Not Found', documentation_url: restDocs } }
  let payload: { query?: unknown; variables?: unknown; operationName?: unknown }
  try {
    payload = JSON.parse(request.body) as typeof payload
  } catch {
    return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/graphql' } }
  }
  const headers = graphqlHeaders(state.rate)
  if (typeof payload.query !== 'string') return { status: 200, headers, body: { errors: [{ message: 'A query attribute must be specified and must be a string.' }] } }
  const query = payload.query
  const variables = (payload.variables && typeof payload.variables === 'object' ? payload.variables : {}) as Record<string, unknown>
  const operationName = typeof payload.operationName === 'string' ? payload.operationName : undefined

  const intercepted = state.intercept?.(request, { query, variables })
  if (intercepted) return intercepted

  let document: DocumentNode
  try {
    document = parse(query)
  } catch (error) {
    const syntax = error as GraphQLError
    return { status: 200, headers, body: { errors: [{ message: syntax.message, locations: syntax.locations }] } }
  }
  const schema = githubSchema()
  const invalid = validate(schema, document)
  if (invalid.length) return { status: 200, headers, body: { errors: invalid.map(formatError) } }

  const cost = rateLimitCost(document, variables, { operationName })
  if (cost.nodes > 500_000) {
    return { status: 200, headers, body: { errors: [{ type: 'MAX_NODE_LIMIT_EXCEEDED', message: `This query requests up to ${cost.nodes.toLocaleString('en-US')} possible nodes which exceeds the maximum limit of 500,000.` }] } }
  }
  const rate = state.rate
  if (Date.now() >= rate.resetAt) {
    rate.used = 0
    rate.resetAt = Date.now() + 3_600_000
  }
  if (rate.limit - rate.used < cost.cost) {
    return { status: 200, headers: graphqlHeaders(rate), body: { errors: [{ type: 'RATE_LIMITED', message: `API rate limit exceeded for user ID ${1000 + (state.data.tokens?.indexOf(token) ?? 0)}.` }] } }
  }
  rate.used += cost.cost
  rate.cost = cost.cost
  rate.nodes = cost.nodes
  state.graphql.push({ query, variables, cost })
  const result = await execute({ schema, document, variableValues: variables, operationName, rootValue: rootValue(state.data, rate), contextValue: { permission: permissionOf(state.data.traffic, token) }, fieldResolver })
  const body: Record<string, unknown> = { data: result.data ?? null }
  if (result.errors?.length) body.errors = result.errors.map(formatError)
  return { status: 200, headers: graphqlHeaders(rate), body }
}

function restHeaders(state: State, authenticated: boolean): Record<string, string> {
  const limit = authenticated ? state.data.restRequests?.authenticated ?? 5000 : state.data.restRequests?.anonymous ?? 60
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(Math.max(0, limit - state.rest.used)),
    'x-ratelimit-reset': String(Math.floor(state.rest.resetAt / 1000)),
    'x-ratelimit-used': String(state.rest.used),
    'x-ratelimit-resource': 'core',
    'x-github-media-type': 'github.v3; format=json',
    'x-github-api-version-selected': '2022-11-28',
  }
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

function answerRest(state: State, request: RecordedRequest, prefix: string): Reply {
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

/** The fake's request handler, for servers that serve more than GitHub (test/support/fake-apis.ts); undefined: not a GitHub path. */
export function githubHandler(data: GitHubData): {
  route: (request: RecordedRequest) => Promise<Reply | undefined>
  fake: Omit<FakeGitHub, keyof ApiServer>
} {
  const limit = data.graphqlPoints?.limit ?? 5000
  const state: State = {
    data,
    graphql: [],
    rate: { limit, used: limit - (data.graphqlPoints?.remaining ?? limit), resetAt: Date.now() + 3_600_000, cost: 0, nodes: 0 },
    rest: { used: 0, resetAt: Date.now() + 3_600_000 },
    faults: [],
    counts: { graphql: 0, rest: 0 },
  }
  if (data.restRequests?.remaining !== undefined) {
    state.rest.used = (data.restRequests.anonymous ?? 60) - data.restRequests.remaining
  }
  const fake: Omit<FakeGitHub, keyof ApiServer> = {
    data,
    graphql: state.graphql,
    get points() {
      return state.graphql.reduce((sum, request) => sum + request.cost.cost, 0)
    },
    get graphqlRequests() {
      return state.counts.graphql
    },
    get restRequests() {
      return state.counts.rest
    },
    queue: (...replies) => void state.faults.push(...replies),
    set intercept(hook) {
      state.intercept = hook
    },
    get intercept() {
      return state.intercept
    },
  }
  const route = async (request: RecordedRequest): Promise<Reply | undefined> => {
    const path = request.url.split('?')[0]!
    const isGraphql = path === '/graphql' || path === '/api/graphql'
    const prefix = path.startsWith('/api/v3/') ? '/api/v3' : ''
    const isRest = !isGraphql && /^\/(users|orgs|user|organizations|repos)\//.test(path.slice(prefix.length))
    if (!isGraphql && !isRest) return undefined
    if (isGraphql) state.counts.graphql++
    else state.counts.rest++
    const fault = state.faults.shift()
    if (fault) return fault
    try {
      if (isGraphql) return await answerGraphql(state, request)
      return state.intercept?.(request) ?? answerRest(state, request, prefix)
    } catch (error) {
      // A bug of the fake's own shows in the test as an answer that names it, never as a hung request.
      return { status: 500, body: { message: `the fake GitHub API failed: ${(error as Error).stack ?? String(error)}` } }
    }
  }
  return { route, fake }
}

/** Starts the fake GitHub on a free loopback port. GraphQL at /graphql (and /api/graphql), REST at / (and /api/v3/). */
export async function startGitHubApi(data: GitHubData): Promise<FakeGitHub> {
  const { route, fake } = githubHandler(data)
  const server = await startApiServer(async (request) => (await route(request)) ?? { status: 404, body: { message: 'Not Found', documentation_url: restDocs } })
  return Object.defineProperties(server as FakeGitHub, Object.getOwnPropertyDescriptors(fake))
}
