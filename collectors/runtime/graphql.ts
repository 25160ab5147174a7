// GraphQL for collectors: @octokit/graphql writes the request, the runtime's http sends and counts it, and the answer's data is checked against a schema; failures come out as the runtime's errors.
import { graphql, GraphqlResponseError } from '@octokit/graphql'
import { HttpError, NetworkError, RateLimitError, ResponseError } from './errors.ts'
import type { Http } from './http.ts'
import type { Schema } from './schema.ts'
import { expectShape } from './shape.ts'

/** One entry of an answer's `errors`; `type` is an extension some APIs add (GitHub: NOT_FOUND, RATE_LIMITED, ...). */
export interface GraphqlProblem {
  type?: string
  message: string
}

/** An answer that came with `errors`: what they say, and the headers it came with. */
export interface GraphqlErrors {
  errors: GraphqlProblem[]
  headers: Record<string, string | number | undefined>
}

export interface GraphqlOptions {
  http: Http
  /** The API's root as @octokit/graphql takes it: it asks `${baseUrl}/graphql`, or host/api/graphql for a host/api/v3. */
  baseUrl: string
  /** The GraphQL endpoint, as errors name it. */
  url: string
  headers: Record<string, string>
  /**
   * What an answer's `errors` mean to the person running the collector; undefined leaves them to a ResponseError that
   * lists them. A RateLimitError with a reset time is waited out once (within the run's maximum wait), then asked again.
   */
  explain?: (answer: GraphqlErrors) => Error | undefined
}

/** Sends a document with its variables and gives the answer's data as `schema` makes it. */
export type GraphqlQuery = <T>(schema: Schema<T>, document: string, variables: Record<string, unknown>) => Promise<T>

/** What octokit hands a request hook: the request it would send, whose endpoint turns options into method, URL, headers and body. */
interface OctokitRequest {
  endpoint: { parse(options: unknown): { url: string; headers: Record<string, string>; body?: unknown } }
}

/**
 * A query function on one endpoint. It throws the runtime's errors as the http client threw them (HttpError,
 * NetworkError, RateLimitError, ResponseError), an answer's `errors` as `explain` says (waiting out a rate limit it
 * names), and a ResponseError for an answer whose data is not as `schema` promises.
 */
export function graphqlQuery(options: GraphqlOptions): GraphqlQuery {
  const client = graphql.defaults({
    baseUrl: options.baseUrl,
    headers: options.headers,
    request: {
      // The request goes through the runtime's client (retries, rate limits, counting) and its answer through
      // JSON.parse: octokit's own transport parses every answer with json-with-bigint, a regular-expression pass over
      // the body and a reviver call per value (about 7% of a 60-repository GitHub run's instructions), for numbers
      // too large for a double, which the counts collectors read never are.
      hook: async (request: OctokitRequest, hookOptions: unknown) => {
        const { url, headers, body } = request.endpoint.parse(hookOptions)
        const answer = await options.http.postJson(url, body, { headers })
        return { status: answer.status, url, headers: answer.headers, data: answer.body }
      },
    },
  })
  return async (schema, document, variables) => {
    for (let waited = false; ; waited = true) {
      try {
        return dataOf(schema, await client(document, variables), options.url)
      } catch (error) {
        const problem = failure(error, options)
        // A limit the answer's errors name (GitHub's RATE_LIMITED comes as a 200): wait for its reset once, if the run may.
        if (!(problem instanceof RateLimitError) || !(error instanceof GraphqlResponseError) || waited) throw problem
        await options.http.waitOut(problem)
      }
    }
  }
}

/** What @octokit/graphql threw, as the runtime's errors: the request hook's come through it as they are. */
function failure(error: unknown, { url, explain }: GraphqlOptions): Error {
  const known = [HttpError, NetworkError, RateLimitError, ResponseError].some((type) => error instanceof type)
  if (known) return error as Error
  if (error instanceof GraphqlResponseError) {
    const answer: GraphqlErrors = { errors: (error.errors ?? []) as GraphqlProblem[], headers: error.headers }
    const listed = answer.errors.map((e) => `${e.type ? `${e.type} ` : ''}${e.message}`).join('; ')
    return explain?.(answer) ?? new ResponseError(url, `GraphQL errors: ${listed}`)
  }
  return error instanceof Error ? error : new Error(String(error))
}

/** An answer's data as `schema` makes it, or a ResponseError naming the endpoint and the first field that is not as promised. */
function dataOf<T>(schema: Schema<T>, body: unknown, url: string): T {
  if (body === null || typeof body !== 'object') throw new ResponseError(url, 'the answer is not a GraphQL JSON document with a data object')
  return expectShape(schema, body, url, 'data')
}
