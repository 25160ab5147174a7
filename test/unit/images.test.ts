// The project's image names and tag (version + a hash of the build inputs), how the images reach the nodes (pushed
// to REGISTRY, copied, or neither), and the CA that a build behind a TLS-inspecting proxy needs.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { imageDelivery } from '../../scripts/cluster/images.ts'
import { activityTag, extraCaPem, imageName, registryHost, sourceHash } from '../../stacks/deploy/images.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const test = suite('images')
const dirs: { remove(): void }[] = []
test.after(() => dirs.forEach((d) => d.remove()))

function checkout(): string {
  const dir = tempDir('images-repo')
  dirs.push(dir)
  writeFileSync(join(dir.path, 'package.json'), JSON.stringify({ name: 'x', version: '1.2.3' }))
  mkdirSync(join(dir.path, 'collectors'))
  writeFileSync(join(dir.path, 'collectors/a.ts'), 'export {}\n')
  writeFileSync(join(dir.path, 'README.md'), 'not an image input\n')
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir.path, stdio: 'pipe' })
  git('init', '-q')
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.')
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'first')
  return dir.path
}

test('the tag is the version and a hash of the build inputs: a README edit keeps it, each source edit changes it', async () => {
  requireBinary('git', 'git')
  const root = checkout()
  const clean = await activityTag(root)
  assert.is(clean, `1.2.3-${sourceHash(root)}`)
  assert.match(clean, /^1\.2\.3-[0-9a-f]{12}$/)
  writeFileSync(join(root, 'README.md'), 'edited, but not built into the image\n')
  assert.is(await activityTag(root), clean)
  writeFileSync(join(root, 'collectors/a.ts'), 'export const edited = 1\n')
  const edited = await activityTag(root)
  assert.is.not(edited, clean, 'an uncommitted edit is its own image')
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'edit'], { cwd: root })
  assert.is(await activityTag(root), edited, 'committing the edit keeps the tag: gitops, building the commit, finds the same image')
  writeFileSync(join(root, 'collectors/a.ts'), 'export const edited = 2\n')
  assert.is.not(await activityTag(root), edited, 'each edit is its own image')
})

test('the source hash is the same for the same files wherever the checkout is', () => {
  const root = checkout()
  const copy = tempDir('images-copy')
  dirs.push(copy)
  cpSync(root, copy.path, { recursive: true })
  assert.is(sourceHash(copy.path), sourceHash(root))
  assert.is(sourceHash(root + '/'), sourceHash(root))
})

test('with REGISTRY set, images are named REGISTRY/activity/<image>:<tag>, and docker login takes its host', () => {
  assert.is(imageName('registry.example.org:5000', 'collectors', '1.2.3-abc1234'), 'registry.example.org:5000/activity/collectors:1.2.3-abc1234')
  assert.is(imageName('ghcr.io/acme', 'gitops', '1.2.3-abc1234'), 'ghcr.io/acme/activity/gitops:1.2.3-abc1234')
  assert.is(registryHost('registry.example.org:5000/activity/collectors:1.2.3-abc1234'), 'registry.example.org:5000')
  assert.is(registryHost('ghcr.io/acme/activity/gitops:1.2.3-abc1234'), 'ghcr.io')
})

test('without REGISTRY, images get a local name that no registry answers for (never Docker Hub, never 127.0.0.1:5000)', () => {
  assert.is(imageName('', 'collectors', '1.2.3-abc1234'), 'local.invalid/activity/collectors:1.2.3-abc1234')
  assert.is(imageName('', 'gitops', '1.2.3-abc1234'), 'local.invalid/activity/gitops:1.2.3-abc1234')
})

test('with REGISTRY the images are pushed, on one node as on several; without, copied to the nodes of a cluster, or left on the one node', () => {
  assert.is(imageDelivery('registry.example.org:5000', 'local'), 'push')
  assert.is(imageDelivery('registry.example.org:5000', 'ssh'), 'push')
  assert.is(imageDelivery('registry.example.org:5000', 'virtualbox'), 'push')
  assert.is(imageDelivery('', 'ssh'), 'copy')
  assert.is(imageDelivery('', 'virtualbox'), 'copy')
  assert.is(imageDelivery('', 'local'), 'none')
})

test('the build gets only the CAs Node does not already trust', () => {
  requireBinary('openssl', 'openssl')
  const dir = tempDir('images-ca')
  dirs.push(dir)
  const own = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir.path, 'key.pem'), '-subj', '/CN=activity test proxy CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const bundle = join(dir.path, 'bundle.pem')
  writeFileSync(bundle, [rootCertificates[0], own, rootCertificates[1]].join('\n'))
  const extra = extraCaPem(bundle)
  assert.is(extra.replace(/\s+/g, ''), own.replace(/\s+/g, ''))
  assert.is(extraCaPem(undefined), '')
  assert.is(extraCaPem(join(dir.path, 'missing.pem')), '')
})

test.run()
