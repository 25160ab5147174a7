// collectors/github-history-graphql.ts: what GitHub's GraphQL API gives of a repository's past: its issues, pull
// requests, forks and releases in the order they were created, the commits of its default branch, and (where the
// star-history endpoint is absent) its stargazers with the time of each star; 100 a page, each page one point.
import * as v from 'valibot'
import type { HistoryBudget } from './github-history-budget.ts'
import type { GraphqlQuery } from './runtime/graphql.ts'
import type { Schema } from './runtime/schema.ts'
import { expectShape } from './runtime/shape.ts'

const rateLimit = v.nullable(v.object({ cost: v.number(), remaining: v.number() }))
const total = v.object({ totalCount: v.number() })
const pageInfo = v.object({ hasNextPage: v.boolean(), endCursor: v.nullable(v.string()) })

/** What a history run needs to know of a repository before it reads its past: its age and how much there is to read. */
export const historyRepositoryFragment = `fragment HistoryRepository on Repository {
  name
  owner { login }
  createdAt
  stargazerCount
  issues { totalCount }
  pullRequests { totalCount }
  forks { totalCount }
  releases { totalCount }
  defaultBranchRef { target { ... on Commit { history { totalCount } } } }
}`

const historyRepository = v.object({
  name: v.string(),
  owner: v.object({ login: v.string() }),
  createdAt: v.string(),
  stargazerCount: v.number(),
  issues: total,
  pullRequests: total,
  forks: total,
  releases: total,
  defaultBranchRef: v.nullable(v.object({ target: v.nullable(v.object({ history: v.optional(total) })) })),
})
export type HistoryRepository = v.InferOutput<typeof historyRepository>

export const ownerRepositoriesDocument = `query HistoryOwnerRepositories($login: String!, $after: String) {
  repositoryOwner(login: $login) {
    repositories(first: 100, after: $after, privacy: PUBLIC, ownerAffiliations: [OWNER], orderBy: {field: NAME, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes { ...HistoryRepository }
    }
  }
  rateLimit { cost remaining }
}
${historyRepositoryFragment}`

export const repositoryDocument = `query HistoryRepositoryInfo($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { ...HistoryRepository }
  rateLimit { cost remaining }
}
${historyRepositoryFragment}`

const ownerRepositoriesAnswer = v.object({
  repositoryOwner: v.nullable(v.object({ repositories: v.object({ pageInfo, nodes: v.array(v.nullable(historyRepository)) }) })),
  rateLimit,
})
const repositoryAnswer = v.object({ repository: v.nullable(historyRepository), rateLimit })

/** A GraphQL query that bills each answer's cost to the run's budget. */
export interface BilledQuery {
  query: GraphqlQuery
  budget: HistoryBudget
  /** Tells the run's http client (its health counts points) what GitHub billed. */
  spend(points: number): void
  /** The GraphQL endpoint, as errors name it. */
  url: string
}

async function ask<T extends { rateLimit: v.InferOutput<typeof rateLimit> }>(billed: BilledQuery, schema: Schema<T>, document: string, variables: Record<string, unknown>): Promise<T> {
  const answer = await billed.query(schema, document, variables)
  const cost = answer.rateLimit?.cost ?? 1
  billed.budget.record('graphql', cost, answer.rateLimit?.remaining)
  billed.spend(cost)
  return answer
}

/** Every public repository `login` owns (undefined: no such owner), 100 a page. */
export async function ownerRepositories(billed: BilledQuery, login: string): Promise<HistoryRepository[] | undefined> {
  const found: HistoryRepository[] = []
  for (let after: string | null = null; ; ) {
    const page: v.InferOutput<typeof ownerRepositoriesAnswer> = await ask(billed, ownerRepositoriesAnswer, ownerRepositoriesDocument, { login, after })
    if (!page.repositoryOwner) return undefined
    const { repositories } = page.repositoryOwner
    for (const repository of repositories.nodes) if (repository) found.push(repository)
    if (!repositories.pageInfo.hasNextPage || !repositories.pageInfo.endCursor) return found
    after = repositories.pageInfo.endCursor
  }
}

export async function oneRepository(billed: BilledQuery, owner: string, name: string): Promise<HistoryRepository | undefined> {
  return (await ask(billed, repositoryAnswer, repositoryDocument, { owner, name })).repository ?? undefined
}

/** One of a repository's connections read from the start, 100 a page. */
interface Walk<N> {
  /** The selection under `repository(owner, name)`, with `$after` for the page. */
  selection: string
  node: Schema<N>
  /** The connection in an answer's `repository` (null: the repository has none, e.g. no default branch). */
  connection(repository: unknown, url: string): { pageInfo: v.InferOutput<typeof pageInfo>; items: N[] } | null
}

const page = <N>(node: Schema<N>) => v.object({ pageInfo, nodes: v.array(v.nullable(node)) })

function connectionWalk<N>(name: string, arguments_: string, node: Schema<N>, fields: string): Walk<N> {
  const schema = v.object({ [name]: page(node) })
  return {
    selection: `${name}(first: 100, after: $after${arguments_}) { pageInfo { hasNextPage endCursor } nodes { ${fields} } }`,
    node,
    connection(repository, url) {
      const found = expectShape(schema, repository, url, 'data.repository')[name]!
      return { pageInfo: found.pageInfo, items: found.nodes.filter((n): n is N => n !== null) }
    },
  }
}

const byCreation = ', orderBy: {field: CREATED_AT, direction: ASC}'
const time = v.string()
const optionalTime = v.nullable(v.string())

export const walks = {
  issues: connectionWalk('issues', byCreation, v.object({ createdAt: time, closedAt: optionalTime }), 'createdAt closedAt'),
  pullRequests: connectionWalk('pullRequests', byCreation, v.object({ createdAt: time, closedAt: optionalTime, mergedAt: optionalTime }), 'createdAt closedAt mergedAt'),
  forks: connectionWalk('forks', byCreation, v.object({ createdAt: time }), 'createdAt'),
  releases: connectionWalk('releases', byCreation, v.object({ publishedAt: optionalTime }), 'publishedAt'),
  commits: ((): Walk<{ committedDate: string }> => {
    const node = v.object({ committedDate: time })
    const schema = v.object({ defaultBranchRef: v.nullable(v.object({ target: v.nullable(v.object({ history: v.optional(page(node)) })) })) })
    return {
      selection: 'defaultBranchRef { target { ... on Commit { history(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { committedDate } } } } }',
      node,
      connection(repository, url) {
        const history = expectShape(schema, repository, url, 'data.repository').defaultBranchRef?.target?.history
        return history ? { pageInfo: history.pageInfo, items: history.nodes.filter((n): n is { committedDate: string } => n !== null) } : null
      },
    }
  })(),
  stargazers: ((): Walk<{ starredAt: string }> => {
    const edge = v.object({ starredAt: time })
    const schema = v.object({ stargazers: v.object({ pageInfo, edges: v.array(v.nullable(edge)) }) })
    return {
      selection: 'stargazers(first: 100, after: $after, orderBy: {field: STARRED_AT, direction: ASC}) { pageInfo { hasNextPage endCursor } edges { starredAt } }',
      node: edge,
      connection(repository, url) {
        const found = expectShape(schema, repository, url, 'data.repository').stargazers
        return { pageInfo: found.pageInfo, items: found.edges.filter((e): e is { starredAt: string } => e !== null) }
      },
    }
  })(),
} as const

export type WalkName = keyof typeof walks

/** The document that reads one page of a walk. */
export function walkDocument(name: WalkName): string {
  return `query History_${name}($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) { ${walks[name].selection} }
  rateLimit { cost remaining }
}`
}

const walkAnswer = v.object({ repository: v.nullable(v.unknown()), rateLimit })

/** Stopped by the run's share of the rate limit before the walk's next page. */
export class BudgetSpent extends Error {}

/**
 * Every node of one connection of a repository, page by page, oldest first (commits: newest first, as git history
 * goes). Before each page it asks the budget for one point; when none is left it throws BudgetSpent.
 */
export async function* walk<N>(billed: BilledQuery, name: WalkName, owner: string, repository: string): AsyncGenerator<N[]> {
  const definition = walks[name] as unknown as Walk<N>
  const document = walkDocument(name)
  for (let after: string | null = null; ; ) {
    if (!billed.budget.fits('graphql', 1)) throw new BudgetSpent(name)
    const answer = await ask(billed, walkAnswer, document, { owner, name: repository, after })
    if (answer.repository === null) return
    const found = definition.connection(answer.repository, billed.url)
    if (!found) return
    yield found.items
    if (!found.pageInfo.hasNextPage || !found.pageInfo.endCursor) return
    after = found.pageInfo.endCursor
  }
}
