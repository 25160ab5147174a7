// The fake GitHub's GraphQL endpoint: documents checked against GitHub's published schema and executed with graphql-js
// over the data, owners and repositories answered field by field, connections paged and billed as GitHub does.
import { execute, GraphQLError, parse, validate, type DocumentNode, type GraphQLFieldResolver, type GraphQLResolveInfo } from 'graphql'
import { findOwner, githubTime, latestRelease, nodeId, ordered, visibleReleases, type GitHubData, type Order, type OwnerData, type ReleaseData, type RepositoryData } from './github-data.ts'
import { withHistory } from './github-history-api.ts'
import { githubSchema, graphqlHeaders, rateLimitCost, restDocs, tokenOf, type FakeState, type RateState } from './github-limits.ts'
import { permissionOf } from './github-traffic.ts'
import type { RecordedRequest, Reply } from './servers.ts'

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
    throw new Error(`the fake GitHub API does not model ${info.parentType.name}.${info.fieldName}; add it to test/support/github-graphql.ts`)
  }
  const value = (source as Record<string, unknown>)[info.fieldName]
  return typeof value === 'function' ? (value as (a: unknown, c: unknown, i: GraphQLResolveInfo) => unknown).call(source, args, context, info) : value
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

export async function answerGraphql(state: FakeState, request: RecordedRequest): Promise<Reply> {
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
