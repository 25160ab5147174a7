// Backup and restore of a Prometheus holding 10,000 series over 30 days, beside a plain `cp -a` of its data folder
// (the floor: the same bytes read and written with nothing else done). Target: a backup within 2x of the floor.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { formatBytes } from '../../scripts/data/files.ts'
import { createHashPool, type HashPool } from '../../scripts/data/hashing.ts'
import { folderBytes, prometheusStore } from '../../scripts/data/prometheus.ts'
import type { Started } from '../support/servers.ts'
import { tempDir } from '../support/servers.ts'
import { createHistory, startPrometheusOn } from '../support/tsdb.ts'

const series = Number(process.env.BENCH_SERIES ?? 10_000)
const days = Number(process.env.BENCH_DAYS ?? 30)
// 15-minute samples: 2,880 a series over 30 days. Values walk like download counters, so they compress like real ones.
const stepSeconds = Number(process.env.BENCH_STEP_SECONDS ?? 900)
const work = tempDir('bench-backup')
const data = join(work.path, 'prometheus')
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9
let prometheus: Started | undefined
let pool: HashPool | undefined

function counter(s: number, t: number): number {
  // A deterministic pseudo-random walk: each step adds 0..199 downloads, different per series.
  const step = Math.floor(t / stepSeconds)
  return s * 1e6 + step * 100 + ((step * 2654435761 + s * 40503) % 200)
}

const runs = Number(process.env.BENCH_RUNS ?? 5)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

// Before each timed step: write out what the last step and its cleanup left dirty (removed copies are discards on this
// disk). Otherwise whichever step syncs first, here Prometheus' snapshot, pays for the other's writeback.
const settle = () => spawnSync('sync')

function cpFloor(from: string, to: string): number {
  settle()
  const start = process.hrtime.bigint()
  const copy = spawnSync('cp', ['-a', from, to])
  if (copy.status !== 0) throw new Error(`cp -a failed: ${copy.stderr}`)
  return seconds(start)
}

try {
  mkdirSync(data)
  const now = Math.floor(Date.now() / 1000)
  let start = process.hrtime.bigint()
  const history = await createHistory(data, { series, from: now - days * 86_400, to: now - 3600, stepSeconds, maxBlockDuration: `${days * 24 + 24}h`, value: counter })
  console.log(`data: ${series} series over ${days} days, ${history.samples} samples, ${formatBytes(folderBytes(data))} on disk (promtool: ${seconds(start).toFixed(1)} s)`)
  prometheus = await startPrometheusOn(data)
  const url = prometheus.url
  // `activity data backup` starts its hash pool before anything else. The target is judged on backups with
  // the pool already up, started once before the runs; a backup that starts a pool of its own is timed beside it.
  pool = createHashPool()
  await pool.hash(join(data, 'queries.active'))

  // Interleaved runs, each result removed before the next run, after one untimed run of each: the page cache, memory
  // and the JIT are in the same state for both. The median of each is reported (the machine is shared).
  const floors: number[] = []
  const backups: number[] = []
  const coldBackups: number[] = []
  const snapshots: number[] = []
  const copies: number[] = []
  const rests: number[] = []
  const store = prometheusStore({ name: 'metrics', url, dataDir: data })
  let clock = Date.now()
  let last: Awaited<ReturnType<typeof takeBackup>> | undefined
  for (let i = -1; i < runs; i++) {
    const floorRun = cpFloor(data, join(work.path, 'copy'))
    rmSync(join(work.path, 'copy'), { recursive: true })
    if (last) rmSync(last.path, { recursive: true })
    settle()
    start = process.hrtime.bigint()
    // The progress lines mark the end of the snapshot call and of the checksums, for the breakdown.
    const marks: Record<string, number> = {}
    const progress = (line: string) => {
      if (/: snapshot through /.test(line)) marks.asked = seconds(start)
      else if (/: snapshot \S+: /.test(line)) marks.snapshot = seconds(start)
      else if (/\.prometheus(\.tar)? \d/.test(line)) marks.copied = seconds(start)
    }
    last = await takeBackup({ stores: [store], to: join(work.path, 'backups'), keep: runs + 2, archive: 'none', commit: null, tool: 'bench', progress, now: () => new Date((clock += 1000)), pool })
    const backupRun = seconds(start)
    if (last.manifest.failed.length) throw new Error(last.manifest.failed[0]!.error)
    rmSync(last.path, { recursive: true })
    settle()
    start = process.hrtime.bigint()
    last = await takeBackup({ stores: [store], to: join(work.path, 'backups'), keep: runs + 2, archive: 'none', commit: null, tool: 'bench', progress: () => {}, now: () => new Date((clock += 1000)) })
    const coldRun = seconds(start)
    if (i >= 0) {
      floors.push(floorRun)
      backups.push(backupRun)
      coldBackups.push(coldRun)
      snapshots.push(marks.snapshot! - marks.asked!)
      copies.push(marks.copied! - marks.snapshot!)
      rests.push(backupRun - (marks.copied! - marks.asked!))
    }
  }
  const floor = median(floors)
  const backup = median(backups)
  const copied = folderBytes(data)
  const { path, manifest } = last!
  const part = manifest.parts[0]!

  await prometheus.stop()
  prometheus = undefined
  rmSync(data, { recursive: true })
  mkdirSync(data)
  const port = Number(new URL(url).port)
  let filesRestored = 0
  settle()
  start = process.hrtime.bigint()
  await restoreBackup({
    source: path,
    stores: [
      prometheusStore({
        name: 'metrics',
        url,
        dataDir: data,
        control: {
          describe: 'the bench Prometheus',
          stop: async () => {},
          start: async () => {
            filesRestored = seconds(start)
            prometheus = await startPrometheusOn(data, { port })
          },
        },
      }),
    ],
    force: false,
    progress: () => {},
    pool,
  })
  const restore = seconds(start)

  const ratio = backup / floor
  console.log(`cp -a (floor): ${floor.toFixed(3)} s for ${formatBytes(copied)} (median of ${runs})`)
  console.log(`backup: ${backup.toFixed(3)} s (median of ${runs}), part ${formatBytes(part.size)} (${part.detail.blocks} blocks, sha256 included); ratio to the floor ${ratio.toFixed(2)}x (target <= 2x)`)
  console.log(`backup breakdown (medians): snapshot API ${(median(snapshots) * 1000).toFixed(0)} ms (links and checksums of the finished blocks running meanwhile), checksums still running after it ${(median(copies) * 1000).toFixed(0)} ms, the rest (manifest, retention) ${(median(rests) * 1000).toFixed(0)} ms`)
  console.log(`backup starting its own hash pool (${pool.threads} workers): ${median(coldBackups).toFixed(3)} s (median of ${runs}), ${(median(coldBackups) / floor).toFixed(2)}x the floor`)
  console.log(`restore: ${restore.toFixed(3)} s until Prometheus answers again (checksum + files ${filesRestored.toFixed(3)} s, ${(filesRestored / floor).toFixed(2)}x the floor)`)
  console.log(`disk: ${(part.size / history.samples).toFixed(2)} bytes per sample in the backup`)
  process.exitCode = ratio <= 2 ? 0 : 1
} finally {
  await pool?.close()
  await prometheus?.stop()
  work.remove()
}
