// The standalone fake APIs the Swarm e2e runs: both collectors work against it, on one port, from a data file or defaults.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import dockerhub from '../../collectors/dockerhub.ts'
import github from '../../collectors/github.ts'
import { collectOnce, valueOf } from '../support/collect.ts'
import { startProgram, tempDir, type Started } from '../support/servers.ts'

const root = new URL('../..', import.meta.url).pathname
let program: Started | undefined
let dir: ReturnType<typeof tempDir> | undefined

const test = suite('fake APIs (standalone)')
test.after.each(async () => {
  await program?.stop()
  program = undefined
  dir?.remove()
  dir = undefined
})

const start = (extra: string[] = []) => startProgram(process.execPath, (port) => ['--import', 'tsx', 'test/support/fake-apis.ts', '--port', String(port), ...extra], '/', { cwd: root })

test('serves GitHub and Docker Hub on one port, from a YAML data file', async () => {
  dir = tempDir('fake-apis')
  const file = join(dir.path, 'data.yml')
  writeFileSync(
    file,
    `github:
  owners:
    - login: acme
      generate: 3
      repositories:
        - name: rocket
          stargazerCount: 42
          releases:
            - tagName: v1.0.0
              createdAt: "2024-05-01T10:00:00Z"
              assets: [{ name: rocket.tar.gz, downloadCount: 7 }]
dockerhub:
  namespaces:
    acme: 2
`,
  )
  program = await start(['--data', file])
  const withToken = await collectOnce(github, 'acme', { GITHUB_API_URL: program.url, GITHUB_TOKEN: 'ghp_e2e' })
  assert.ok(withToken.result.ok, withToken.result.error)
  assert.is(valueOf(withToken.samples, 'github_owner_repositories'), 4)
  assert.is(valueOf(withToken.samples, 'github_repository_stars', { repository: 'rocket' }), 42)
  assert.is(valueOf(withToken.samples, 'github_repository_release_downloads', { repository: 'rocket' }), 7)
  const tokenless = await collectOnce(github, 'acme/rocket', { GITHUB_API_URL: program.url })
  assert.is(valueOf(tokenless.samples, 'github_repository_stars', { repository: 'rocket' }), 42)
  const hub = await collectOnce(dockerhub, 'acme', { DOCKERHUB_API_URL: program.url })
  assert.ok(hub.result.ok, hub.result.error)
  assert.is(valueOf(hub.samples, 'dockerhub_namespace_repositories'), 2)
})

test('without a data file, serves every target of the example activity.yml', async () => {
  program = await start()
  for (const target of ['prometheus', 'grafana/grafana']) {
    const run = await collectOnce(github, target, { GITHUB_API_URL: program.url, GITHUB_TOKEN: 'ghp_e2e' })
    assert.ok(run.result.ok, `github ${target}: ${run.result.error}`)
  }
  for (const target of ['prom', 'grafana/grafana']) {
    const run = await collectOnce(dockerhub, target, { DOCKERHUB_API_URL: program.url })
    assert.ok(run.result.ok, `dockerhub ${target}: ${run.result.error}`)
  }
})

test.run()
