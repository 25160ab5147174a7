// The gitops service in the test's own process, over a temporary platform repository and state folder, and git pushing to it.
import { spawn } from 'node:child_process'
import { startGitops, type GitopsOptions, type GitopsService } from '../../gitops/service.ts'
import { createRepo, type TestRepo } from './git.ts'
import { tempDir } from './servers.ts'

/** One test's platform repository (what a person pushes from) and the state folder of the gitops service it starts. */
export interface GitopsWorkspace {
  repo: TestRepo
  stateDir: string
  /** Starts the service over the state folder on a free loopback port, following main, not polling. */
  start(options: Omit<GitopsOptions, 'stateDir' | 'port' | 'host' | 'branch' | 'pollSeconds'>): Promise<GitopsService>
  /** Stops the running service, as a restart does; its state folder stays. */
  stop(): Promise<void>
  /** Stops the service if one runs and deletes both folders: for `after.each`, also after a failed test. */
  remove(): Promise<void>
}

export async function gitopsWorkspace(stateName: string): Promise<GitopsWorkspace> {
  const repo = await createRepo()
  const state = tempDir(stateName)
  let service: GitopsService | undefined
  const stop = async () => {
    await service?.close()
    service = undefined
  }
  return {
    repo,
    stateDir: state.path,
    async start(options) {
      service = await startGitops({ stateDir: state.path, port: 0, host: '127.0.0.1', branch: 'main', pollSeconds: 0, ...options })
      return service
    },
    stop,
    async remove() {
      await stop()
      repo.remove()
      state.remove()
    },
  }
}

/** The service's built-in remote with the push password in it, as a person's git remote carries it. */
export const builtInRemote = (service: GitopsService, password: string) => service.url.replace('http://', `http://platform:${password}@`) + '/platform.git'

/** git, asynchronously and never prompting: the service answering it runs in this process. */
export function gitAsync(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })
    let output = ''
    child.stdout.on('data', (c) => (output += c))
    child.stderr.on('data', (c) => (output += c))
    child.on('close', (code) => resolve({ code: code ?? -1, output }))
  })
}
