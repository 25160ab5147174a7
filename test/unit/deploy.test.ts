// How up decides what the swarm gets: services left out with what only they used, a hash that moves with contents
// (not with where the checkout lives), and a resolved file that `docker stack deploy` reads back unchanged.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { isLeftOut, isUnchanged, resolveStack, stackHash, withoutServices, type ComposeFile, type DeployedState } from '../../stacks/deploy/deploy.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const test = suite('deploy')
const dirs: { remove(): void }[] = []
test.after(() => dirs.forEach((d) => d.remove()))

const admin: ComposeFile = {
  services: {
    grafana: { image: 'grafana/grafana:11.3.0', secrets: ['grafana_admin_password'], configs: [{ source: 'datasources' }], networks: ['ingress', 'metrics'] },
    visualizer: { image: 'dockersamples/visualizer:stable' },
    traefik: { image: 'traefik:v3.1.6', secrets: ['traefik_basic_auth'], networks: ['ingress'] },
  },
  networks: { ingress: { name: 'activity_ingress', external: true }, metrics: { name: 'activity_metrics', external: true } },
  secrets: { grafana_admin_password: { external: true }, traefik_basic_auth: { external: true } },
  configs: { datasources: { name: 'admin_datasources_abc', file: '/x/datasources.yml' } },
}

test('a service is left out by its name in any stack, or by stack_service / stack/service in one', () => {
  assert.ok(isLeftOut('admin', 'grafana', ['grafana']))
  assert.ok(isLeftOut('admin', 'grafana', ['admin_grafana']))
  assert.ok(isLeftOut('admin', 'grafana', ['admin/grafana']))
  assert.not.ok(isLeftOut('admin', 'grafana', ['metrics_grafana']))
  assert.not.ok(isLeftOut('monitoring', 'prometheus', ['metrics_prometheus']))
})

test('leaving services out drops the secrets, configs and networks only they used', () => {
  const { compose, leftOut } = withoutServices('admin', admin, ['grafana'])
  assert.equal(leftOut, ['grafana'])
  assert.equal(Object.keys(compose.services!), ['visualizer', 'traefik'])
  assert.equal(Object.keys(compose.secrets!), ['traefik_basic_auth'], 'grafana_admin_password is not created for nothing')
  assert.equal(Object.keys(compose.configs!), [])
  assert.equal(Object.keys(compose.networks!), ['ingress'], 'metrics was only grafana\'s')
})

test('the stack hash follows config contents, not the path of the checkout', () => {
  const dir = tempDir('deploy-hash')
  dirs.push(dir)
  const a = join(dir.path, 'a.yml')
  const b = join(dir.path, 'b.yml')
  writeFileSync(a, 'scrape_interval: 60s\n')
  writeFileSync(b, 'scrape_interval: 60s\n')
  const withFile = (file: string): ComposeFile => ({ ...admin, configs: { datasources: { name: 'admin_datasources_abc', file } } })
  assert.is(stackHash(withFile(a)), stackHash(withFile(b)), 'same contents elsewhere: same hash')
  writeFileSync(b, 'scrape_interval: 30s\n')
  assert.is.not(stackHash(withFile(a)), stackHash(withFile(b)), 'other contents: another hash')
  assert.is.not(stackHash(admin), stackHash(withoutServices('admin', admin, ['traefik']).compose))
})

test('a stack is unchanged only with the same hash and every one of its services present', () => {
  const stack = { name: 'metrics', compose: {}, text: '', hash: 'h1', services: ['prometheus', 'pushgateway'], leftOut: [] }
  const state = (hash: string, services: string[]): DeployedState => ({ hashes: new Map([['metrics', hash]]), services: new Map([['metrics', services]]) })
  assert.ok(isUnchanged(stack, state('h1', ['metrics_prometheus', 'metrics_pushgateway'])))
  assert.not.ok(isUnchanged(stack, state('h0', ['metrics_prometheus', 'metrics_pushgateway'])), 'another hash')
  assert.not.ok(isUnchanged(stack, state('h1', ['metrics_prometheus'])), 'a service removed by hand')
  assert.not.ok(isUnchanged(stack, { hashes: new Map(), services: new Map() }), 'never deployed')
})

test('the resolved file keeps literal dollars through the second interpolation of docker stack deploy', async () => {
  requireBinary('docker', 'docker.io')
  const dir = tempDir('deploy-resolve')
  dirs.push(dir)
  const file = join(dir.path, 'monitoring.yml')
  writeFileSync(
    file,
    [
      'version: "3.9"',
      'services:',
      '  node-exporter:',
      '    image: prom/node-exporter:${TAG}',
      '    command: ["--collector.filesystem.mount-points-exclude=^/(dev|proc)($$|/)"]',
      '  cadvisor:',
      '    image: gcr.io/cadvisor/cadvisor:v0.49.1',
      '',
    ].join('\n'),
  )
  const resolved = await resolveStack({ name: 'monitoring', files: [file], env: { TAG: 'v1.8.2' } }, ['cadvisor'])
  assert.equal(resolved.services, ['node-exporter'])
  assert.equal(resolved.leftOut, ['cadvisor'])
  const deployed = join(dir.path, 'resolved.yml')
  writeFileSync(deployed, resolved.text)
  // What docker stack deploy will read: the same command, the same value.
  const again = await resolveStack({ name: 'monitoring', files: [deployed], env: {} }, [])
  const service = (parse(again.text) as ComposeFile).services!['node-exporter']!
  assert.is(service.image, 'prom/node-exporter:v1.8.2')
  assert.equal(again.compose.services!['node-exporter']!.command, ['--collector.filesystem.mount-points-exclude=^/(dev|proc)($|/)'])
  assert.is(again.hash, resolved.hash)
})

test.run()
