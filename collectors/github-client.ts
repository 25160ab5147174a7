// collectors/github-client.ts: what the GitHub collector's current values and its history share: where the API is,
// what GitHub's GraphQL errors mean, and the error a target's problems are reported with.
import type { CollectorContext } from './runtime/define.ts'
import { ActivityError, RateLimitError } from './runtime/errors.ts'
import type { GraphqlErrors } from './runtime/graphql.ts'
import { resetOf } from './runtime/rate-limit.ts'

/** What GitHub's answers about one target mean for the person who configured it: `target: problem; fix`. */
export class GitHubError extends ActivityError {}

export interface Api {
  rest: string
  graphqlUrl: string
}

/** GITHUB_API_URL: api.github.com, or a GitHub Enterprise Server's http(s)://host/api/v3 (GraphQL then lives at /api/graphql). */
export function apiOf(ctx: Pick<CollectorContext, 'setting'>): Api {
  const rest = (ctx.setting('GITHUB_API_URL') ?? 'https://api.github.com').replace(/\/+$/, '')
  const graphqlUrl = /\/api\/v3$/.test(rest) ? rest.replace(/\/api\/v3$/, '/api/graphql') : `${rest}/graphql`
  return { rest, graphqlUrl }
}

/** What GitHub's GraphQL `errors` mean: a rate limit (spent until x-ratelimit-reset), a missing owner or repository; undefined for the rest. */
export function explain({ errors, headers }: GraphqlErrors, target: string, api: Api, hint: string): Error | undefined {
  if (errors.some((e) => e.type === 'RATE_LIMITED')) return new RateLimitError(api.graphqlUrl, resetOf(headers as Record<string, string | undefined>), hint)
  const missing = errors.find((e) => e.type === 'NOT_FOUND')
  if (missing) return new GitHubError(target, `GitHub: ${missing.message.replace(/\.$/, '')}`, 'check the name in activity.yml (a renamed owner or repository needs its new name)')
  return undefined
}
