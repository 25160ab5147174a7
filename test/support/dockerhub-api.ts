// A local Docker Hub API: the endpoints the collector reads, answered the way hub.docker.com answers them.
import { startApiServer, type ApiServer, type RecordedRequest, type Reply } from './servers.ts'

/** A repository as GET /v2/namespaces/{ns}/repositories lists it (fields as Docker Hub returns them). */
export interface HubRepository {
  name: string
  namespace: string
  repository_type: string | null
  status: number
  status_description: string
  description: string | null
  is_private: boolean
  star_count: number | null
  pull_count: number | null
  last_updated: string | null
  last_modified: string | null
  date_registered: string
  affiliation: string | null
  media_types: string[]
  content_types: string[]
  categories: { name: string; slug: string }[]
  storage_size: number | null
}

export interface DockerHubData {
  /** Namespace name → its repositories; tests mutate it between runs (a repository deleted upstream). */
  namespaces: Record<string, HubRepository[]>
}

export function hubRepository(namespace: string, name: string, fields: Partial<HubRepository> = {}): HubRepository {
  return {
    name,
    namespace,
    repository_type: 'image',
    status: 1,
    status_description: 'active',
    description: `${name} image`,
    is_private: false,
    star_count: 12,
    pull_count: 1_000_000,
    last_updated: '2026-10-14T09:21:44.171512Z',
    last_modified: '2026-10-14T09:21:44.171512Z',
    date_registered: '2016-03-02T11:04:21.502134Z',
    affiliation: '',
    media_types: ['application/vnd.oci.image.index.v1+json'],
    content_types: ['image'],
    categories: [{ name: 'Monitoring & Observability', slug: 'monitoring-and-observability' }],
    storage_size: 2_469_175_296,
    ...fields,
  }
}

/** `count` repositories with distinct, deterministic counts: repo i has 1000*(i+1) pulls and i stars. */
export function hubNamespace(namespace: string, count: number): HubRepository[] {
  return Array.from({ length: count }, (_, i) =>
    hubRepository(namespace, `image-${String(i).padStart(3, '0')}`, { pull_count: 1000 * (i + 1), star_count: i }),
  )
}

const notFound: Reply = { status: 404, body: { message: 'httperror 404: object not found', errinfo: {} } }

/** Answers one request as Docker Hub would; undefined when the path is not a Docker Hub endpoint. */
export function dockerHubReply(data: DockerHubData, request: RecordedRequest, base: string): Reply | undefined {
  const url = new URL(request.url, 'http://hub.invalid')
  const list = /^\/v2\/(?:namespaces\/([^/]+)\/repositories|repositories\/([^/]+))\/?$/.exec(url.pathname)
  if (list) {
    const repositories = data.namespaces[(list[1] ?? list[2])!]
    if (!repositories) return notFound
    const pageSize = Math.min(Number(url.searchParams.get('page_size') ?? 10), 100)
    const page = Number(url.searchParams.get('page') ?? 1)
    const results = repositories.slice((page - 1) * pageSize, page * pageSize)
    if (page > 1 && results.length === 0) return { status: 404, body: { message: 'Invalid page.' } }
    const link = (p: number) => `${base}${url.pathname}?page=${p}&page_size=${pageSize}`
    return {
      body: {
        count: repositories.length,
        next: page * pageSize < repositories.length ? link(page + 1) : null,
        previous: page > 1 ? link(page - 1) : null,
        results,
      },
    }
  }
  const one = /^\/v2\/(?:namespaces\/([^/]+)\/repositories|repositories\/([^/]+))\/([^/]+)\/?$/.exec(url.pathname)
  if (one) {
    const repository = data.namespaces[(one[1] ?? one[2])!]?.find((r) => r.name === one[3])
    if (!repository) return notFound
    return {
      body: {
        user: repository.namespace,
        hub_user: repository.namespace,
        ...repository,
        is_automated: false,
        collaborator_count: 0,
        has_starred: false,
        full_description: `# ${repository.name}\n`,
        permissions: { read: true, write: false, admin: false },
      },
    }
  }
  return undefined
}

export interface DockerHubApi extends ApiServer {
  data: DockerHubData
}

/**
 * Starts the fake. `intercept` may answer a request first (a 502, a 429, a hang, malformed JSON);
 * returning undefined lets the normal answer through.
 */
export async function startDockerHubApi(
  data: DockerHubData,
  intercept?: (request: RecordedRequest, index: number) => Reply | undefined,
): Promise<DockerHubApi> {
  let index = 0
  // Docker Hub's `next` links are absolute, on hub.docker.com; the collector must follow them on its configured base.
  const server = await startApiServer((request) => intercept?.(request, index++) ?? dockerHubReply(data, request, 'https://hub.docker.com') ?? notFound)
  return Object.assign(server, { data })
}
