// Who may ask the fake GitHub and how much: the token a request carries, what a GraphQL query costs by GitHub's
// documented rule, the rate-limit headers, and the refusals and failures GitHub answers with (for tests to queue).
import { schema as publishedSchema } from '@octokit/graphql-schema'
import {
  buildClientSchema,
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql'
import type { GitHubData } from './github-data.ts'
import type { RecordedRequest, Reply } from './servers.ts'

export const restDocs = 'https://docs.github.com/rest'

export function tokenOf(request: RecordedRequest): string | undefined {
  const header = request.headers.authorization
  const match = typeof header === 'string' ? /^(?:bearer|token)\s+(\S+)$/i.exec(header.trim()) : null
  return match?.[1]
}

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

export interface RateState {
  limit: number
  used: number
  resetAt: number
  /** Cost of the query being executed (rateLimit { cost }). */
  cost: number
  nodes: number
}

/** A GraphQL request the fake answered: its document, variables and the points GitHub would bill for it. */
export interface BilledQuery {
  query: string
  variables: Record<string, unknown>
  cost: QueryCost
}

/** Consulted before the normal answer; a Reply replaces it (e.g. fail only large pages). */
export type Intercept = (request: RecordedRequest, graphql?: { query: string; variables: Record<string, unknown> }) => Reply | undefined

/** What the fake keeps between requests: its data, the points and requests billed, the replies queued. */
export interface FakeState {
  data: GitHubData
  graphql: BilledQuery[]
  rate: RateState
  rest: { used: number; resetAt: number }
  faults: Reply[]
  counts: { graphql: number; rest: number }
  intercept?: Intercept
}

export function graphqlHeaders(rate: RateState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(rate.limit),
    'x-ratelimit-remaining': String(Math.max(0, rate.limit - rate.used)),
    'x-ratelimit-reset': String(Math.floor(rate.resetAt / 1000)),
    'x-ratelimit-used': String(rate.used),
    'x-ratelimit-resource': 'graphql',
    'x-github-media-type': 'github.v4; format=json',
  }
}

export function restHeaders(state: FakeState, authenticated: boolean): Record<string, string> {
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
