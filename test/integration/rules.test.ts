// The alert rules of both Prometheus (monitoring: the platform; metrics: the activity) under Debian's promtool: their unit tests pass, cover every alert both ways, and catch a change.
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { requireBinary, tempDir } from '../support/servers.ts'

const monitoring = new URL('../../stacks/monitoring/', import.meta.url).pathname
const metrics = new URL('../../stacks/metrics/', import.meta.url).pathname
const test = suite('alert rules')
const dir = tempDir('rules')
let promtool: string

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; for?: string }[] }[]
}
interface RuleTests {
  rule_files: string[]
  tests: { name: string; alert_rule_test?: { alertname: string; eval_time: string; exp_alerts: unknown[] }[] }[]
}

function promtoolIn(cwd: string, ...args: string[]) {
  return spawnSync(promtool, args, { cwd, encoding: 'utf8', timeout: 120_000 })
}

test.before(() => {
  promtool = requireBinary('promtool', 'prometheus')
})
test.after(() => dir.remove())

// Each Prometheus with its rules, and the alerts they must hold (a rule dropped or renamed fails here).
const ruleDirs = {
  monitoring: {
    dir: monitoring,
    alerts: ['CollectorNotSucceeding', 'DeploymentFailed', 'DiskFilling', 'ElasticsearchUnhealthy', 'InstanceDown', 'MemoryPressure', 'PlatformPinned', 'ReplicatedJobFailing', 'ScheduledJobNotStarted'],
  },
  metrics: { dir: metrics, alerts: ['NewRelease', 'StarSpike', 'StarsDeclining'] },
}

for (const [name, { dir: rulesDir, alerts: expected }] of Object.entries(ruleDirs)) {
  test(`${name}: promtool test rules passes: every alert fires when it should and stays silent when it should`, () => {
    const result = promtoolIn(rulesDir, 'test', 'rules', 'rules.test.yml')
    assert.is(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout + result.stderr, /SUCCESS/)
  })

  test(`${name}: every alert has a test where it fires and one where it is silent`, () => {
    const rules = parse(readFileSync(join(rulesDir, 'rules.yml'), 'utf8')) as RuleFile
    const tests = parse(readFileSync(join(rulesDir, 'rules.test.yml'), 'utf8')) as RuleTests
    assert.equal(tests.rule_files, ['rules.yml'])
    const alerts = [...new Set(rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => !!a)))]
    assert.equal(alerts.sort(), expected)
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? [])
    for (const alert of alerts) {
      assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} has no test where it fires`)
      assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} has no test where it stays silent`)
    }
    // Rules sharing an alert name (reasons) are each tested firing.
    const reasons = rules.groups.flatMap((g) => g.rules).map((r) => (r as { labels?: { reason?: string } }).labels?.reason).filter(Boolean)
    const fired = JSON.stringify(cases.flatMap((c) => c.exp_alerts))
    for (const reason of reasons) assert.ok(fired.includes(`"reason":"${reason}"`), `no test fires the ${reason} rule`)
  })

  test(`the ${name} Prometheus config loads its rule file and names the Alertmanager`, () => {
    const result = promtoolIn(rulesDir, 'check', 'config', 'prometheus.yml')
    assert.is(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout + result.stderr, /SUCCESS: 1 rule files found/)
    const config = parse(readFileSync(join(rulesDir, 'prometheus.yml'), 'utf8')) as { alerting?: { alertmanagers?: { dns_sd_configs?: { names: string[] }[] }[] } }
    assert.equal(config.alerting?.alertmanagers?.[0]?.dns_sd_configs?.[0]?.names, ['tasks.monitoring_alertmanager'])
  })
}

test('the spike test is a real-looking month: 31 quiet days, then one day at 20 times the usual stars', () => {
  const tests = parse(readFileSync(join(metrics, 'rules.test.yml'), 'utf8')) as { tests: { name: string; input_series: { series: string; values: string }[] }[] }
  const spike = tests.tests.find((t) => t.name.includes('spikes'))!
  const rocket = spike.input_series.find((s) => s.series.includes('repository="rocket"'))!
  // 0.5 stars an hour (12 a day) for 744 hours, then 10 an hour (240 a day: 20 times as many).
  assert.is(rocket.values.split(' ')[0], '1000+0.5x744')
  assert.is(rocket.values.split(' ')[1], '1382+10x23')
})

test('the tests catch a rule that changed: InstanceDown after 1 minute instead of 5', () => {
  copyFileSync(join(monitoring, 'rules.test.yml'), join(dir.path, 'rules.test.yml'))
  const rules = readFileSync(join(monitoring, 'rules.yml'), 'utf8')
  const changed = rules.replace(/(- alert: InstanceDown\n\s+expr: up == 0\n\s+for: )5m/, '$11m')
  assert.is.not(changed, rules, 'the fixture edit applies')
  writeFileSync(join(dir.path, 'rules.yml'), changed)
  const result = promtoolIn(dir.path, 'test', 'rules', 'rules.test.yml')
  assert.is.not(result.status, 0)
  assert.match(result.stdout + result.stderr, /alertname: InstanceDown, time: 6m/)
})

test('the recording-rule tests catch a rule that changed: a drop counted as a negative day', () => {
  copyFileSync(join(metrics, 'rules.test.yml'), join(dir.path, 'rules.test.yml'))
  const rules = readFileSync(join(metrics, 'rules.yml'), 'utf8')
  const changed = rules.replace('(dockerhub_repository_pulls - dockerhub_repository_pulls offset 1d) >= 0', 'dockerhub_repository_pulls - dockerhub_repository_pulls offset 1d')
  assert.is.not(changed, rules, 'the fixture edit applies')
  writeFileSync(join(dir.path, 'rules.yml'), changed)
  const result = promtoolIn(dir.path, 'test', 'rules', 'rules.test.yml')
  assert.is.not(result.status, 0)
  assert.match(result.stdout + result.stderr, /dockerhub_repository_pulls:increase1d/)
})

test('the metrics Prometheus config of the longterm profile loads the same rule file', () => {
  for (const config of ['prometheus.longterm.yml']) {
    const result = promtoolIn(metrics, 'check', 'config', config)
    assert.is(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout + result.stderr, /SUCCESS: 1 rule files found/)
  }
})

test.run()
