// Temporary git repositories shaped like the platform's, for the gitops tests.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { simpleGit, type SimpleGit } from 'simple-git'
import { tempDir } from './servers.ts'

export interface TestRepo {
  path: string
  git: SimpleGit
  /** Writes (or, with null, deletes) files and commits them; returns the commit id. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>
  remove(): void
}

export const platformFiles: Record<string, string> = {
  'README.md': '# platform\n',
  'activity.yml': 'platform:\n  domain: localhost\nsources:\n  dockerhub:\n    targets: [prom]\n',
  'stacks/admin.yml': 'services:\n  grafana:\n    image: grafana/grafana:11.3.0\n',
  'stacks/admin/grafana/datasources.yml': 'apiVersion: 1\n',
  'stacks/metrics.yml': 'services:\n  prometheus:\n    image: prom/prometheus:v2.53.2\n',
  'stacks/metrics/prometheus.yml': 'global: {}\n',
  'stacks/logs.yml': 'services: {}\n',
  'stacks/monitoring.yml': 'services: {}\n',
  'stacks/app.yml': 'services:\n  nginx:\n    image: nginx:1.27.2\n',
  'stacks/app/nginx.conf': 'events {}\n',
  'stacks/gitops.yml': 'services: {}\n',
  'collectors/dockerhub.ts': 'export default 1\n',
  'collectors/runtime/cli.ts': 'export {}\n',
  'gitops/main.ts': 'export {}\n',
  'dashboards/activity/overview.json': '{}\n',
  'package.json': '{}\n',
}

export async function createRepo(files: Record<string, string> = platformFiles, options: { bare?: boolean } = {}): Promise<TestRepo> {
  const dir = tempDir('repo')
  const git = simpleGit(dir.path)
  await git.init(['-q', '-b', 'main'])
  await git.addConfig('user.name', 'test')
  await git.addConfig('user.email', 'test@example.invalid')
  const repo: TestRepo = {
    path: dir.path,
    git,
    async commit(changes, message = 'change') {
      for (const [file, content] of Object.entries(changes)) {
        const path = join(dir.path, file)
        if (content === null) rmSync(path, { force: true })
        else {
          mkdirSync(dirname(path), { recursive: true })
          writeFileSync(path, content)
        }
      }
      await git.add(['-A'])
      await git.commit(message, ['--allow-empty'])
      return (await git.revparse(['HEAD'])).trim()
    },
    remove: dir.remove,
  }
  await repo.commit(files, 'initial')
  void options
  return repo
}
