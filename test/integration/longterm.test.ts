// The longterm profile with real programs: the metrics stack is resolved as up and gitops deploy it (resolveForDeploy)
// from an activity.yml with literal retention settings; Debian's Prometheus and VictoriaMetrics are started with the
// flags that resolved stack gives them (only paths and ports are this machine's), Prometheus with the remote_write of
// the config the stack mounts. VictoriaMetrics' Prometheus API then answers with the values pushed to a real
// Pushgateway, and each program's own flag listing shows the values written in activity.yml.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import type { ComposeFile } from '../../stacks/deploy/deploy.ts'
import { defaultProfile, resolveForDeploy } from '../../stacks/deploy/profile.ts'
import { queryPrometheus, startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'

const test = suite('long-term metrics in VictoriaMetrics')
const root = new URL('../..', import.meta.url).pathname
const work = tempDir('longterm')
let victoria: Started
let gateway: Pushgateway
let prometheus: Prometheus

/** The metrics stack as it would be deployed for this activity.yml. */
async function metricsStack(): Promise<ComposeFile> {
  const file = join(work.path, 'activity.yml')
  writeFileSync(file, 'sources:\n  dockerhub:\n    targets: [prom]\nmetrics:\n  retention: 400d\n  retentionSize: 20GB\n  longTerm:\n    enabled: true\n    retention: 3y\n')
  const config = loadConfig(file, await loadCollectors(new URL('../../collectors/', import.meta.url)))
  const resolved = await resolveForDeploy('metrics', { root, config, profile: defaultProfile('registry.test:5000'), tag: '1.0.0-test', workDir: mkdtempSync(join(work.path, 'metrics-')) })
  return resolved.compose
}

/** A service's flags without the ones naming a path or a listen address, which this machine's programs get their own of. */
function portableFlags(compose: ComposeFile, service: string, machineOwn: RegExp): string[] {
  const command = compose.services?.[service]?.command as string[] | undefined
  if (!command) throw new Error(`the resolved metrics stack has no ${service} command`)
  return command.filter((flag) => !machineOwn.test(flag))
}

test.before(async () => {
  const binary = requireBinary('victoria-metrics', 'victoria-metrics')
  const stack = await metricsStack()
  // Samples searchable after 1 s instead of 30 s: the one flag the test adds.
  const victoriaFlags = portableFlags(stack, 'victoriametrics', /^-(storageDataPath|httpListenAddr)=/)
  victoria = await startProgram(binary, (port) => [`-storageDataPath=${join(work.path, 'vm-data')}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=WARN', '-search.latencyOffset=1s', ...victoriaFlags], '/health')
  gateway = await startPushgateway()
  // The config the stack mounts for Prometheus (its remote_write), with the service address replaced by this machine's.
  const mounted = parse(readFileSync(stack.configs!.prometheus_longterm!.file!, 'utf8')) as { remote_write: { url: string }[] }
  const remoteWrite = mounted.remote_write.map((target) => ({ ...target, url: target.url.replace('http://metrics_victoriametrics:8428', victoria.url) }))
  assert.is(remoteWrite[0]!.url, `${victoria.url}/api/v1/write`)
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    extraConfig: stringify({ remote_write: remoteWrite }),
    flags: portableFlags(stack, 'prometheus', /^--(config\.file|storage\.tsdb\.path|web\.listen-address)=/),
  })
})
test.after(async () => {
  await Promise.all([prometheus?.stop(), gateway?.stop(), victoria?.stop()])
  work.remove()
})

test('VictoriaMetrics answers PromQL with the values pushed to the Pushgateway, through remote_write', async () => {
  const response = await fetch(`${gateway.url}/metrics/job/github/target/prometheus`, {
    method: 'PUT',
    body: 'github_repository_stars{owner="prometheus",repository="prometheus"} 55123\ngithub_repository_stars{owner="prometheus",repository="alertmanager"} 6600\n',
  })
  assert.ok(response.ok)
  await prometheus.queryUntil('github_repository_stars{repository="prometheus"}')
  const stars = await waitFor('VictoriaMetrics to answer with the pushed stars', async () => {
    const result = await queryPrometheus(victoria.url, 'github_repository_stars{job="github",target="prometheus"}')
    return result.length === 2 ? result : undefined
  }, 60_000)
  const byRepository = Object.fromEntries(stars.map((s) => [s.metric.repository, s.value]))
  assert.equal(byRepository, { prometheus: 55123, alertmanager: 6600 })
})

test('the retention settings written in activity.yml are what Prometheus and VictoriaMetrics say they run with', async () => {
  const flags = (await (await fetch(`${prometheus.url}/api/v1/status/flags`)).json()) as { data: Record<string, string> }
  assert.is(flags.data['storage.tsdb.retention.time'], '400d')
  assert.is(flags.data['storage.tsdb.retention.size'], '20GiB', 'Prometheus counts GB in powers of two')
  const victoriaFlags = await (await fetch(`${victoria.url}/flags`)).text()
  assert.match(victoriaFlags, /^-retentionPeriod="3y"$/m)
})

test.run()
