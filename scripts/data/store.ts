// What every store (a Prometheus, the Pushgateway, Grafana's database, Elasticsearch) offers to backup and restore.
import type { Progress } from './files.ts'
import type { HashPool } from './hashing.ts'
import type { Part, StoreKind } from './manifest.ts'

/** Stops and starts whatever writes to a store, around a restore (a Swarm service scaled to 0 and back, or commands). */
export interface Control {
  describe: string
  stop(): Promise<void>
  start(): Promise<void>
}

export interface PartWritten {
  /** File name inside the backup folder. */
  file: string
  size: number
  sha256: string
  /** Facts shown by `activity data list`: blocks, time range, groups, tables. */
  detail: Record<string, string | number>
}

/** Where a restore reads a part: the (verified) backup folder, and a scratch folder of this restore for anything unpacked. */
export interface PartSource {
  dir: string
  scratch: string
}

export interface Store {
  /** The part's name in a backup: metrics, monitoring, pushgateway, grafana, logs. */
  readonly name: string
  readonly kind: StoreKind
  /** Where it is, for messages: its URL and data path. */
  readonly where: string
  readonly control: Control | undefined
  /** Writes this store's part into the backup folder; files of a folder part are hashed on `pool`. */
  backup(dir: string, progress: Progress, pool: HashPool): Promise<PartWritten>
  /** What the store holds that a restore would replace, in a few words; undefined when it holds nothing worth keeping. */
  holds(): Promise<string | undefined>
  /** Checks, before anything is touched, that this part can be restored here. */
  check(part: Part, from: PartSource): Promise<void>
  /** Replaces the store's data with the part (the store is stopped, or does not need to be). */
  restore(part: Part, from: PartSource, progress: Progress): Promise<void>
  /** Waits until the store answers again. */
  ready(timeoutMs: number): Promise<void>
}

/** Polls until `check` is true, or throws after the deadline saying what it waited for. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      last = (error as Error).message
    }
    if (Date.now() > deadline) throw new Error(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (${last})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** True when something answers 2xx at the URL now. */
export async function answers(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await response.body?.cancel()
    return response.ok
  } catch {
    return false
  }
}
