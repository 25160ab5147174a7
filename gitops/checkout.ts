// A commit's files in a folder, from the bare repository (or from git's quarantine, for a pre-receive hook).
import { ActivityError } from '../collectors/runtime/errors.ts'
import { start } from '../stacks/programs.ts'

export class CheckoutError extends ActivityError {
  constructor(
    readonly commit: string,
    detail: string,
  ) {
    super(`cannot check out ${commit}`, detail)
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
  throw new CheckoutError(commit, (a.stderr + t.stderr).trim() || `exit ${a.exitCode}/${t.exitCode}`)
}
