// What up prints of a running platform: the URLs from Traefik's rules, host ports, and promtool's answers read back.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ResolvedStack } from '../../stacks/deploy/deploy.ts'
import { formatCount, hostPorts, parsePromtool, traefikUrls } from '../../scripts/lib/results.ts'

const test = suite('results')

const stack = (name: string, services: ResolvedStack['compose']['services']): ResolvedStack => ({ name, compose: { services }, text: '', hash: '', services: Object.keys(services ?? {}), leftOut: [] })

test('the URLs are the hosts of the Traefik router rules, each once, with a path prefix when there is one', () => {
  const stacks = [
    stack('admin', { grafana: { deploy: { labels: { 'traefik.enable': 'true', 'traefik.http.routers.grafana.rule': 'Host(`grafana.localhost`)' } } } }),
    stack('app', { nginx: { deploy: { labels: ['traefik.http.routers.site.rule=Host(`localhost`) || Host(`www.localhost`)'] } } }),
    stack('gitops', {
      gitops: {
        deploy: {
          labels: {
            'traefik.http.routers.gitops-webhook.rule': 'Host(`gitops.localhost`) && PathPrefix(`/webhook`)',
            'traefik.http.routers.gitops.rule': 'Host(`gitops.localhost`)',
            'traefik.http.services.gitops.loadbalancer.server.port': '8080',
          },
        },
      },
    }),
  ]
  assert.equal(
    traefikUrls(stacks).map((u) => `${u.service} ${u.url}`),
    ['admin_grafana http://grafana.localhost', 'app_nginx http://localhost', 'app_nginx http://www.localhost', 'gitops_gitops http://gitops.localhost/webhook', 'gitops_gitops http://gitops.localhost'],
  )
})

test('published ports are listed on 127.0.0.1', () => {
  const stacks = [stack('metrics', { prometheus: { ports: [{ target: 9090, published: 9090, mode: 'host' }] }, pushgateway: {} })]
  assert.equal(hostPorts(stacks), [{ service: 'metrics_prometheus', url: 'http://127.0.0.1:9090' }])
})

test("promtool's instant query output is read into labels and values", () => {
  const text = [
    'github_repository_stars{instance="x", job="github", owner="grafana", repository="grafana", target="grafana/grafana"} => 64000 @[1764064800.123]',
    'activity_collector_last_run_success{job="dockerhub", target="prom"} => 0 @[1764064800.123]',
    '{job="a\\"b"} => 1.5e+09 @[1764064800]',
    '',
  ].join('\n')
  assert.equal(parsePromtool(text), [
    { labels: { instance: 'x', job: 'github', owner: 'grafana', repository: 'grafana', target: 'grafana/grafana' }, value: 64000 },
    { labels: { job: 'dockerhub', target: 'prom' }, value: 0 },
    { labels: { job: 'a"b' }, value: 1.5e9 },
  ])
})

test('counts read at a glance', () => {
  assert.is(formatCount(3_000_000_000), '3.0B')
  assert.is(formatCount(98_765_432), '98.8M')
  assert.is(formatCount(64_000), '64.0k')
  assert.is(formatCount(1500), '1500')
})

test.run()
