// collectors/dockerhub.ts: pulls, stars and last update of every repository of a Docker Hub namespace (or of one repository).
import * as v from 'valibot'
import { defineCollector, type CollectorContext } from './runtime/define.ts'
import type { Page } from './runtime/http.ts'
import { toSeconds } from './runtime/metrics.ts'
import { expectShape } from './runtime/shape.ts'

const name = '[a-z0-9]+(?:[._-][a-z0-9]+)*'

/** `namespace` (every repository in it) or `namespace/repository` (that one). */
const namespaceOrRepository = v.pipe(
  v.string('must be a Docker Hub namespace (prom) or namespace/repository (library/nginx)'),
  v.regex(new RegExp(`^${name}(/${name})?$`), 'must be a Docker Hub namespace (prom) or namespace/repository (library/nginx), lower case'),
  v.transform((id) => {
    const [namespace, repository] = id.split('/') as [string, string | undefined]
    return { id, namespace, repository }
  }),
)

const repositorySchema = v.object({
  name: v.string(),
  namespace: v.string(),
  pull_count: v.nullish(v.number()),
  star_count: v.nullish(v.number()),
  last_updated: v.nullish(v.string()),
})
const pageSchema = v.object({ next: v.nullish(v.string()), results: v.array(repositorySchema) })
type Repository = v.InferOutput<typeof repositorySchema>

/** Every repository of a namespace, 100 a page, following `next` on the configured API (not the host it names). */
async function* repositories(ctx: CollectorContext, api: string, namespace: string): AsyncGenerator<Repository> {
  const next = (page: Page) => {
    const link = expectShape(pageSchema, page.body, page.url).next
    return link ? api + new URL(link).pathname + new URL(link).search : undefined
  }
  for await (const page of ctx.http.pages(`${api}/v2/namespaces/${namespace}/repositories?page_size=100&page=1`, { next })) {
    yield* expectShape(pageSchema, page.body, page.url).results
  }
}

export default defineCollector({
  name: 'dockerhub',
  description: 'Docker Hub: pulls, stars and last update of the repositories of a namespace',
  schedule: '*/30 * * * *',
  targets: namespaceOrRepository,
  example: 'prom',
  rateLimitHint: 'Docker Hub limits anonymous API calls per IP; run less often or wait for the reset',
  metrics: {
    dockerhub_repository_pulls: { help: 'Image pulls of the repository since it was created, as Docker Hub counts them.', labels: ['namespace', 'repository'] },
    dockerhub_repository_stars: { help: 'Stars of the repository on Docker Hub.', labels: ['namespace', 'repository'] },
    dockerhub_repository_last_updated_timestamp_seconds: { help: 'Unix time of the last push to the repository.', labels: ['namespace', 'repository'] },
    dockerhub_namespace_repositories: { help: 'Public repositories in the namespace (only for namespace targets).', labels: ['namespace'] },
  },
  async collect(target, ctx) {
    const api = (ctx.setting('DOCKERHUB_API_URL') ?? 'https://hub.docker.com').replace(/\/+$/, '')
    const record = (repo: Repository) => {
      const labels = { namespace: repo.namespace, repository: repo.name }
      ctx.metrics.gauge('dockerhub_repository_pulls', repo.pull_count, labels)
      ctx.metrics.gauge('dockerhub_repository_stars', repo.star_count, labels)
      ctx.metrics.gauge('dockerhub_repository_last_updated_timestamp_seconds', toSeconds(repo.last_updated), labels)
    }
    if (target.repository) {
      const url = `${api}/v2/namespaces/${target.namespace}/repositories/${target.repository}`
      record(expectShape(repositorySchema, (await ctx.http.getJson(url)).body, url))
      return
    }
    let count = 0
    for await (const repo of repositories(ctx, api, target.namespace)) {
      record(repo)
      count++
    }
    ctx.metrics.gauge('dockerhub_namespace_repositories', count, { namespace: target.namespace })
  },
})
