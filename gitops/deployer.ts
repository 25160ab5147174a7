// Deploys commits: validate first, then build changed images and deploy changed stacks in order; one at a time, latest commit wins.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SimpleGit } from 'simple-git'
import type { Logger } from '../collectors/runtime/log.ts'
import { start } from '../stacks/programs.ts'
import { changedStacks, fingerprints, images as allImages, type Image, type Stack } from './inputs.ts'
import type { StateFile } from './state.ts'

/** What deploying needs from the outside world; the real one runs `activity validate`, `docker build` and `docker stack deploy`. */
export interface DeploySteps {
  /** Problems with the tree at `dir`, one line each; empty when it is valid. */
  validate(dir: string, report: (line: string) => void): Promise<string[]>
  buildImage(dir: string, image: Image, fingerprint: string, report: (line: string) => void): Promise<void>
  deployStack(dir: string, stack: Stack, report: (line: string) => void): Promise<void>
}

export type Outcome = 'deployed' | 'unchanged' | 'invalid' | 'failed' | 'superseded'

export interface DeployResult {
  commit: string
  outcome: Outcome
  stacks: Stack[]
  problems: string[]
  seconds: number
}

export interface DeployEvents {
  onStackDeployed?(stack: Stack, commit: string, ok: boolean, seconds: number): void
  onResult?(result: DeployResult): void
}

interface Pending {
  commit: string
  /** Already validated (the built-in remote's pre-receive hook did it for this very commit). */
  validated: boolean
  listeners: { resolve: (result: DeployResult) => void; report: (line: string) => void }[]
}

export class Deployer {
  private running: Promise<void> | undefined
  private pending: Pending | undefined

  constructor(
    private readonly git: SimpleGit,
    private readonly state: StateFile,
    private readonly steps: DeploySteps,
    private readonly log: Logger,
    private readonly events: DeployEvents = {},
  ) {}

  /**
   * Asks for `commit` to be deployed. While a deployment runs, requests coalesce: only the latest waits its turn,
   * and the ones it replaced resolve as 'superseded'. `report` receives progress lines (the git push answer).
   */
  request(commit: string, report: (line: string) => void = () => {}, options: { validated?: boolean } = {}): Promise<DeployResult> {
    return new Promise((resolve) => {
      if (this.pending) {
        const replaced = this.pending
        for (const listener of replaced.listeners) {
          listener.report(`superseded by ${commit.slice(0, 7)}, which will be deployed instead`)
          listener.resolve({ commit: replaced.commit, outcome: 'superseded', stacks: [], problems: [], seconds: 0 })
        }
        this.log.info('commit superseded', { commit: replaced.commit, by: commit })
      }
      this.pending = { commit, validated: options.validated ?? false, listeners: [{ resolve, report }] }
      if (!this.running) this.running = this.drain()
    })
  }

  /** Resolves when nothing is running or waiting. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const { commit, validated, listeners } = this.pending
      this.pending = undefined
      const report = (line: string) => listeners.forEach((l) => l.report(line))
      let result: DeployResult
      try {
        result = await this.deploy(commit, validated, report)
      } catch (error) {
        const reason = (error as Error).message
        this.log.error('deployment failed', { commit, reason })
        report(`failed: ${reason}`)
        result = { commit, outcome: 'failed', stacks: [], problems: [reason], seconds: 0 }
      }
      this.events.onResult?.(result)
      listeners.forEach((l) => l.resolve(result))
    }
    this.running = undefined
  }

  private async deploy(commit: string, validated: boolean, report: (line: string) => void): Promise<DeployResult> {
    const started = Date.now()
    const seconds = () => (Date.now() - started) / 1000
    const state = this.state.read()
    const current = await fingerprints(this.git, commit)
    const deployed = Object.fromEntries(Object.entries(state.stacks).map(([stack, d]) => [stack, d.fingerprint]))
    const changed = changedStacks(current.stacks, deployed)
    const short = commit.slice(0, 7)
    if (!changed.length) {
      report(`${short}: no stack changed, nothing to deploy`)
      this.log.info('nothing to deploy', { commit })
      this.state.write({ ...state, lastCommit: commit, lastResult: 'unchanged' })
      return { commit, outcome: 'unchanged', stacks: [], problems: [], seconds: seconds() }
    }
    report(`${short}: stacks to deploy: ${changed.join(', ')}`)
    this.log.info('deploying', { commit, stacks: changed })

    const dir = mkdtempSync(join(tmpdir(), `activity-deploy-${short}-`))
    try {
      await this.checkout(commit, dir)
      if (!validated) report(`${short}: validating`)
      const problems = validated ? [] : await this.steps.validate(dir, report)
      if (problems.length) {
        for (const problem of problems) report(`invalid: ${problem}`)
        report(`${short}: refused; nothing was deployed, the running platform is unchanged`)
        this.log.warn('commit refused by validation', { commit, problems })
        this.state.write({ ...state, lastCommit: commit, lastResult: 'invalid' })
        return { commit, outcome: 'invalid', stacks: [], problems, seconds: seconds() }
      }

      const neededImages = allImages.filter((image) => changed.some((stack) => stack === image) && state.images[image] !== current.images[image])
      for (const image of neededImages) {
        report(`${short}: building image ${image}`)
        await this.steps.buildImage(dir, image, current.images[image], report)
        state.images[image] = current.images[image]
        this.state.write(state)
      }

      const done: Stack[] = []
      for (const stack of changed) {
        const stackStarted = Date.now()
        report(`${short}: deploying ${stack}`)
        try {
          await this.steps.deployStack(dir, stack, report)
        } catch (error) {
          const reason = `${stack}: ${(error as Error).message}`
          this.events.onStackDeployed?.(stack, commit, false, (Date.now() - stackStarted) / 1000)
          report(`failed: ${reason}`)
          report(`${short}: ${done.length ? `deployed ${done.join(', ')} before the failure; ` : ''}${stack} and later stacks keep what they ran`)
          this.state.write({ ...state, lastCommit: commit, lastResult: 'failed' })
          return { commit, outcome: 'failed', stacks: done, problems: [reason], seconds: seconds() }
        }
        state.stacks[stack] = { fingerprint: current.stacks[stack], commit, at: new Date().toISOString() }
        this.state.write(state)
        done.push(stack)
        this.events.onStackDeployed?.(stack, commit, true, (Date.now() - stackStarted) / 1000)
      }
      this.state.write({ ...state, lastCommit: commit, lastResult: 'deployed' })
      report(`${short}: deployed ${done.join(', ')} in ${seconds().toFixed(1)}s`)
      this.log.info('deployed', { commit, stacks: done, seconds: seconds() })
      return { commit, outcome: 'deployed', stacks: done, problems: [], seconds: seconds() }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  private async checkout(commit: string, dir: string): Promise<void> {
    await checkoutCommit((await this.git.revparse(['--absolute-git-dir'])).trim(), commit, dir)
  }
}

/**
 * The commit's files in `dir` (git archive | tar), without touching the repository, which may be bare.
 * `env` carries git's quarantine paths when a pre-receive hook asks about objects not yet accepted.
 */
export async function checkoutCommit(gitDir: string, commit: string, dir: string, env: Record<string, string> = {}): Promise<void> {
  const archive = start('git', ['--git-dir', gitDir, 'archive', '--format=tar', commit], { env: { ...process.env, ...env } })
  const tar = start('tar', ['-x', '-C', dir])
  archive.stdin.end() // git archive reads nothing
  archive.stdout.pipe(tar.stdin)
  const [a, t] = await Promise.all([archive, tar])
  if (a.exitCode === 0 && t.exitCode === 0) return
  throw new Error(`cannot check out ${commit}: ${(a.stderr + t.stderr).trim() || `exit ${a.exitCode}/${t.exitCode}`}`)
}
