// The gitops service's HTTP routes: /healthz, /metrics, /webhook (forges' push webhooks), /hooks/* (the built-in
// remote's hooks calling back) and /platform.git/* (the built-in remote itself, through git http-backend).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import type { Logger } from '../collectors/runtime/log.ts'
import { listDeploys, rollback, type ApiContext } from './api.ts'
import { answerHook, type GitHooks, type HookName } from './git-hooks.ts'
import { authorised, hookToken, repoName, sameCredential, serveGit } from './git-server.ts'
import type { GitopsMetrics } from './metrics.ts'
import { DeliveryLog, maxBodyBytes, verifyWebhook } from './webhook.ts'

export interface RoutesContext {
  /** Holds the bare repository git http-backend serves. */
  stateDir: string
  /** refs/heads/<the deployed branch>: webhooks about other refs are ignored. */
  branchRef: string
  webhookSecret?: string
  pushPassword?: string
  /** A remote to fetch from is set (GITOPS_REMOTE_URL_FILE): without one, a webhook can only say that it cannot deploy. */
  canFetch: boolean
  registry: Registry
  metrics: GitopsMetrics
  hooks: GitHooks
  /** Fetches the remote and deploys the branch head if it moved (what an accepted webhook starts). */
  poll(trigger: 'webhook'): Promise<unknown>
  /** The ledger and rollbacks (activity deploys, activity rollback). */
  api: ApiContext
  log: Logger
}

type Route = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<void> | void

/** The server's request listener: each request routed, a failure logged and answered 500 when nothing was sent yet. */
export function requestListener(context: RoutesContext): (request: IncomingMessage, response: ServerResponse) => void {
  const route = router(context)
  return (request, response) => {
    route(request, response).catch((error: Error) => {
      context.log.error('request failed', { path: request.url, reason: error.message })
      if (!response.headersSent) response.writeHead(500)
      response.end()
    })
  }
}

function router(context: RoutesContext): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const webhook = webhookRoute(context)
  const hooks = hookRoute(context)
  const remote = remoteRoute(context)
  const api = apiRoute(context)
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://gitops.invalid')
    if (url.pathname === '/healthz') return void response.end('ok\n')
    if (url.pathname === '/metrics') {
      response.setHeader('content-type', context.registry.contentType)
      return void response.end(await context.registry.metrics())
    }
    if (url.pathname === '/webhook' && request.method === 'POST') return webhook(request, response, url)
    if (url.pathname.startsWith('/hooks/') && request.method === 'POST') return hooks(request, response, url)
    if (url.pathname.startsWith('/api/')) return api(request, response, url)
    if (url.pathname === `/${repoName}` || url.pathname.startsWith(`/${repoName}/`)) return remote(request, response, url)
    response.writeHead(404).end('not found\n')
  }
}

/** The request's body, or undefined once it passes `limit` bytes. */
async function body(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** What a verified webhook is answered when there is no remote to fetch the pushed commit from. */
export const noRemoteAnswer =
  'gitops has no remote to fetch this push from, so it deploys nothing: put the repository URL in a secret ' +
  '(docker secret create gitops_remote_url -), mount it in the gitops stack and set GITOPS_REMOTE_URL_FILE=/run/secrets/gitops_remote_url; ' +
  "or push to gitops' own git remote (git push platform main)"

/** POST /webhook: a verified push to the deployed branch fetches the remote and deploys, after the answer; with no remote, 409. */
function webhookRoute(context: RoutesContext): Route {
  const { metrics, log, branchRef } = context
  const deliveries = new DeliveryLog()
  return async (request, response) => {
    if (!context.webhookSecret) return void response.writeHead(404).end('webhooks are off: set the gitops_webhook_secret secret\n')
    const raw = await body(request, maxBodyBytes)
    const verdict = verifyWebhook({ headers: request.headers, body: raw ?? Buffer.alloc(maxBodyBytes + 1) }, context.webhookSecret, deliveries)
    if (!verdict.ok) {
      metrics.webhooks.inc({ result: verdict.status === 202 ? 'ignored' : 'refused' })
      log.warn('webhook not accepted', { status: verdict.status, reason: verdict.reason })
      return void response.writeHead(verdict.status, { 'content-type': 'text/plain' }).end(verdict.reason + '\n')
    }
    if (!('ping' in verdict) && verdict.ref !== undefined && verdict.ref !== branchRef) {
      metrics.webhooks.inc({ result: 'ignored' })
      return void response.writeHead(202).end(`${verdict.ref} is not ${branchRef}; nothing to do\n`)
    }
    // A ping too: whoever sets the webhook up sees at once that it cannot work yet.
    if (!context.canFetch) {
      metrics.webhooks.inc({ result: 'no-remote' })
      log.warn('webhook not followed: no remote to fetch from', { forge: verdict.forge, fix: 'set GITOPS_REMOTE_URL_FILE' })
      return void response.writeHead(409, { 'content-type': 'text/plain' }).end(noRemoteAnswer + '\n')
    }
    if ('ping' in verdict) {
      metrics.webhooks.inc({ result: 'ping' })
      return void response.end('pong\n')
    }
    metrics.webhooks.inc({ result: 'accepted' })
    log.info('webhook accepted', { forge: verdict.forge, commit: verdict.after })
    response.writeHead(202, { 'content-type': 'text/plain' }).end('accepted; fetching the remote, then deploying the branch head if it moved\n')
    void context.poll('webhook').catch((error: Error) => log.error('fetch after webhook failed', { reason: error.message }))
  }
}

/** POST /hooks/pre-receive and /hooks/post-receive: the hook scripts of the bare repository, with this process's token. */
function hookRoute(context: RoutesContext): Route {
  return async (request, response, url) => {
    const token = String(request.headers['x-activity-hook-token'] ?? '')
    if (!sameCredential(token, hookToken)) return void response.writeHead(403).end()
    const raw = await body(request, 1024 * 1024)
    const { input, env } = JSON.parse(raw?.toString('utf8') ?? '{}') as { input: string; env: Record<string, string> }
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
    const hook: HookName = url.pathname === '/hooks/pre-receive' ? 'pre-receive' : 'post-receive'
    await answerHook(context.hooks, hook, input, env, (line) => response.write(line + '\n'))
    response.end()
  }
}

/** /platform.git/...: the built-in remote, behind Basic auth with the push password. */
function remoteRoute(context: RoutesContext): Route {
  return (request, response) => {
    if (!context.pushPassword) return void response.writeHead(404).end('the built-in git remote is off: set the gitops_push_password secret\n')
    if (!authorised(request, context.pushPassword)) {
      return void response.writeHead(401, { 'www-authenticate': 'Basic realm="activity platform"' }).end('authentication required\n')
    }
    return serveGit(request, response, context.stateDir)
  }
}

/** /api/deploys (GET) and /api/rollback (POST): behind Basic auth with the push password, like the git remote. */
function apiRoute(context: RoutesContext): Route {
  return (request, response, url) => {
    if (!context.pushPassword) return void response.writeHead(404).end('the gitops API is off: set the gitops_push_password secret\n')
    if (!authorised(request, context.pushPassword)) {
      return void response.writeHead(401, { 'www-authenticate': 'Basic realm="activity platform"' }).end('authentication required\n')
    }
    if (url.pathname === '/api/deploys' && request.method === 'GET') return listDeploys(context.api, response, url)
    if (url.pathname === '/api/rollback' && request.method === 'POST') return rollback(context.api, request, response)
    response.writeHead(404).end('not found\n')
  }
}
