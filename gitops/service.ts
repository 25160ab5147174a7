// The gitops service: learns of commits (its own git remote, a webhook, polling), deploys them, schedules the collector jobs, and reports.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Counter, Gauge, Registry } from 'prom-client'
import { simpleGit, type SimpleGit } from 'simple-git'
import type { Logger } from '../collectors/runtime/log.ts'
import { checkoutCommit, Deployer, type DeployResult, type DeploySteps } from './deployer.ts'
import { authorised, hookToken, parseHookInput, prepareRepository, repoName, sameCredential, serveGit } from './git-server.ts'
import { Scheduler, type JobRunner } from './scheduler.ts'
import { StateFile } from './state.ts'
import { DeliveryLog, maxBodyBytes, verifyWebhook } from './webhook.ts'

export interface GitopsOptions {
  /** Holds the bare repository, the deploy state and the scheduler's last runs (a volume). */
  stateDir: string
  port: number
  host?: string
  branch: string
  /** Polled for new commits when set (it may embed credentials: it comes from a secret file). */
  remoteUrl?: string
  pollSeconds: number
  webhookSecret?: string
  pushPassword?: string
  steps: DeploySteps
  runner?: JobRunner
  log: Logger
}

export interface GitopsService {
  url: string
  deployer: Deployer
  scheduler?: Scheduler
  registry: Registry
  /** Fetches the remote now and deploys the branch head if it moved. */
  poll(): Promise<DeployResult | undefined>
  close(): Promise<void>
}

function metricsFor(registry: Registry) {
  return {
    deployedCommit: new Gauge({ name: 'activity_gitops_deployed_commit_info', help: 'Commit deployed for each stack (value 1; the commit is a label).', labelNames: ['stack', 'commit'], registers: [registry] }),
    lastDeploy: new Gauge({ name: 'activity_gitops_last_deploy_timestamp_seconds', help: 'Unix time of the last deployment attempt of each stack.', labelNames: ['stack'], registers: [registry] }),
    lastSuccess: new Gauge({ name: 'activity_gitops_last_deploy_success', help: '1 if the last deployment of the stack succeeded, 0 if it failed.', labelNames: ['stack'], registers: [registry] }),
    duration: new Gauge({ name: 'activity_gitops_deploy_duration_seconds', help: 'Duration of the last deployment of each stack, in seconds.', labelNames: ['stack'], registers: [registry] }),
    deployments: new Counter({ name: 'activity_gitops_deployments_total', help: 'Commits handled, by outcome (deployed, unchanged, invalid, failed, superseded).', labelNames: ['outcome'], registers: [registry] }),
    invalid: new Counter({ name: 'activity_gitops_validation_failures_total', help: 'Commits refused because they failed validation.', registers: [registry] }),
    webhooks: new Counter({ name: 'activity_gitops_webhook_requests_total', help: 'Webhook requests, by result (accepted, ping, ignored, refused).', labelNames: ['result'], registers: [registry] }),
    jobs: new Counter({ name: 'activity_gitops_job_runs_total', help: 'Scheduled collector job runs, by service and result (started, skipped-running, failed).', labelNames: ['service', 'result'], registers: [registry] }),
  }
}

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

export async function startGitops(options: GitopsOptions): Promise<GitopsService> {
  const { log } = options
  const registry = new Registry()
  const metrics = metricsFor(registry)
  const deliveries = new DeliveryLog()
  let server: Server | undefined
  const self = { url: '' }

  const server0 = createServer()
  await new Promise<void>((resolve) => server0.listen(options.port, options.host ?? '0.0.0.0', resolve))
  server = server0
  const port = (server.address() as AddressInfo).port
  self.url = `http://127.0.0.1:${port}`

  const repo = await prepareRepository(options.stateDir, self.url, options.branch)
  const git: SimpleGit = simpleGit(repo)
  const state = new StateFile(join(options.stateDir, 'deployed.json'))
  const deployer = new Deployer(git, state, options.steps, log, {
    onStackDeployed(stack, commit, ok, seconds) {
      metrics.lastDeploy.set({ stack }, Date.now() / 1000)
      metrics.lastSuccess.set({ stack }, ok ? 1 : 0)
      metrics.duration.set({ stack }, seconds)
      if (ok) {
        metrics.deployedCommit.reset()
        for (const [name, deployed] of Object.entries(state.read().stacks)) metrics.deployedCommit.set({ stack: name, commit: deployed!.commit }, 1)
        metrics.deployedCommit.set({ stack, commit }, 1)
      }
    },
    onResult(result) {
      metrics.deployments.inc({ outcome: result.outcome })
      if (result.outcome === 'invalid') metrics.invalid.inc()
      if (result.stacks.includes('collectors')) void scheduler?.sync().catch((error: Error) => log.error('scheduler sync failed', { reason: error.message }))
    },
  })
  for (const [stack, deployed] of Object.entries(state.read().stacks)) metrics.deployedCommit.set({ stack, commit: deployed!.commit }, 1)

  const lastRunsFile = join(options.stateDir, 'last-runs.json')
  const scheduler = options.runner
    ? new Scheduler(
        options.runner,
        {
          lastRuns: () => {
            try {
              return JSON.parse(readFileSync(lastRunsFile, 'utf8')) as Record<string, string>
            } catch {
              return {}
            }
          },
          save: (runs) => writeFileSync(lastRunsFile, JSON.stringify(runs, null, 2)),
        },
        log,
        (service, result) => metrics.jobs.inc({ service, result }),
      )
    : undefined

  const branchRef = `refs/heads/${options.branch}`
  const validatedCommits = new Set<string>()
  const headOf = async () => (await git.raw(['rev-parse', '--verify', '-q', branchRef]).catch(() => '')).trim() || undefined

  async function poll(): Promise<DeployResult | undefined> {
    if (!options.remoteUrl) return undefined
    const before = await headOf()
    await git.raw(['fetch', '-q', options.remoteUrl, `+${branchRef}:${branchRef}`])
    const after = await headOf()
    if (!after || after === before) return undefined
    log.info('new commit from the remote', { commit: after })
    return deployer.request(after)
  }

  async function preReceive(input: string, env: Record<string, string>, write: (line: string) => void): Promise<boolean> {
    let ok = true
    for (const push of parseHookInput(input)) {
      if (push.ref !== branchRef) {
        write(`${push.ref}: accepted, not deployed (gitops deploys ${branchRef})`)
        continue
      }
      if (/^0+$/.test(push.newCommit)) {
        write(`${push.ref}: deleting the deployed branch is refused`)
        ok = false
        continue
      }
      const dir = mkdtempSync(join(tmpdir(), 'activity-validate-'))
      try {
        await checkoutCommit(repo, push.newCommit, dir, env)
        write(`${push.newCommit.slice(0, 7)}: validating`)
        const problems = await options.steps.validate(dir, write)
        for (const problem of problems) write(`invalid: ${problem}`)
        if (problems.length) {
          write(`${push.newCommit.slice(0, 7)}: refused; the running platform is unchanged`)
          metrics.invalid.inc()
          metrics.deployments.inc({ outcome: 'invalid' })
          ok = false
        } else {
          write(`${push.newCommit.slice(0, 7)}: valid`)
          validatedCommits.add(push.newCommit)
        }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
    return ok
  }

  async function postReceive(input: string, write: (line: string) => void): Promise<void> {
    for (const push of parseHookInput(input)) {
      if (push.ref !== branchRef || /^0+$/.test(push.newCommit)) continue
      // Validated by pre-receive moments ago: the deployment does not check the same commit twice.
      const result = await deployer.request(push.newCommit, write, { validated: validatedCommits.delete(push.newCommit) })
      write(`${result.commit.slice(0, 7)}: ${result.outcome}`)
    }
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://gitops.invalid')
    if (url.pathname === '/healthz') return void response.end('ok\n')
    if (url.pathname === '/metrics') {
      response.setHeader('content-type', registry.contentType)
      return void response.end(await registry.metrics())
    }
    if (url.pathname === '/webhook' && request.method === 'POST') {
      if (!options.webhookSecret) return void response.writeHead(404).end('webhooks are off: set the gitops_webhook_secret secret\n')
      const raw = await body(request, maxBodyBytes)
      const verdict = verifyWebhook({ headers: request.headers, body: raw ?? Buffer.alloc(maxBodyBytes + 1) }, options.webhookSecret, deliveries)
      if (!verdict.ok) {
        metrics.webhooks.inc({ result: verdict.status === 202 ? 'ignored' : 'refused' })
        log.warn('webhook not accepted', { status: verdict.status, reason: verdict.reason })
        return void response.writeHead(verdict.status, { 'content-type': 'text/plain' }).end(verdict.reason + '\n')
      }
      if ('ping' in verdict) {
        metrics.webhooks.inc({ result: 'ping' })
        return void response.end('pong\n')
      }
      if (verdict.ref !== undefined && verdict.ref !== branchRef) {
        metrics.webhooks.inc({ result: 'ignored' })
        return void response.writeHead(202).end(`${verdict.ref} is not ${branchRef}; nothing to do\n`)
      }
      metrics.webhooks.inc({ result: 'accepted' })
      log.info('webhook accepted', { forge: verdict.forge, commit: verdict.after })
      response.writeHead(202, { 'content-type': 'text/plain' }).end('accepted; deploying\n')
      void poll().catch((error: Error) => log.error('fetch after webhook failed', { reason: error.message }))
      return
    }
    if (url.pathname.startsWith('/hooks/') && request.method === 'POST') {
      const token = String(request.headers['x-activity-hook-token'] ?? '')
      if (!sameCredential(token, hookToken)) return void response.writeHead(403).end()
      const raw = await body(request, 1024 * 1024)
      const { input, env } = JSON.parse(raw?.toString('utf8') ?? '{}') as { input: string; env: Record<string, string> }
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      const write = (line: string) => response.write(line + '\n')
      try {
        if (url.pathname === '/hooks/pre-receive') write((await preReceive(input, env, write)) ? 'ok' : 'refused')
        else {
          await postReceive(input, write)
          write('ok')
        }
      } catch (error) {
        write(`gitops failed: ${(error as Error).message}`)
        write('refused')
      }
      return void response.end()
    }
    if (url.pathname === `/${repoName}` || url.pathname.startsWith(`/${repoName}/`)) {
      if (!options.pushPassword) return void response.writeHead(404).end('the built-in git remote is off: set the gitops_push_password secret\n')
      if (!authorised(request, options.pushPassword)) {
        return void response.writeHead(401, { 'www-authenticate': 'Basic realm="activity platform"' }).end('authentication required\n')
      }
      return serveGit(request, response, options.stateDir)
    }
    response.writeHead(404).end('not found\n')
  }

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: Error) => {
      log.error('request failed', { path: request.url, reason: error.message })
      if (!response.headersSent) response.writeHead(500)
      response.end()
    })
  })

  const timers: NodeJS.Timeout[] = []
  if (options.remoteUrl && options.pollSeconds > 0) {
    timers.push(setInterval(() => void poll().catch((error: Error) => log.error('poll failed', { reason: error.message })), options.pollSeconds * 1000))
  }
  if (scheduler) {
    await scheduler.sync().catch((error: Error) => log.error('scheduler sync failed', { reason: error.message }))
    timers.push(setInterval(() => void scheduler.sync().catch((error: Error) => log.error('scheduler sync failed', { reason: error.message })), 30_000))
  }
  // Resume: the branch head may be ahead of what is deployed (a crash mid-deployment, or a push while down).
  const head = await headOf()
  if (head && state.read().lastCommit !== head) void deployer.request(head)

  log.info('gitops ready', { url: self.url, branch: options.branch, polling: Boolean(options.remoteUrl), webhook: Boolean(options.webhookSecret), remote: Boolean(options.pushPassword) })
  return {
    url: self.url,
    deployer,
    scheduler,
    registry,
    poll,
    async close() {
      for (const timer of timers) clearInterval(timer)
      scheduler?.stop()
      await deployer.idle()
      server?.closeAllConnections()
      await new Promise<void>((resolve) => server!.close(() => resolve()))
    },
  }
}
