// What is deployed, per stack and image, kept on the gitops volume so a restart redeploys nothing that is unchanged;
// and what failed, so a failed deployment is retried (also after a restart) instead of being taken for done.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ActivityError } from '../collectors/runtime/errors.ts'
import type { Image, Stack } from './inputs.ts'

/** The last successful deployment of a stack: what the swarm runs for it. */
export interface DeployedStack {
  fingerprint: string
  commit: string
  at: string
}

/** A stack whose last deployment failed: the commit tried, and why. Its DeployedStack still names what it ran before. */
export interface FailedStack {
  commit: string
  at: string
  reason: string
}

/** A commit whose deployment failed, waiting for its next attempt. */
export interface PendingRetry {
  commit: string
  /** Attempts made so far, all failed. */
  attempts: number
  /** When the next attempt is due (ISO time). */
  nextAt: string
  reason: string
}

/** The platform pinned by `activity rollback` to a ledger entry's commit, until a newer commit or an unpin. */
export interface Pin {
  /** The ledger entry deployed again. */
  entry: number
  commit: string
  /** The branch head when it was pinned: not deployed while pinned. */
  head?: string
  since: string
  /** The stacks rolled back (--stack); empty: every stack. */
  stacks: string[]
}

export interface DeployState {
  stacks: Partial<Record<Stack, DeployedStack>>
  images: Partial<Record<Image, string>>
  /** Stacks whose last deployment failed; any later deployment deploys them again, whatever their fingerprint. */
  failed?: Partial<Record<Stack, FailedStack>>
  /** The last commit a deployment finished for; a failed one is retried (`retry`) until it deploys or a newer commit replaces it. */
  lastCommit?: string
  lastResult?: 'deployed' | 'unchanged' | 'invalid' | 'failed'
  retry?: PendingRetry
  pinned?: Pin
}

export class DeployStateError extends ActivityError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(file, `cannot read the deploy state (${detail})`, 'move it away to redeploy every stack')
  }
}

export class StateFile {
  constructor(readonly path: string) {}

  read(): DeployState {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as DeployState
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { stacks: {}, images: {} }
      throw new DeployStateError(this.path, (error as Error).message)
    }
  }

  /** Written to a temporary file and renamed, so a crash never leaves half a state. */
  write(state: DeployState): void {
    mkdirSync(dirname(this.path), { recursive: true })
    writeFileSync(`${this.path}.tmp`, JSON.stringify(state, null, 2) + '\n')
    renameSync(`${this.path}.tmp`, this.path)
  }
}
