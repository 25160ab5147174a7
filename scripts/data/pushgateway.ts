// The Pushgateway's persistence file: the groups the collectors pushed last. Copied as it is (the gateway replaces it atomically).
import { createReadStream, existsSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { dirname, join } from 'node:path'
import { StoreError } from './errors.ts'
import { formatBytes, replaceFile, writeHashed, type Progress } from './files.ts'
import type { Part } from './manifest.ts'
import { answers, waitUntil, type Control, type PartSource, type PartWritten, type Store } from './store.ts'

export interface PushgatewayOptions {
  name: string
  /** Where it answers; without one, only its file is looked at (a gateway that is not running). */
  url?: string
  /** Its --persistence.file as seen from here. */
  file: string
  control?: Control
}

/** The groups a running Pushgateway holds, or undefined when it does not answer. */
export async function gatewayGroups(url: string | undefined): Promise<number | undefined> {
  if (!url) return undefined
  try {
    const response = await fetch(`${url}/api/v1/metrics`, { signal: AbortSignal.timeout(5000) })
    if (!response.ok) return undefined
    const body = (await response.json()) as { data?: unknown[] }
    return body.data?.length
  } catch {
    return undefined
  }
}

/** How long a backup waits for a gateway that holds groups to write its file (its interval is a minute here). */
const persistenceWaitMs = 90_000

export function pushgatewayStore(options: PushgatewayOptions): Store {
  const { name, url, file } = options
  const where = `Pushgateway ${url ? `at ${url}, ` : ''}file ${file}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)
  /** The restored part was empty (no group): no file is expected after it. */
  let restoredEmpty = false

  return {
    name,
    kind: 'pushgateway',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress): Promise<PartWritten> {
      let groups = await gatewayGroups(url)
      const part = `${name}.pushgateway`
      if (!existsSync(file) && groups === 0) {
        // A new gateway that nothing pushed to yet writes no file: its part is empty, and restores to no groups.
        const written = await writeHashed(Readable.from([]), join(dir, part), `${name}: ${part}`, progress)
        progress(`${name}: ${part}: empty (no group pushed yet)`)
        return { file: part, ...written, detail: { groups: 0 } }
      }
      if (!existsSync(file) && groups) {
        // Pushed to, but not yet written: a gateway writes its file once every --persistence.interval (1m here).
        progress(`${name}: waiting for the Pushgateway to write its persistence file (it does every --persistence.interval)`)
        await waitUntil(`${name} to write ${file}`, async () => existsSync(file), persistenceWaitMs).catch(() => undefined)
        groups = await gatewayGroups(url)
      }
      if (!existsSync(file)) throw fail('has no persistence file', `start it with --persistence.file=${file}, or point file: at the one it writes`)
      // The gateway writes a new file and renames it over the old one, so the file opened here is whole.
      const written = await writeHashed(createReadStream(file), join(dir, part), `${name}: ${part}`, progress)
      progress(`${name}: ${part} ${formatBytes(written.size)}${groups === undefined ? '' : `, ${groups} groups`}`)
      return { file: part, ...written, detail: groups === undefined ? {} : { groups } }
    },

    async holds(): Promise<string | undefined> {
      const groups = await gatewayGroups(url)
      if (groups !== undefined) return groups ? `${groups} groups` : undefined
      if (existsSync(file) && statSync(file).size > 0) return `a persistence file of ${formatBytes(statSync(file).size)} at ${file}`
      return undefined
    },

    async check(): Promise<void> {
      if (!options.control && url && (await answers(`${url}/-/ready`))) {
        throw fail('is running', 'stop it before restoring (it would write its own groups over the file), or give the store a service: so activity stops and starts it')
      }
    },

    async restore(part: Part, { dir }: PartSource, progress: Progress): Promise<void> {
      const folder = dirname(file)
      if (!existsSync(folder)) throw fail(`its folder ${folder} does not exist`, 'create it, or point file: at the gateway\'s persistence file')
      restoredEmpty = part.size === 0
      if (restoredEmpty) {
        progress(`${name}: the backup holds no group: removing ${file}`)
        await rm(file, { force: true })
        return
      }
      progress(`${name}: writing ${file}`)
      await replaceFile(join(dir, part.file), file)
    },

    async ready(timeoutMs: number): Promise<void> {
      if (!url) {
        if (!restoredEmpty && !existsSync(file)) throw fail('has no persistence file after the restore', 'check the disk (space, permissions) and restore again')
        return
      }
      await waitUntil(`${name} to answer at ${url}/-/ready`, () => answers(`${url}/-/ready`), timeoutMs)
    },
  }
}
