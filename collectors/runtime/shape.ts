// An API answer checked against the shape its documentation promises, at the boundary: the collector then trusts its types.
import type { z } from 'zod'
import { ResponseError } from './errors.ts'

/** The body parsed by `schema`, or a ResponseError naming the URL and the first field that is not as promised. */
export function expectShape<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, body: unknown, url: string, what = 'body'): T {
  const parsed = schema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ResponseError(url, `${issue.path.join('.') || what}: ${issue.message}`)
  }
  return parsed.data
}
