// A fake GitHub (GraphQL and REST) on a loopback port: answers from data it is given, paginates and bills like GitHub.
//
// GraphQL documents are checked against GitHub's published schema (@octokit/graphql-schema) and executed with
// graphql-js against that same schema over the data, so any query shape is answered truthfully, with GitHub's field
// shapes, or refused the way GitHub refuses it. Each request's rate-limit cost is computed from the received document
// by GitHub's documented rule (see rateLimitCost). REST answers take their shape from @octokit/fixtures' recordings.
//
// The parts: github-data.ts (the data and its builders), github-graphql.ts, github-rest.ts, github-limits.ts (tokens,
// costs, rate limits and GitHub's refusals), github-history-api.ts and github-traffic.ts.
import type { GitHubData } from './github-data.ts'
import { answerGraphql } from './github-graphql.ts'
import { restDocs, type BilledQuery, type FakeState, type Intercept } from './github-limits.ts'
import { answerRest } from './github-rest.ts'
import { startApiServer, type ApiServer, type RecordedRequest, type Reply } from './servers.ts'

export interface FakeGitHub extends ApiServer {
  data: GitHubData
  /** Each answered GraphQL request: its document, variables and the points GitHub would bill for it. */
  graphql: BilledQuery[]
  /** GraphQL points billed so far. */
  readonly points: number
  /** Requests to the GraphQL endpoint (answered or refused, retries included). */
  readonly graphqlRequests: number
  /** Requests to REST endpoints. */
  readonly restRequests: number
  /** Answers the next requests with these replies instead (one each, in order): 502s, rate limits, hangs, bad JSON. */
  queue(...replies: Reply[]): void
  /** Consulted before the normal answer; a Reply replaces it (e.g. fail only large pages). */
  intercept?: Intercept
}

/** The fake's request handler, for servers that serve more than GitHub (test/support/fake-apis.ts); undefined: not a GitHub path. */
export function githubHandler(data: GitHubData): {
  route: (request: RecordedRequest) => Promise<Reply | undefined>
  fake: Omit<FakeGitHub, keyof ApiServer>
} {
  const limit = data.graphqlPoints?.limit ?? 5000
  const state: FakeState = {
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
