// Deploys commits: validate first, then build changed images and deploy changed stacks in order, each done once the
// swarm runs it; one at a time, latest commit wins. A failed deployment is tried again on the backoff schedule of
// retry.ts until it deploys or a newer commit replaces it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SimpleGit } from 'simple-git'
import type { Logger } from '../collectors/runtime/log.ts'
import { checkoutCommit } from './checkout.ts'
import { Interrupted, type RequestOptions, type RollbackRequest } from './requests.ts'
import { changedStacks, fingerprints, images as allImages, type Fingerprints, type Image, type Stack } from './inputs.ts'
import type { LedgerEntry, ServiceRecord, Trigger } from './ledger.ts'

export { Interrupted, type RequestOptions, type RollbackRequest }
import { type AttemptRecorder } from './attempts.ts'
import { retryDelaySeconds, retrySchedule, systemClock, type Clock } from './retry.ts'
import type { DeployState, Pin, StateFile } from './state.ts'

/** What deploying needs from the outside world; the real one runs `activity validate`, `docker build` and `docker stack deploy`. */
export interface DeploySteps {
  /** Problems with the tree at `dir`, one line each; empty when it is valid. */
  validate(dir: string, report: (line: string) => void): Promise<string[]>
  buildImage(dir: string, image: Image, fingerprint: string, report: (line: string) => void): Promise<void>
  deployStack(dir: string, stack: Stack, report: (line: string) => void): Promise<void>
  /**
   * Resolves once the swarm runs what deployStack asked for; throws when it does not (a task rejected, e.g. for an
   * image that does not exist; an update paused or rolled back; not running in time). `since`: when the stack's
   * deployment started. Without this step, deployStack returning is taken for done. `signal`: gitops stops; the
   * step ends at once with the error it was given (the attempt is resumed by the next gitops).
   */
  awaitStack?(stack: Stack, since: number, report: (line: string) => void, signal?: AbortSignal): Promise<void>
  /** Each service of the stacks as the swarm runs it (image, spec fingerprint), for the ledger. */
  describe?(stacks: Stack[]): Promise<ServiceRecord[]>
}

/** 'pinned': the commit is the branch head `activity rollback` pinned the platform away from; not deployed. 'interrupted': gitops stopped while it ran. */
export type Outcome = 'deployed' | 'unchanged' | 'invalid' | 'failed' | 'superseded' | 'pinned' | 'interrupted'

export interface DeployResult {
  commit: string
  outcome: Outcome
  /** The stacks this attempt deployed. */
  stacks: Stack[]
  problems: string[]
  seconds: number
  /** 1 for the first attempt at this commit, 2 for its first retry, ...; 0 for a commit superseded before it ran. */
  attempt: number
  /** A failed attempt: seconds until gitops tries again (absent when a newer commit is deployed next instead). */
  retryInSeconds?: number
  /** A failed attempt whose update Swarm rolled back (update_config failure_action: rollback). */
  rolledBack?: boolean
  /** Its entry in the deploy ledger. */
  entry?: LedgerEntry
}

export interface DeployEvents {
  onStackDeployed?(stack: Stack, commit: string, ok: boolean, seconds: number): void
  /** Once per attempt, retries included. */
  onResult?(result: DeployResult): void
  /** The platform was pinned by a rollback (a Pin) or unpinned (undefined). */
  onPin?(pin: Pin | undefined): void
}

interface Pending extends RequestOptions {
  commit: string
  validated: boolean
  trigger: Trigger
  listeners: { resolve: (result: DeployResult) => void; report: (line: string) => void }[]
}

/** The commit whose attempts failed, how many in a row, why the last failed, and the timer of its next attempt (none while another runs). */
interface Failing {
  commit: string
  attempts: number
  reason: string
  timer?: unknown
}

/** Fingerprints of the stacks that run what was deployed: a stack whose last deployment failed counts as not deployed. */
function deployedFingerprints(state: DeployState): Partial<Record<Stack, string>> {
  const entries = Object.entries(state.stacks) as [Stack, { fingerprint: string }][]
  return Object.fromEntries(entries.filter(([stack]) => !state.failed?.[stack]).map(([stack, d]) => [stack, d.fingerprint]))
}

export class Deployer {
  private running: Promise<void> | undefined
  private pending: Pending | undefined
  private failing: Failing | undefined
  /** The last commit that passed validation: its retries are not validated again. */
  private validatedCommit: string | undefined
  private stopped = false
  /** Aborted when gitops stops: a deployment following the swarm ends at once, to be resumed by the next gitops. */
  private readonly stopping = new AbortController()

  constructor(
    private readonly git: SimpleGit,
    private readonly state: StateFile,
    private readonly steps: DeploySteps,
    private readonly log: Logger,
    private readonly events: DeployEvents = {},
    private readonly clock: Clock = systemClock,
    private readonly recorder?: AttemptRecorder,
  ) {}

  /**
   * Asks for `commit` to be deployed. While a deployment runs, requests coalesce: only the latest waits its turn,
   * and the ones it replaced resolve as 'superseded'. `report` receives progress lines (the git push answer).
   * A retry waiting for its time waits for this one's outcome: a newer commit that deploys replaces it.
   */
  request(commit: string, report: (line: string) => void = () => {}, options: RequestOptions = {}): Promise<DeployResult> {
    const pin = this.state.read().pinned
    // Pinned by a rollback: the commit it pinned away from waits for a newer one (or an unpin); a retry of it stops.
    if (pin && commit === pin.head && !options.rollback && options.trigger !== 'unpin') {
      report(`${commit.slice(0, 7)}: not deployed: the platform is pinned to ${pin.commit.slice(0, 7)} (ledger entry ${pin.entry}) by activity rollback until a newer commit, or activity rollback --unpin`)
      return Promise.resolve({ commit, outcome: 'pinned', stacks: [], problems: [], seconds: 0, attempt: 0 })
    }
    this.holdRetry()
    return new Promise((resolve) => {
      if (this.pending) {
        const replaced = this.pending
        for (const listener of replaced.listeners) {
          listener.report(`superseded by ${commit.slice(0, 7)}, which will be deployed instead`)
          listener.resolve({ commit: replaced.commit, outcome: 'superseded', stacks: [], problems: [], seconds: 0, attempt: 0 })
        }
        this.log.info('commit superseded', { commit: replaced.commit, by: commit })
      }
      this.pending = { ...options, commit, validated: options.validated ?? false, trigger: options.trigger ?? 'push', listeners: [{ resolve, report }] }
      if (!this.running) this.running = this.drain()
    })
  }

  /**
   * After a (re)start: a branch head not yet handled is deployed now; otherwise a failed commit's next attempt is
   * due when the state says, and a failed head with no attempt recorded is tried now.
   */
  resume(head: string | undefined, unfinished: LedgerEntry[] = []): void {
    const { retry, lastCommit, lastResult, pinned } = this.state.read()
    // An attempt at the head a stopped gitops was following: finished here, as one entry; the others are over.
    const following = unfinished.find((e) => e.commit === head && e.trigger !== 'rollback' && !pinned)
    for (const entry of unfinished.filter((e) => e !== following)) this.recorder?.abandon(entry, entry.trigger === 'rollback' ? 'gitops stopped during the rollback; run activity rollback again' : 'gitops stopped during this attempt; a newer commit replaced it')
    if (pinned && head === pinned.head) {
      this.log.info('pinned by a rollback: the branch head waits for a newer commit', { head, pinnedTo: pinned.commit, entry: pinned.entry })
      return
    }
    if (following) void this.request(following.commit, () => {}, { trigger: following.trigger, resume: following })
    else if (head && head !== lastCommit) void this.request(head, () => {}, { trigger: 'restart' })
    else if (retry) {
      this.failing = { commit: retry.commit, attempts: retry.attempts, reason: retry.reason }
      this.log.info('a failed deployment will be retried', { commit: retry.commit, attempts: retry.attempts, at: retry.nextAt })
      this.arm(Math.max(0, Date.parse(retry.nextAt) - this.clock.now()))
    } else if (head && lastResult === 'failed') void this.request(head, () => {}, { trigger: 'restart' })
  }

  /** No more retries (the service stops); a deployment already running finishes (see idle()). */
  stop(): void {
    this.stopped = true
    this.holdRetry()
    this.stopping.abort(new Interrupted())
  }

  /** Ends the pin at once and deploys `head` (activity rollback --unpin). */
  unpin(head: string | undefined, report: (line: string) => void): Promise<DeployResult | undefined> {
    const state = this.state.read()
    if (!state.pinned) {
      report('the platform is not pinned')
      return Promise.resolve(undefined)
    }
    const { pinned, ...rest } = state
    this.state.write(rest)
    this.events.onPin?.(undefined)
    report(`unpinned from ${pinned.commit.slice(0, 7)} (ledger entry ${pinned.entry})${head ? `; deploying the branch head ${head.slice(0, 7)}` : ''}`)
    return head ? this.request(head, report, { trigger: 'unpin' }) : Promise.resolve(undefined)
  }

  /** Resolves when nothing is running or waiting (a retry waiting for its time is not running). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const pending = this.pending
      const { commit, validated, listeners } = pending
      this.pending = undefined
      const report = (line: string) => listeners.forEach((l) => l.report(line))
      const attempt = this.failing?.commit === commit && !pending.rollback ? this.failing.attempts + 1 : 1
      const entry = this.recorder?.begin(pending, this.clock.now())
      const result = await this.deploy(pending, validated || this.validatedCommit === commit || Boolean(pending.rollback), attempt, report, entry)
      if (entry && result.outcome !== 'interrupted') result.entry = await this.recorder!.end(entry, result, this.clock.now(), report)
      if (pending.rollback && result.outcome === 'failed') {
        report(`${commit.slice(0, 7)}: the rollback failed; nothing is pinned, and it is not tried again`)
        // A commit that was failing before is still the one to converge on.
        if (this.failing && !this.pending) this.retryLater()
      } else this.settle(result, report)
      this.events.onResult?.(result)
      listeners.forEach((l) => l.resolve(result))
    }
    this.running = undefined
  }

  /** After an attempt: a failure is tried again on the schedule, unless a newer commit is next; a success ends the retries. */
  private settle(result: DeployResult, report: (line: string) => void): void {
    const { commit, outcome, attempt } = result
    const short = commit.slice(0, 7)
    if (outcome === 'deployed' || outcome === 'unchanged') {
      this.failing = undefined
      return
    }
    if (outcome === 'interrupted') return
    if (outcome === 'failed') {
      this.failing = { commit, attempts: attempt, reason: result.problems[0] ?? '' }
      if (this.pending) {
        report(`${short}: attempt ${attempt} failed; not tried again: ${this.pending.commit.slice(0, 7)} is deployed next instead`)
        this.log.warn('deployment failed', { commit, attempt, reason: this.failing.reason, next: this.pending.commit })
        return
      }
      result.retryInSeconds = this.retryLater()
      report(`${short}: attempt ${attempt} failed; gitops tries again in ${result.retryInSeconds} s (waits double after each failure, up to ${retrySchedule.maxSeconds} s) until it deploys or a newer commit replaces it`)
      this.log.warn('deployment failed', { commit, attempt, reason: this.failing.reason, retryInSeconds: result.retryInSeconds })
      return
    }
    // An invalid newer commit replaces nothing: the failed one before it is still the one to converge on.
    if (outcome === 'invalid' && this.failing && this.failing.commit !== commit && !this.pending) {
      const seconds = this.retryLater()
      report(`${this.failing.commit.slice(0, 7)}, whose deployment failed, is still the commit to deploy: tried again in ${seconds} s`)
    }
  }

  /** Records the failing commit's next attempt in the state (it survives a restart) and arms its timer; returns the wait in seconds. */
  private retryLater(): number {
    const { commit, attempts, reason } = this.failing!
    const seconds = retryDelaySeconds(attempts)
    this.state.write({ ...this.state.read(), retry: { commit, attempts, nextAt: new Date(this.clock.now() + seconds * 1000).toISOString(), reason } })
    this.arm(seconds * 1000)
    return seconds
  }

  private arm(ms: number): void {
    const failing = this.failing
    if (this.stopped || !failing) return
    failing.timer = this.clock.setTimeout(() => {
      failing.timer = undefined
      this.log.info('retrying a failed deployment', { commit: failing.commit, attempt: failing.attempts + 1 })
      // Nobody waits on a retry's answer: its progress goes to the log, its outcome to the log and the metrics.
      void this.request(failing.commit, (line) => this.log.debug('retry progress', { commit: failing.commit, line }))
    }, ms)
  }

  private holdRetry(): void {
    if (this.failing?.timer === undefined) return
    this.clock.clearTimeout(this.failing.timer)
    this.failing.timer = undefined
  }

  private async deploy(pending: Pending, validated: boolean, attempt: number, report: (line: string) => void, entry?: LedgerEntry): Promise<DeployResult> {
    const { commit, rollback } = pending
    const started = this.clock.now()
    // Resumed: the swarm's update began under the gitops that stopped; what happened since then counts.
    const since = pending.resume ? Math.min(started, Date.parse(pending.resume.startedAt)) : started
    const short = commit.slice(0, 7)
    const state = this.state.read()
    const finish = (outcome: Exclude<Outcome, 'superseded' | 'pinned' | 'interrupted'>, stacks: Stack[], problems: string[], rolledBack = false): DeployResult => {
      const { retry, ...rest } = state
      // A deployed or unchanged commit ends the retries; a failed one's next attempt is recorded by settle().
      this.state.write({ ...rest, ...(outcome === 'deployed' || outcome === 'unchanged' ? {} : { retry }), lastCommit: rollback ? state.lastCommit : commit, lastResult: outcome })
      return { commit, outcome, stacks, problems, seconds: (this.clock.now() - started) / 1000, attempt, ...(rolledBack ? { rolledBack } : {}) }
    }
    if (state.pinned && !rollback) {
      // A new commit ends the pin, whatever its outcome: it is deployed as usual.
      report(`${short}: a new commit: the pin to ${state.pinned.commit.slice(0, 7)} (ledger entry ${state.pinned.entry}) ends`)
      delete state.pinned
      this.state.write(state)
      this.events.onPin?.(undefined)
    }
    try {
      const current = await fingerprints(this.git, commit)
      const changed = changedStacks(current.stacks, deployedFingerprints(state)).filter((stack) => !rollback?.stacks || rollback.stacks.includes(stack))
      if (entry) this.recorder?.stacks(entry, changed)
      if (!changed.length) {
        report(`${short}: no stack changed, nothing to deploy`)
        this.log.info('nothing to deploy', { commit })
        if (rollback) this.pin(state, rollback, commit, report)
        return finish('unchanged', [], [])
      }
      report(`${short}: ${rollback ? `rollback to ledger entry ${rollback.entry.id}: ` : attempt > 1 ? `attempt ${attempt}: ` : ''}stacks to deploy: ${changed.join(', ')}`)
      this.log.info('deploying', { commit, stacks: changed, attempt, trigger: pending.trigger })
      const dir = mkdtempSync(join(tmpdir(), `activity-deploy-${short}-`))
      try {
        await this.checkout(commit, dir)
        const problems = validated ? [] : await this.validate(dir, short, report)
        if (problems.length) {
          this.log.warn('commit refused by validation', { commit, problems })
          return finish('invalid', [], problems)
        }
        this.validatedCommit = commit
        await this.buildImages(dir, changed, current, state, short, report)
        const failure = await this.deployStacks(dir, changed, current, state, commit, since, report)
        if (failure) return finish('failed', failure.deployed, [failure.reason], failure.rolledBack)
        report(`${short}: deployed ${changed.join(', ')} in ${((this.clock.now() - started) / 1000).toFixed(1)}s`)
        this.log.info('deployed', { commit, stacks: changed, attempt, seconds: (this.clock.now() - started) / 1000 })
        if (rollback) this.pin(state, rollback, commit, report)
        return finish('deployed', changed, [])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    } catch (error) {
      if (error instanceof Interrupted) {
        this.log.info('stopped while following the deployment; the next gitops resumes it', { commit })
        return { commit, outcome: 'interrupted', stacks: [], problems: [], seconds: (this.clock.now() - started) / 1000, attempt }
      }
      // A step outside the stacks failed (fingerprints, checkout, an image build): no stack changed.
      const reason = (error as Error).message
      report(`failed: ${reason}`)
      return finish('failed', [], [reason])
    }
  }

  /** After a rollback deployed: the platform is pinned to its commit until a newer one. */
  private pin(state: DeployState, rollback: RollbackRequest, commit: string, report: (line: string) => void): void {
    const pin: Pin = { entry: rollback.entry.id, commit, ...(rollback.head ? { head: rollback.head } : {}), since: new Date(this.clock.now()).toISOString(), stacks: rollback.stacks ?? [] }
    state.pinned = pin
    // A commit that was failing is no longer tried: the rollback replaced it.
    this.failing = undefined
    delete state.retry
    this.events.onPin?.(pin)
    report(`pinned to ${commit.slice(0, 7)} (ledger entry ${rollback.entry.id}): gitops deploys nothing until a newer commit; activity rollback --unpin resumes at once`)
  }

  private async validate(dir: string, short: string, report: (line: string) => void): Promise<string[]> {
    report(`${short}: validating`)
    const problems = await this.steps.validate(dir, report)
    for (const problem of problems) report(`invalid: ${problem}`)
    if (problems.length) report(`${short}: refused; nothing was deployed, the running platform is unchanged`)
    return problems
  }

  private async buildImages(dir: string, changed: Stack[], current: Fingerprints, state: DeployState, short: string, report: (line: string) => void): Promise<void> {
    const needed = allImages.filter((image) => changed.some((stack) => stack === image) && state.images[image] !== current.images[image])
    for (const image of needed) {
      report(`${short}: building image ${image}`)
      await this.steps.buildImage(dir, image, current.images[image], report)
      state.images[image] = current.images[image]
      this.state.write(state)
    }
  }

  /**
   * Each changed stack in order, recorded as deployed once the swarm runs it. The first that fails stops the
   * deployment: it is recorded as failed (with what it ran before kept), and the stacks after it are not touched.
   */
  private async deployStacks(dir: string, changed: Stack[], current: Fingerprints, state: DeployState, commit: string, since: number, report: (line: string) => void): Promise<{ deployed: Stack[]; reason: string; rolledBack: boolean } | undefined> {
    const short = commit.slice(0, 7)
    const deployed: Stack[] = []
    for (const [index, stack] of changed.entries()) {
      const stackStarted = this.clock.now()
      const seconds = () => (this.clock.now() - stackStarted) / 1000
      report(`${short}: deploying ${stack}`)
      try {
        await this.steps.deployStack(dir, stack, report)
        await this.steps.awaitStack?.(stack, Math.min(stackStarted, since), report, this.stopping.signal)
      } catch (error) {
        if (error instanceof Interrupted) throw error
        const reason = `${stack}: ${(error as Error).message}`
        state.failed = { ...state.failed, [stack]: { commit, at: new Date(this.clock.now()).toISOString(), reason } }
        this.state.write(state)
        this.events.onStackDeployed?.(stack, commit, false, seconds())
        report(`failed: ${reason}`)
        const untouched = changed.slice(index + 1)
        report(`${short}: ${deployed.length ? `deployed ${deployed.join(', ')}; ` : ''}${stack} failed${untouched.length ? `; not deployed: ${untouched.join(', ')}` : ''}`)
        return { deployed, reason, rolledBack: (error as { rolledBack?: boolean }).rolledBack === true }
      }
      state.stacks[stack] = { fingerprint: current.stacks[stack], commit, at: new Date(this.clock.now()).toISOString() }
      if (state.failed) delete state.failed[stack]
      this.state.write(state)
      deployed.push(stack)
      this.events.onStackDeployed?.(stack, commit, true, seconds())
    }
    return undefined
  }

  private async checkout(commit: string, dir: string): Promise<void> {
    await checkoutCommit((await this.git.revparse(['--absolute-git-dir'])).trim(), commit, dir)
  }
}
