// The gitops service: learns of commits (its own git remote, a webhook, polling), deploys them, schedules the collector jobs, and reports.
// This file wires the parts together: the HTTP routes are in routes.ts, the built-in remote's hooks in git-hooks.ts.
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { simpleGit, type SimpleGit } from 'simple-git'
import type { Logger } from '../collectors/runtime/log.ts'
import { AttemptRecorder } from './attempts.ts'
import { Deployer, type DeployResult, type DeploySteps } from './deployer.ts'
import type { LedgerInbox } from './inbox.ts'
import { defaultLedgerLimit, Ledger, type Trigger } from './ledger.ts'
import { gitHooks } from './git-hooks.ts'
import { prepareRepository } from './git-server.ts'
import { deployMetrics, metricsFor, resultLabels, showLastResult, showLedger, showPin, showState, type GitopsMetrics } from './metrics.ts'
import { requestListener } from './routes.ts'
import { Scheduler, type JobRunner, type SchedulerStore } from './scheduler.ts'
import { StateFile, type Pin } from './state.ts'

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
  /** Entries the deploy ledger keeps (GITOPS_LEDGER_ENTRIES; default 1000). */
  ledgerEntries?: number
  /** Where the pin is shown to `npm run status` (a Swarm config); none in tests without a swarm. */
  showPin?: (pin: Pin | undefined) => Promise<void>
  /** Entries `npm run up` left for the ledger (Swarm configs), taken in when gitops starts and before each listing. */
  inbox?: LedgerInbox
  log: Logger
}

export interface GitopsService {
  url: string
  deployer: Deployer
  ledger: Ledger
  scheduler?: Scheduler
  registry: Registry
  /** Fetches the remote now and deploys the branch head if it moved. */
  poll(trigger?: Trigger): Promise<DeployResult | undefined>
  close(): Promise<void>
}

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void

/**
 * A server listening on the port (0: any free one); its URL is where the repository's hooks call back. Until `serve`
 * hands it the routes, every request is answered 503 at once: the port opens before the repository is ready (the
 * hooks need the URL), and a request that came in between must not wait for an answer that never comes.
 */
async function listen(port: number, host: string): Promise<{ server: Server; url: string; serve: (listener: RequestListener) => void }> {
  let routes: RequestListener | undefined
  const server = createServer((request, response) => {
    if (routes) return routes(request, response)
    response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('gitops is starting\n')
  })
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, serve: (listener) => (routes = listener) }
}

/** The scheduler's last runs, in a file on the state volume. */
function lastRunsFile(file: string): SchedulerStore {
  return {
    lastRuns: () => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
      } catch {
        return {}
      }
    },
    save: (runs) => writeFileSync(file, JSON.stringify(runs, null, 2)),
  }
}

function schedulerFor(options: GitopsOptions, metrics: GitopsMetrics): Scheduler | undefined {
  if (!options.runner) return undefined
  return new Scheduler(options.runner, lastRunsFile(join(options.stateDir, 'last-runs.json')), options.log, (service, result) => metrics.jobs.inc({ service, result }))
}

/** Reads the labelled job services again; a failure is logged, the timers keep what they had. */
function syncScheduler(scheduler: Scheduler, log: Logger): Promise<void> {
  return scheduler.sync().catch((error: Error) => log.error('scheduler sync failed', { reason: error.message }))
}

/** The deployed branch's head in the bare repository, and polling the remote for a newer one. */
function branchWatcher(git: SimpleGit, branchRef: string, options: GitopsOptions, deployer: Deployer) {
  const headOf = async () => (await git.raw(['rev-parse', '--verify', '-q', branchRef]).catch(() => '')).trim() || undefined
  async function poll(trigger: Trigger = 'poll'): Promise<DeployResult | undefined> {
    if (!options.remoteUrl) return undefined
    const before = await headOf()
    await git.raw(['fetch', '-q', options.remoteUrl, `+${branchRef}:${branchRef}`])
    const after = await headOf()
    if (!after || after === before) return undefined
    options.log.info('new commit from the remote', { commit: after, trigger })
    return deployer.request(after, () => {}, { trigger })
  }
  return { headOf, poll }
}

/** Polling every pollSeconds (when there is a remote) and resynchronising the scheduler every 30 s, after a first sync now. */
async function startTimers(options: GitopsOptions, poll: () => Promise<unknown>, scheduler: Scheduler | undefined): Promise<NodeJS.Timeout[]> {
  const { log } = options
  const timers: NodeJS.Timeout[] = []
  if (options.remoteUrl && options.pollSeconds > 0) {
    timers.push(setInterval(() => void poll().catch((error: Error) => log.error('poll failed', { reason: error.message })), options.pollSeconds * 1000))
  }
  if (scheduler) {
    await syncScheduler(scheduler, log)
    timers.push(setInterval(() => void syncScheduler(scheduler, log), 30_000))
  }
  return timers
}

/** The deploy ledger on the state volume; a file it cannot read is set aside (said in one line) and a new one begins. */
function openLedger(options: GitopsOptions): Ledger {
  const ledger = new Ledger(join(options.stateDir, 'deploys.jsonl'), options.ledgerEntries ?? defaultLedgerLimit)
  if (ledger.setAside) options.log.error(`${ledger.setAside.problem}: moved to ${ledger.setAside.file}`, { file: ledger.setAside.file })
  return ledger
}

export async function startGitops(options: GitopsOptions): Promise<GitopsService> {
  const { log } = options
  const registry = new Registry()
  const metrics = metricsFor(registry)
  const { server, url, serve } = await listen(options.port, options.host ?? '0.0.0.0')

  const repo = await prepareRepository(options.stateDir, url, options.branch)
  const git = simpleGit(repo)
  const state = new StateFile(join(options.stateDir, 'deployed.json'))
  const ledger = openLedger(options)
  ledger.onChange = (entries) => showLedger(metrics, entries)
  showLedger(metrics, ledger.list())
  // After a restart the last result is still the ledger's: an alert on a rolled-back deployment does not resolve by itself.
  const lastEnded = ledger.list().filter((e) => e.result !== 'running').at(-1)
  if (lastEnded) showLastResult(metrics, resultLabels[lastEnded.result as keyof typeof resultLabels])
  const recorder = new AttemptRecorder(ledger, options.steps.describe, log)
  const scheduler = schedulerFor(options, metrics)
  // A deployment of the collectors stack may add, remove or reschedule jobs.
  const afterDeploy = (result: DeployResult) => {
    if (scheduler && result.stacks.includes('collectors')) void syncScheduler(scheduler, log)
  }
  const onPin = (pin: Pin | undefined) => {
    showPin(metrics, pin)
    void options.showPin?.(pin).catch((error: Error) => log.warn('cannot show the pin in the swarm', { reason: error.message }))
  }
  const deployer = new Deployer(git, state, options.steps, log, { ...deployMetrics(metrics, () => state.read(), afterDeploy), onPin }, undefined, recorder)
  showState(metrics, state.read())
  showPin(metrics, state.read().pinned)
  const takeInbox = () => (options.inbox ? options.inbox.take(ledger).catch((error: Error) => log.warn('cannot take in the entries up left', { reason: error.message })) : Promise.resolve())
  await takeInbox()

  const branchRef = `refs/heads/${options.branch}`
  const { headOf, poll } = branchWatcher(git, branchRef, options, deployer)
  const hooks = gitHooks({ repo, branchRef, steps: options.steps, deployer, metrics, recorder })
  const { stateDir, webhookSecret, pushPassword } = options
  const canFetch = Boolean(options.remoteUrl)
  const api = { ledger, deployer, state, headOf, takeInbox }
  serve(requestListener({ stateDir, branchRef, webhookSecret, pushPassword, canFetch, registry, metrics, hooks, poll, api, log }))

  const timers = await startTimers(options, poll, scheduler)
  // Resume: the branch head may be ahead of what is deployed (a crash mid-deployment), or a failed commit waits for its retry.
  deployer.resume(await headOf(), ledger.unfinished())

  log.info('gitops ready', { url, branch: options.branch, polling: canFetch, webhook: Boolean(options.webhookSecret), remote: Boolean(options.pushPassword) })
  return {
    url,
    deployer,
    ledger,
    scheduler,
    registry,
    poll,
    async close() {
      for (const timer of timers) clearInterval(timer)
      scheduler?.stop()
      deployer.stop()
      await deployer.idle()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
