// The engine check of up and activity cluster init, against `docker version` / `docker info` outputs: Engine 20.10's
// recorded on this machine, 24's, 27's and 29's written by hand in the same shape from upstream sources (no such engine
// runs here; test/fixtures/engine/README.md names the source of each field). Every expected
// verdict is written from the upstream facts: Engine 29 accepts API 1.44 and up and Traefik before v3.6.1 asks for 1.24
// (traefik/traefik#12253); Engine 29's containerd image store hides containers from cAdvisor before v0.54.0
// (google/cadvisor#3643); `docker stack config` is not in Debian's 20.10 CLI; replicated jobs need API 1.41.
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { engineFacts, engineVerdict, imageTag, type EngineFacts } from '../../stacks/deploy/engine.ts'
import { pinnedImages } from '../../scripts/cluster/kernel.ts'

const test = suite('engine check')
const fixture = (name: string) => readFileSync(new URL(`../fixtures/engine/${name}`, import.meta.url), 'utf8')
const facts = (version: string, info: string): EngineFacts => engineFacts(fixture(`${version}-version.json`), fixture(`${info}-info.json`))!

/** The pins of late 2024 (what issue 16 found), and pins from after the fixes. */
const oldPins = ['traefik:v3.1.6', 'grafana/grafana:11.3.0', 'gcr.io/cadvisor/cadvisor:v0.49.1', 'prom/prometheus:v2.53.2']
const newPins = ['traefik:v3.6.1', 'grafana/grafana:12.3.0', 'ghcr.io/google/cadvisor:v0.54.0', 'prom/prometheus:v3.7.3']

const traefikRefused = (engine: string) => ({
  problem: `Docker Engine ${engine} accepts API 1.44 and up, and traefik:v3.1.6 asks for 1.24, so it would route nothing (traefik/traefik#12253)`,
  fix: 'pin Traefik v3.6.1 or later in stacks/admin.yml, or start dockerd with DOCKER_MIN_API_VERSION=1.24, or deploy --without traefik',
})
const cadvisorRefused = {
  problem: 'Docker Engine 29.0.0 keeps images in the containerd image store, where gcr.io/cadvisor/cadvisor:v0.49.1 sees no container, so the container panels stay empty (google/cadvisor#3643)',
  fix: 'pin cAdvisor v0.54.0 or later in stacks/monitoring.yml, or turn the store off ("features": {"containerd-snapshotter": false} in /etc/docker/daemon.json, then restart docker), or deploy --without cadvisor',
}

test('each recorded output gives its engine, API range and image store', () => {
  assert.equal(facts('20.10', '20.10'), { client: '28.2.2', engine: '20.10.24+dfsg1', api: '1.41', minApi: '1.12', imageStore: 'graphdriver', storageDriver: 'overlay2' })
  assert.equal(facts('24', '24'), { client: '24.0.7', engine: '24.0.7', api: '1.43', minApi: '1.12', imageStore: 'graphdriver', storageDriver: 'overlay2' })
  assert.equal(facts('27', '27'), { client: '27.3.1', engine: '27.3.1', api: '1.47', minApi: '1.24', imageStore: 'graphdriver', storageDriver: 'overlay2' })
  assert.equal(facts('29', '29'), { client: '29.0.0', engine: '29.0.0', api: '1.52', minApi: '1.44', imageStore: 'containerd', storageDriver: 'overlayfs' })
  assert.equal(facts('29', '29-upgraded').imageStore, 'graphdriver')
})

test('Engine 20.10 with a current CLI (this machine, CI) is accepted with one warning line', () => {
  assert.equal(engineVerdict(facts('20.10', '20.10'), oldPins), {
    refusals: [],
    warnings: ["Docker Engine 20.10.24+dfsg1 is older than 24 and past upstream's support; it has what up uses (API 1.41: replicated jobs), and CI runs 20.10, but upgrade when you can"],
  })
})

test("Debian's 20.10 CLI is refused: it cannot render the stacks", () => {
  const { refusals } = engineVerdict(facts('20.10-debian-cli', '20.10'), newPins)
  assert.equal(refusals, [{ problem: "the docker CLI 20.10.24+dfsg1 has no 'docker stack config', which renders the stacks", fix: 'install the Docker CLI 24 or later (docker-ce-cli, https://docs.docker.com/engine/install/); the engine may stay as it is' }])
})

test('Engine 24 and 27 run the late-2024 pins and the new ones without a word', () => {
  for (const version of ['24', '27']) {
    assert.equal(engineVerdict(facts(version, version), oldPins), { refusals: [], warnings: [] }, `${version}, old pins`)
    assert.equal(engineVerdict(facts(version, version), newPins), { refusals: [], warnings: [] }, `${version}, new pins`)
  }
})

test('a fresh Engine 29 refuses the late-2024 Traefik and cAdvisor, each with its fix', () => {
  assert.equal(engineVerdict(facts('29', '29'), oldPins), { refusals: [traefikRefused('29.0.0'), cadvisorRefused], warnings: [] })
})

test('an Engine 29 upgraded in place keeps its graph driver: only Traefik is refused', () => {
  assert.equal(engineVerdict(facts('29', '29-upgraded'), oldPins), { refusals: [traefikRefused('29.0.0')], warnings: [] })
})

test('Engine 29 runs Traefik v3.6.1 and cAdvisor v0.54.0 and later', () => {
  assert.equal(engineVerdict(facts('29', '29'), newPins), { refusals: [], warnings: [] })
  assert.equal(engineVerdict(facts('29', '29'), ['docker.io/library/traefik:v3.6.2@sha256:0123', 'registry.example:5000/mirror/cadvisor:v0.55.1']), { refusals: [], warnings: [] })
})

test("the repository's own pins (stacks/admin.yml, stacks/monitoring.yml) run on a fresh Engine 29 and on 24 and 27", () => {
  const pins = pinnedImages(new URL('../..', import.meta.url).pathname)
  assert.ok(pins.some((image) => image.includes('traefik')) && pins.some((image) => image.includes('cadvisor')), pins.join(', '))
  for (const [version, info] of [['29', '29'], ['29', '29-upgraded'], ['24', '24'], ['27', '27']] as const) {
    assert.equal(engineVerdict(facts(version, info), pins), { refusals: [], warnings: [] }, info)
  }
})

test('services left out (--without traefik,cadvisor) are no reason to refuse', () => {
  assert.equal(engineVerdict(facts('29', '29'), ['grafana/grafana:11.3.0', 'prom/prometheus:v2.53.2']), { refusals: [], warnings: [] })
})

test('an engine newer than 29 is a warning line, not a refusal', () => {
  const engine30 = { ...facts('29', '29'), engine: '30.0.1', api: '1.54' }
  assert.equal(engineVerdict(engine30, newPins), {
    refusals: [],
    warnings: ["Docker Engine 30.0.1 is newer than 29, the newest this platform was checked against; if something fails, the README's engine check says what is known to break"],
  })
})

test('an engine without replicated jobs (API 1.40, Engine 19.03) is refused', () => {
  const engine1903 = { ...facts('20.10', '20.10'), engine: '19.03.15', api: '1.40' }
  assert.equal(engineVerdict(engine1903, newPins).refusals, [{ problem: 'Docker Engine 19.03.15 (API 1.40) has no replicated jobs, which run the collectors', fix: 'upgrade to Docker Engine 24 or later (https://docs.docker.com/engine/install/)' }])
})

test('a pin without a version (latest) on Engine 29 is a warning: the check cannot tell', () => {
  assert.equal(engineVerdict(facts('29', '29-upgraded'), ['traefik:latest']).warnings, ['cannot tell the version of traefik:latest; Docker Engine 29.0.0 refuses Traefik before v3.6.1 (it asks for API 1.24, the engine accepts 1.44 and up)'])
})

test('an image is found by its repository name, whatever the registry, tag or digest', () => {
  assert.equal(imageTag(['localhost:5000/traefik'], 'traefik'), { image: 'localhost:5000/traefik', tag: 'latest' })
  assert.equal(imageTag(['gcr.io/cadvisor/cadvisor:v0.49.1'], 'cadvisor'), { image: 'gcr.io/cadvisor/cadvisor:v0.49.1', tag: 'v0.49.1' })
  assert.is(imageTag(['example/not-traefik:v1'], 'traefik'), undefined)
})

test('no engine answering: docker version has no Server', () => {
  const clientOnly = JSON.stringify({ Client: JSON.parse(fixture('20.10-version.json')).Client, Server: null })
  assert.is(engineFacts(clientOnly, '{}'), undefined)
})

test.run()
