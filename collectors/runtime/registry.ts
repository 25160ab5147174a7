// Finds the collectors: every file in collectors/ is one source, named after the file.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { AnyCollector } from './define.ts'
import { ConfigError } from './errors.ts'

const sourceFile = /^([a-z][a-z0-9_]*)\.(ts|js)$/

/** Source name → collector file, from the file names of a collectors folder (nothing imported). */
function sourceFiles(dir: URL): Map<string, string> {
  const files = new Map<string, string>()
  for (const file of readdirSync(fileURLToPath(dir)).sort()) {
    const name = sourceFile.exec(file)?.[1]
    if (name) files.set(name, file)
  }
  return files
}

/** Source names available in a collectors folder (from file names, nothing imported). */
export function sourceNames(dir: URL): string[] {
  return [...sourceFiles(dir).keys()]
}

/** Imports one collector; an unknown name is a ConfigError naming the ones that exist. */
export async function loadCollector(dir: URL, name: string, where = 'command line'): Promise<AnyCollector> {
  const files = sourceFiles(dir)
  const file = files.get(name)
  if (!file) {
    throw new ConfigError(where, undefined, 'source', `unknown source '${name}'`, `known sources: ${[...files.keys()].join(', ')}; a new source is one file in collectors/`)
  }
  const module = (await import(new URL(file, dir).href)) as { default?: AnyCollector }
  if (!module.default || module.default.name !== name) {
    throw new Error(`collectors/${file} must export default defineCollector({ name: '${name}', ... })`)
  }
  return module.default
}

export async function loadCollectors(dir: URL): Promise<Map<string, AnyCollector>> {
  const collectors = new Map<string, AnyCollector>()
  for (const name of sourceNames(dir)) collectors.set(name, await loadCollector(dir, name))
  return collectors
}
