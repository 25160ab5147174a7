// A Prometheus (metrics or monitoring): backed up by a TSDB snapshot through its admin API, restored by putting the blocks back.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import got, { TimeoutError } from 'got'
import { extract as extractTar } from 'tar'
import { StoreError } from './errors.ts'
import { chownTree, copyFiles, filesUnder, formatBytes, identityOf, linkOrCopyHashed, ownerOf, parseSums, sameFile, sumsOf, SUMS, type FileIdentity, type FolderFile, type Progress } from './files.ts'
import type { Part } from './manifest.ts'
import type { HashPool } from './hashing.ts'
import { answers, waitUntil, type Control, type PartSource, type PartWritten, type Store } from './store.ts'

export interface PrometheusOptions {
  name: string
  /** Where its HTTP API answers, e.g. http://metrics_prometheus:9090 (the admin API is internal only). */
  url: string
  /** Its --storage.tsdb.path as seen from here: a local folder, or a Swarm volume mounted into the backup job. */
  dataDir: string
  control?: Control
  /** How long a snapshot may wait for Prometheus's running compaction, and how often a line says it still waits (tests shorten both). */
  snapshotWait?: { limitMs: number; lineEveryMs: number }
}

const ulid = /^[0-9A-HJKMNP-TV-Z]{26}$/
/** A snapshot waits up to an hour for Prometheus's running compaction (a first backfill's took over 5 min on the e2e swarm). */
const snapshotWait = { limitMs: 60 * 60_000, lineEveryMs: 30_000 }

interface BlockMeta {
  minTime: number
  maxTime: number
  stats?: { numSamples?: number; numSeries?: number }
}

/**
 * The files of the finished blocks in a TSDB folder, relative to it (what a snapshot will hold, but for the head). A
 * block Prometheus compacts away while it is listed is left out: the snapshot decides what the part holds.
 */
function blockFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((entry) => ulid.test(entry) && existsSync(join(dir, entry, 'meta.json')))
    .flatMap((entry) => {
      try {
        return filesUnder(join(dir, entry)).map((path) => `${entry}/${path}`)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw error
      }
    })
}

/** The persisted blocks in a TSDB folder (the head and WAL are not blocks). */
export function blocksIn(dir: string): BlockMeta[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((entry) => ulid.test(entry) && existsSync(join(dir, entry, 'meta.json')))
    .map((entry) => JSON.parse(readFileSync(join(dir, entry, 'meta.json'), 'utf8')) as BlockMeta)
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

function describeBlocks(blocks: BlockMeta[]): string {
  const from = Math.min(...blocks.map((b) => b.minTime))
  const to = Math.max(...blocks.map((b) => b.maxTime))
  return `${blocks.length} block${blocks.length === 1 ? '' : 's'} of history (${day(from)} to ${day(to)})`
}

export function prometheusStore(options: PrometheusOptions): Store {
  const { name, url, dataDir } = options
  const where = `Prometheus at ${url}, data ${dataDir}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)

  /**
   * Asks for a snapshot. Prometheus answers once its compaction (which holds the TSDB's compaction lock) ends: after a
   * first history backfill that is minutes, one 2-hour range at a time over years. fetch() gives up on any answer
   * whose headers take over 300 s (undici's headersTimeout), so the request goes through got, which waits as long as
   * it is told; a line every 30 s says it is still waiting.
   */
  async function snapshot(progress: Progress): Promise<string> {
    const { limitMs, lineEveryMs } = options.snapshotWait ?? snapshotWait
    const limit = limitMs >= 60_000 ? `${limitMs / 60_000} min` : `${limitMs / 1000} s`
    const started = Date.now()
    const waiting = setInterval(() => progress(`${name}: waiting for the snapshot for ${Math.round((Date.now() - started) / 1000)} s (Prometheus takes it once its running compaction ends; up to ${limit})`), lineEveryMs)
    let response: { statusCode: number; body: string }
    try {
      response = await got.post(`${url}/api/v1/admin/tsdb/snapshot`, { timeout: { request: limitMs }, retry: { limit: 0 }, throwHttpErrors: false })
    } catch (error) {
      const problem = error instanceof TimeoutError ? `took no snapshot within ${limit}` : `cannot be reached (${(error as Error).message})`
      throw fail(problem, error instanceof TimeoutError ? 'see its log for the compaction it is busy with, then run the backup again' : 'is it running, and is this URL its address on the internal network?')
    } finally {
      clearInterval(waiting)
    }
    const text = response.body
    let body: { status?: string; error?: string; data?: { name?: string } } = {}
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      // not JSON: reported below with the status
    }
    if (body.error === 'admin APIs disabled') throw fail('its admin API is off', 'start it with --web.enable-admin-api (the stacks do; the admin API is reachable on the internal network only)')
    if (response.statusCode !== 200 || body.status !== 'success' || !body.data?.name) throw fail(`snapshot refused: ${response.statusCode} ${body.error ?? text.slice(0, 200)}`, 'see the Prometheus log')
    return body.data.name
  }

  return {
    name,
    kind: 'prometheus',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress, pool: HashPool): Promise<PartWritten> {
      const file = `${name}.prometheus`
      const partDir = join(dir, file)
      // Finished blocks are never written again: their files are linked (or copied) into the part and hashed while
      // Prometheus writes the snapshot, largest first over every core, and kept if the snapshot holds the very same files
      // (same inode, size, mtime).
      const early = new Map<string, { identity: FileIdentity; written: FolderFile; linked: boolean }>()
      const finished = blockFilesIn(dataDir)
        .flatMap((path) => {
          try {
            return [{ path, identity: identityOf(statSync(join(dataDir, path))) }]
          } catch {
            return [] // compacted away since the listing
          }
        })
        .sort((a, b) => b.identity.size - a.identity.size)
      const fetching = Promise.all(
        finished.map(async ({ path, identity }) => {
          try {
            const written = await linkOrCopyHashed(join(dataDir, path), join(partDir, path), pool)
            if (sameFile(identity, identityOf(statSync(join(dataDir, path))))) early.set(path, { identity, written: { path, size: written.size, sha256: written.sha256 }, linked: written.linked })
          } catch {
            // A block compacted or deleted meanwhile: what the snapshot holds decides below.
          }
        }),
      )
      progress(`${name}: snapshot through ${url}/api/v1/admin/tsdb/snapshot`)
      let snapshotName: string
      try {
        snapshotName = await snapshot(progress)
      } catch (error) {
        await fetching
        await rm(partDir, { recursive: true, force: true })
        throw error
      }
      const snapshotDir = join(dataDir, 'snapshots', snapshotName)
      try {
        if (!existsSync(snapshotDir)) {
          throw fail(`snapshot ${snapshotName} was taken but is not in ${join(dataDir, 'snapshots')}`, 'point data: at the folder this Prometheus writes (its --storage.tsdb.path)')
        }
        const blocks = blocksIn(snapshotDir)
        progress(`${name}: snapshot ${snapshotName}: ${blocks.length ? describeBlocks(blocks) : 'no data yet'}`)
        await fetching
        const inSnapshot = filesUnder(snapshotDir)
        const written = await Promise.all(
          inSnapshot.map(async (path) => {
            const fetched = early.get(path)
            if (fetched && sameFile(fetched.identity, identityOf(statSync(join(snapshotDir, path))))) return fetched
            await rm(join(partDir, path), { force: true })
            const fresh = await linkOrCopyHashed(join(snapshotDir, path), join(partDir, path), pool)
            return { written: { path, size: fresh.size, sha256: fresh.sha256 }, linked: fresh.linked }
          }),
        )
        const files = written.map((w) => w.written)
        const linked = written.filter((w) => w.linked).length
        const kept = new Set(inSnapshot.map((path) => path.split('/')[0]))
        for (const entry of existsSync(partDir) ? readdirSync(partDir) : []) if (!kept.has(entry)) await rm(join(partDir, entry), { recursive: true, force: true })
        mkdirSync(partDir, { recursive: true })
        const sums = sumsOf(files)
        writeFileSync(join(partDir, SUMS), sums.text)
        const size = files.reduce((sum, f) => sum + f.size, 0)
        progress(`${name}: ${file} ${formatBytes(size)} in ${files.length} files (${linked ? `${linked} hard-linked, the backup is on the data's filesystem` : 'copied'}), ${SUMS} written`)
        return {
          file,
          size,
          sha256: sums.sha256,
          detail: {
            snapshot: snapshotName,
            blocks: blocks.length,
            ...(blocks.length
              ? {
                  from: new Date(Math.min(...blocks.map((b) => b.minTime))).toISOString(),
                  to: new Date(Math.max(...blocks.map((b) => b.maxTime))).toISOString(),
                  samples: blocks.reduce((sum, b) => sum + (b.stats?.numSamples ?? 0), 0),
                }
              : {}),
          },
        }
      } finally {
        // The admin API has no call to delete a snapshot; its hard links would keep old blocks on disk forever.
        await rm(snapshotDir, { recursive: true, force: true })
      }
    },

    async holds(): Promise<string | undefined> {
      const blocks = blocksIn(dataDir)
      return blocks.length ? `${describeBlocks(blocks)} in ${dataDir}` : undefined
    },

    async check(): Promise<void> {
      if (!options.control && (await answers(`${url}/-/ready`))) {
        throw fail('is running', 'stop it before restoring (it would overwrite the restored blocks), or give the store a service: so activity stops and starts it')
      }
    },

    async restore(part: Part, { dir }: PartSource, progress: Progress): Promise<void> {
      if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true })
      const owner = ownerOf(dataDir)
      progress(`${name}: clearing ${dataDir}`)
      for (const entry of readdirSync(dataDir)) await rm(join(dataDir, entry), { recursive: true, force: true })
      progress(`${name}: writing ${part.detail.blocks ?? '?'} blocks into ${dataDir}`)
      const source = join(dir, part.file)
      if (statSync(source).isDirectory()) {
        // A folder part (format 2): its files, as SHA256SUMS lists them (already verified), copied by the kernel.
        await copyFiles(source, dataDir, parseSums(readFileSync(join(source, SUMS), 'utf8')).map((f) => f.path))
        await chownTree(dataDir, owner)
      } else {
        extractTar({ file: source, cwd: dataDir, uid: owner.uid, gid: owner.gid, strict: true, sync: true, maxReadSize: 4 << 20 })
      }
      const blocks = blocksIn(dataDir)
      if (blocks.length !== Number(part.detail.blocks ?? blocks.length)) throw fail(`restored ${blocks.length} blocks, the backup holds ${part.detail.blocks}`, 'check the disk (space, permissions) and restore again')
    },

    async ready(timeoutMs: number): Promise<void> {
      await waitUntil(`${name} to answer at ${url}/-/ready`, () => answers(`${url}/-/ready`), timeoutMs)
    },
  }
}

/** Total bytes of a TSDB folder, for progress and benchmarks. */
export function folderBytes(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size
  }
  return total
}
