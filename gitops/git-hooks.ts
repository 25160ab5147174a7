// The built-in remote's hooks, as gitops answers them: pre-receive validates the pushed branch head (a refusal rejects
// the push), post-receive deploys it; every line written goes back to the pusher as `remote: ...`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkoutCommit } from './checkout.ts'
import type { AttemptRecorder } from './attempts.ts'
import type { Deployer, DeploySteps } from './deployer.ts'
import { parseHookInput, pushOptions, type Push } from './git-server.ts'
import { countInvalid, type GitopsMetrics } from './metrics.ts'

export interface GitHooksContext {
  /** The bare repository pushes go to. */
  repo: string
  /** refs/heads/<the deployed branch>. */
  branchRef: string
  steps: DeploySteps
  deployer: Deployer
  metrics: GitopsMetrics
  /** The deploy ledger: a push refused by validation is an attempt too. */
  recorder?: AttemptRecorder
}

export type HookName = 'pre-receive' | 'post-receive'

export interface GitHooks {
  /** True when every push may be accepted. `env` carries git's quarantine paths for the objects not yet accepted. */
  preReceive(input: string, env: Record<string, string>, write: (line: string) => void): Promise<boolean>
  postReceive(input: string, write: (line: string) => void): Promise<void>
}

const deletion = (push: Push) => /^0+$/.test(push.newCommit)

export function gitHooks(context: GitHooksContext): GitHooks {
  // Commits pre-receive found valid, until post-receive asks for their deployment.
  const validatedCommits = new Set<string>()
  return {
    preReceive: (input, env, write) => preReceive(context, validatedCommits, input, env, write),
    postReceive: (input, write) => postReceive(context, validatedCommits, input, write),
  }
}

/**
 * Answers a hook the way the hook script reads it (gitops/git-server.ts): progress lines, then `ok` or `refused` last.
 * A hook that throws refuses, saying why.
 */
export async function answerHook(hooks: GitHooks, hook: HookName, input: string, env: Record<string, string>, write: (line: string) => void): Promise<void> {
  try {
    if (hook === 'pre-receive') write((await hooks.preReceive(input, env, write)) ? 'ok' : 'refused')
    else {
      await hooks.postReceive(input, write)
      write('ok')
    }
  } catch (error) {
    write(`gitops failed: ${(error as Error).message}`)
    write('refused')
  }
}

async function preReceive(context: GitHooksContext, validatedCommits: Set<string>, input: string, env: Record<string, string>, write: (line: string) => void): Promise<boolean> {
  const options = pushOptions(env)
  if (options.length) {
    for (const option of options) write(refusedOption(option))
    write('the push is refused; the running platform is unchanged')
    return false
  }
  let ok = true
  for (const push of parseHookInput(input)) {
    if (push.ref !== context.branchRef) {
      write(`${push.ref}: accepted, not deployed (gitops deploys ${context.branchRef})`)
      continue
    }
    if (deletion(push)) {
      write(`${push.ref}: deleting the deployed branch is refused`)
      ok = false
      continue
    }
    if (await validatePushed(context, push.newCommit, env, write)) validatedCommits.add(push.newCommit)
    else ok = false
  }
  return ok
}

/**
 * This remote takes no push option: one it took and ignored would be a setting accepted and not applied. `rollback=`
 * in particular cannot work as one: git sends options only with a push that moves a branch, and a rollback moves none.
 */
function refusedOption(option: string): string {
  const rollback = /^rollback(?:=(.*))?$/.exec(option)
  if (rollback) {
    const to = rollback[1] ? ` --to ${rollback[1]}` : ''
    return `push option '${option}': not taken here; git sends push options only with a push that moves the branch, and a rollback moves none (it keeps the branch and pins the platform): run activity rollback${to} --remote <this remote>`
  }
  return `push option '${option}': this remote takes no push options; push again without -o`
}

/** Checks out a pushed commit (still in quarantine) into a temporary folder and validates it. */
async function validatePushed(context: GitHooksContext, commit: string, env: Record<string, string>, write: (line: string) => void): Promise<boolean> {
  const short = commit.slice(0, 7)
  const dir = mkdtempSync(join(tmpdir(), 'activity-validate-'))
  try {
    await checkoutCommit(context.repo, commit, dir, env)
    write(`${short}: validating`)
    const problems = await context.steps.validate(dir, write)
    for (const problem of problems) write(`invalid: ${problem}`)
    if (problems.length) {
      write(`${short}: refused; the running platform is unchanged`)
      const entry = context.recorder?.refused(commit, problems)
      if (entry) write(`ledger entry ${entry.id}: refused by validation`)
      countInvalid(context.metrics)
      return false
    }
    write(`${short}: valid`)
    return true
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function postReceive(context: GitHooksContext, validatedCommits: Set<string>, input: string, write: (line: string) => void): Promise<void> {
  for (const push of parseHookInput(input)) {
    if (push.ref !== context.branchRef || deletion(push)) continue
    // Validated by pre-receive moments ago: the deployment does not check the same commit twice.
    const result = await context.deployer.request(push.newCommit, write, { validated: validatedCommits.delete(push.newCommit), trigger: 'push' })
    // The ledger's word when there is an entry (succeeded, failed, rolled back by Swarm, refused by validation).
    write(`${result.commit.slice(0, 7)}: ${result.entry ? `${result.entry.result} (ledger entry ${result.entry.id})` : result.outcome}`)
  }
}
