// What is deployed, per stack and image, kept on the gitops volume so a restart redeploys nothing that is unchanged.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Image, Stack } from './inputs.ts'

export interface DeployedStack {
  fingerprint: string
  commit: string
  at: string
}

export interface DeployState {
  stacks: Partial<Record<Stack, DeployedStack>>
  images: Partial<Record<Image, string>>
  /** The last commit a deployment finished for (successfully or not), so it is not tried again and again. */
  lastCommit?: string
  lastResult?: 'deployed' | 'unchanged' | 'invalid' | 'failed'
}

export class StateFile {
  constructor(readonly path: string) {}

  read(): DeployState {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as DeployState
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { stacks: {}, images: {} }
      throw new Error(`${this.path}: cannot read the deploy state (${(error as Error).message}); move it away to redeploy every stack`)
    }
  }

  /** Written to a temporary file and renamed, so a crash never leaves half a state. */
  write(state: DeployState): void {
    mkdirSync(dirname(this.path), { recursive: true })
    writeFileSync(`${this.path}.tmp`, JSON.stringify(state, null, 2) + '\n')
    renameSync(`${this.path}.tmp`, this.path)
  }
}
