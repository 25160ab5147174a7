// `activity validate` on the repository and on broken copies of it: real docker (stack config), promtool and nginx.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { dockerWithStackConfig } from '../../stacks/stacks.ts'
import { formatProblem, validate } from '../../stacks/validate.ts'
import { requireBinary, tempDir } from '../support/servers.ts'
import { runActivity } from '../support/cli.ts'

const repo = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')
const test = suite('activity validate')
const dirs: { remove(): void }[] = []
let collectors: Map<string, AnyCollector>

test.before(async () => {
  const docker = dockerWithStackConfig()
  if ('problem' in docker) throw new Error(docker.problem)
  requireBinary('promtool', 'prometheus')
  requireBinary('nginx', 'nginx')
  collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
})
test.after(() => {
  for (const dir of dirs) dir.remove()
})

/** A copy of what validation reads: stacks/, dashboards/, activity.yml. */
function copyOfRepo(): string {
  const dir = tempDir('validate')
  dirs.push(dir)
  for (const path of ['stacks', 'dashboards', 'activity.yml']) cpSync(join(repo, path), join(dir.path, path), { recursive: true })
  return dir.path
}

function edit(root: string, file: string, change: (text: string) => string): void {
  const path = join(root, file)
  const before = readFileSync(path, 'utf8')
  const after = change(before)
  if (after === before) throw new Error(`the edit of ${file} changed nothing: the test's fixture is out of date`)
  writeFileSync(path, after)
}

/** The 1-based line of the first line containing `text`. */
function lineOf(root: string, file: string, text: string): number {
  const index = readFileSync(join(root, file), 'utf8').split('\n').findIndex((line) => line.includes(text))
  if (index < 0) throw new Error(`${file} has no line with ${text}`)
  return index + 1
}

async function problems(root: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const report = await validate({ root, collectors, env })
  return report.problems.map(formatProblem)
}

test('the repository passes: every stack, config file, rule, dashboard and image pin', async () => {
  assert.equal(await problems(repo), [])
})

test('a stack file that is not YAML fails with its file and line', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/metrics.yml', (text) => text.replace('    image: prom/pushgateway:v1.11.3', '    image: prom/pushgateway:v1.11.3\n   command: [oops'))
  const line = lineOf(root, 'stacks/metrics.yml', 'command: [oops')
  const found = await problems(root)
  assert.is(found.length, 1, found.join('\n'))
  assert.match(found[0]!, new RegExp(`^stacks/metrics\\.yml:${line}: YAML: `))
})

test('an image without a version fails, naming the service and what to do', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/metrics.yml', (text) => text.replace('image: prom/pushgateway:v1.11.3', 'image: prom/pushgateway:latest').replace('image: prom/prometheus:v3.14.0', 'image: prom/prometheus'))
  assert.equal(await problems(root), [
    `stacks/metrics.yml:${lineOf(root, 'stacks/metrics.yml', 'prom/pushgateway:latest')}: services.pushgateway: image prom/pushgateway:latest uses :latest: pin a version`,
    `stacks/metrics.yml:${lineOf(root, 'stacks/metrics.yml', 'image: prom/prometheus')}: services.prometheus: image prom/prometheus has no tag: pin a version, e.g. prom/prometheus:1.2.3`,
  ])
})

test('a floating tag fails unless it is on the exemption list with its reason', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/app.yml', (text) => text.replace('image: nginx:1.30.4', 'image: nginx:stable'))
  assert.equal(await problems(root), [
    `stacks/app.yml:${lineOf(root, 'stacks/app.yml', 'nginx:stable')}: services.nginx: image nginx:stable has the floating tag :stable: pin a version (or add an exemption with its reason in stacks/validate.ts)`,
  ])
})

test('a config whose file is missing fails, naming the config and the file', async () => {
  const root = copyOfRepo()
  rmSync(join(root, 'stacks/monitoring/alertmanager.yml'))
  assert.equal(await problems(root), [
    `stacks/monitoring.yml:${lineOf(root, 'stacks/monitoring.yml', 'file: ./monitoring/alertmanager.yml')}: configs.alertmanager: file ./monitoring/alertmanager.yml does not exist (stacks/monitoring/alertmanager.yml)`,
  ])
})

test('a config that no declaration backs fails, naming the service', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/app.yml', (text) => text.replace('      - source: site_index\n', '      - source: site_404\n'))
  assert.equal(await problems(root), [`stacks/app.yml:${lineOf(root, 'stacks/app.yml', 'source: site_404')}: services.nginx.configs: 'site_404' is not declared under configs:`])
})

test('a config name without its content hash fails: a changed file would never reach the service', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/app.yml', (text) => text.replace(/name: app_nginx_\$\{CONFIG_APP_NGINX:\?[^}]*\}/, 'name: app_nginx'))
  assert.equal(await problems(root), [
    `stacks/app.yml:${lineOf(root, 'stacks/app.yml', 'name: app_nginx')}: configs.nginx: name must be app_nginx_\${CONFIG_APP_NGINX:?...} (content-hashed, so that a changed file becomes a new config)`,
  ])
})

test('an invalid Prometheus rule fails with promtool check rules and its reason', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/monitoring/rules.yml', (text) => text.replace('expr: up == 0', 'expr: up == == 0'))
  const found = await problems(root)
  assert.is(found.length, 1, found.join('\n'))
  assert.match(found[0]!, /^stacks\/monitoring\/rules\.yml: promtool check rules: .*"InstanceDown": could not parse expression/)
})

test('a rule change its unit tests do not expect fails, naming the test and the alert', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/monitoring/rules.yml', (text) => text.replace('node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.10', 'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.05'))
  const found = await problems(root)
  assert.is(found.length, 1, found.join('\n'))
  assert.match(found[0]!, /^stacks\/monitoring\/rules\.test\.yml: promtool test rules: test "memory below 10% available.*": MemoryPressure at 12m: expected \{alertname="MemoryPressure".*\}, got no alert$/)
})

test('a broken Prometheus config fails with promtool check config', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/metrics/prometheus.yml', (text) => text.replace('scrape_interval: 60s', 'scrape_interval: sixty'))
  const found = await problems(root)
  assert.is(found.length, 1, found.join('\n'))
  assert.match(found[0]!, /^stacks\/metrics\/prometheus\.yml: promtool check config: .*sixty/)
})

test('a broken nginx directive fails with nginx -t, its reason and its line', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/app/nginx.conf', (text) => text.replace('    server_tokens off;', '    server_tokens off;\n    gzip_everything on;'))
  assert.equal(await problems(root), [`stacks/app/nginx.conf:${lineOf(root, 'stacks/app/nginx.conf', 'gzip_everything')}: nginx -t: unknown directive "gzip_everything"`])
})

test('a dashboard that refers to a datasource Grafana does not have fails, naming where', async () => {
  const root = copyOfRepo()
  const file = join(root, 'dashboards/activity/overview.json')
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: unknown[] }
  dashboard.panels = [{ id: 99, type: 'stat', title: 'Stars', datasource: { type: 'prometheus', uid: 'promethues' }, targets: [{ expr: 'sum(github_repository_stars)' }] }, ...dashboard.panels]
  writeFileSync(file, JSON.stringify(dashboard))
  assert.equal(await problems(root), ['dashboards/activity/overview.json: panels[0].datasource: datasource uid promethues is not provisioned (known: prometheus, monitoring, elasticsearch)'])
})

test('a dashboard file that is not mounted into Grafana fails', async () => {
  const root = copyOfRepo()
  writeFileSync(join(root, 'dashboards/activity/npm.json'), JSON.stringify({ title: 'npm', uid: 'activity-npm', panels: [] }))
  assert.equal(await problems(root), ['dashboards/activity/npm.json: is not provisioned: add it to the configs of the grafana service in stacks/admin.yml'])
})

test('a secret in an environment value fails: secrets are mounted files', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/admin.yml', (text) => text.replace('      GF_SECURITY_ADMIN_USER: admin\n', '      GF_SECURITY_ADMIN_USER: admin\n      GF_SECURITY_ADMIN_PASSWORD: hunter2\n'))
  assert.equal(await problems(root), [
    `stacks/admin.yml:${lineOf(root, 'stacks/admin.yml', 'GF_SECURITY_ADMIN_PASSWORD: hunter2')}: services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD: looks like a secret in plain text; mount a Swarm secret and pass GF_SECURITY_ADMIN_PASSWORD_FILE instead`,
  ])
})

test('a published port other than Traefik\'s fails', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/metrics.yml', (text) => text.replace('    networks:\n      - metrics\n    deploy:\n      # One instance', '    ports:\n      - "9091:9091"\n    networks:\n      - metrics\n    deploy:\n      # One instance'))
  assert.equal(await problems(root), [
    `stacks/metrics.yml:${lineOf(root, 'stacks/metrics.yml', '"9091:9091"')}: services.pushgateway.ports: publishes 9091; only Traefik publishes ports (80, 443), route it through Traefik instead`,
  ])
})

test('a router on plain HTTP that is not the website or the gitops webhook fails, and so does Traefik without its redirect', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/admin.yml', (text) =>
    text
      .replace('        - traefik.http.routers.grafana.rule=', '        - traefik.http.routers.grafana.entrypoints=web,websecure\n        - traefik.http.routers.grafana.rule=')
      .replace('      - --entryPoints.web.http.redirections.entryPoint.to=websecure\n', '      - --entryPoints.web.asDefault=true\n')
      .replace('      - --entryPoints.websecure.http.encodedCharacters.allowEncodedSlash=false\n', ''),
  )
  const command = lineOf(root, 'stacks/admin.yml', '--providers.swarm.endpoint')
  assert.equal(await problems(root), [
    `stacks/admin.yml:${command}: services.traefik.command: has no --entryPoints.web.http.redirections.entryPoint.to=websecure: plain HTTP would answer every route, basic-auth credentials in clear text`,
    `stacks/admin.yml:${command}: services.traefik.command: has no --entryPoints.websecure.http.encodedCharacters.allowEncodedSlash=false: a %2F in the path would slip past the routers' !PathPrefix exclusions (the Prometheus admin API)`,
    `stacks/admin.yml:${lineOf(root, 'stacks/admin.yml', 'web.asDefault=true')}: services.traefik.command: --entryPoints.web.asDefault=true puts every router on plain HTTP; name web only on the routers allowed it (plainHttpRouters in stacks/validate.ts)`,
    `stacks/admin.yml:${lineOf(root, 'stacks/admin.yml', 'routers.grafana.entrypoints')}: services.grafana: router grafana answers on plain HTTP (entrypoints=web,websecure); only app/site, gitops/gitops-webhook may: leave web out (HTTPS only), or add it to plainHttpRouters in stacks/validate.ts with the reason`,
  ])
})

test('a store placed by node.role instead of the storage node fails, naming its volume', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/admin.ha.yml', (text) => text.replace('constraints: [node.labels.activity.storage == true]   # its volume', 'constraints: [node.role == manager]   # its volume'))
  assert.equal(await problems(root), [
    `stacks/admin.ha.yml:${lineOf(root, 'stacks/admin.ha.yml', 'node.role == manager')}: services.postgres: keeps postgres-data in a local volume but is not constrained to the storage node; add deploy.placement.constraints: [node.labels.activity.storage == true] (node.role lets a rescheduled task start on another node's empty volume)`,
  ])
})

test("cAdvisor's -disable_metrics fails (it replaces the default list), and so does enabling a costly group", async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/monitoring.yml', (text) => text.replace('      - -enable_metrics=cpu,memory,network,diskIO,oom_event\n', '      - -disable_metrics=disk,network\n      - -enable_metrics=cpu,memory,network,advtcp\n'))
  const command = lineOf(root, 'stacks/monitoring.yml', '-docker_only=true')
  assert.equal(await problems(root), [
    `stacks/monitoring.yml:${command}: services.cadvisor.command: -disable_metrics replaces cAdvisor's default list (it would turn on advtcp, cpu_topology, cpuset, hugetlb, memory_numa, process, referenced_memory, resctrl, sched, tcp, udp not named there); list the groups wanted with -enable_metrics instead`,
    `stacks/monitoring.yml:${command}: services.cadvisor.command: -enable_metrics turns on advtcp, off by default upstream for their cost; leave them out`,
  ])
})

test('a comment between two hash entries of the Logstash pipeline fails with its line', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/logs/logstash.conf', (text) => text.replace('        "[@metadata][access][host]" => "host"\n', '        "[@metadata][access][host]" => "host"\n        # the Host header\n'))
  assert.equal(await problems(root), [
    `stacks/logs/logstash.conf:${lineOf(root, 'stacks/logs/logstash.conf', '# the Host header')}: a comment inside a hash (=> { ... }) parses only from Logstash 8.15: move it above the plugin`,
  ])
})

test('what docker stack config refuses is reported with the stack file', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/logs.yml', (text) => text.replace('    ulimits:\n', '    ulimit:\n'))
  assert.equal(await problems(root), ['stacks/logs.yml: docker stack config: services.elasticsearch Additional property ulimit is not allowed'])
})

test('an activity.yml the collectors stack cannot be rendered from fails with its line', async () => {
  const root = copyOfRepo()
  edit(root, 'activity.yml', (text) => text.replace('schedule: "*/30 * * * *"', 'schedule: "every half hour"'))
  const found = await problems(root)
  assert.is(found.length, 1, found.join('\n'))
  assert.match(found[0]!, new RegExp(`^activity\\.yml:${lineOf(root, 'activity.yml', 'every half hour')}: sources\\.dockerhub\\.schedule: 'every half hour' is not a cron schedule`))
})

test('without a docker client that has stack config, validation says so and still checks the rest', async () => {
  const root = copyOfRepo()
  edit(root, 'stacks/app/nginx.conf', (text) => text.replace('    server_tokens off;', '    server_tokens off;\n    gzip_everything on;'))
  const found = await problems(root, { ...process.env, DOCKER: '/nonexistent/docker' })
  assert.equal(found, [
    'stacks: not checked with docker stack config: no docker CLI here has `docker stack config` (tried /nonexistent/docker; Debian\'s docker.io 20.10 client lacks it): install Docker CLI 23 or newer (docker-ce-cli), or set DOCKER=/path/to/docker',
    `stacks/app/nginx.conf:${lineOf(root, 'stacks/app/nginx.conf', 'gzip_everything')}: nginx -t: unknown directive "gzip_everything"`,
  ])
})

test('activity validate prints one line per problem and exits 1; on a valid tree it exits 0', async () => {
  const root = copyOfRepo()
  rmSync(join(root, 'stacks/monitoring/alertmanager.yml'))
  edit(root, 'stacks/metrics.yml', (text) => text.replace('image: prom/pushgateway:v1.11.3', 'image: prom/pushgateway'))
  const run = await activity(['validate', '--root', root])
  assert.is(run.code, 1, run.stderr)
  const lines = run.stderr.trim().split('\n')
  assert.is(lines.length, 3, run.stderr)
  assert.match(lines[0]!, /^stacks\/metrics\.yml:\d+: services\.pushgateway: image prom\/pushgateway has no tag/)
  assert.match(lines[1]!, /^stacks\/monitoring\.yml:\d+: configs\.alertmanager: file \.\/monitoring\/alertmanager\.yml does not exist/)
  assert.is(lines[2], '2 problems')

  const valid = await activity(['validate', '--root', repo])
  assert.is(valid.code, 0, valid.stderr)
  assert.match(valid.stdout, /^ok: stacks\/admin\.yml \(\+ha, longterm\); /)
})

const activity = (args: string[]) => runActivity(args)

test.run()
