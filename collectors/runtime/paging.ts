// Pages of a REST listing that names the next one in its Link header (rel="next"), as GitHub and GitLab do.
import type { JsonResponse } from './http.ts'

/** One page of a listing: the URL it was asked at (for errors) and its body, unchecked. */
export interface Page {
  url: string
  body: unknown
}

/** The URL of the next page from a `Link: <url>; rel="next", ...` header, undefined on the last page. */
function nextLink(link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link.join(', ') : link
  return value && /<([^>]+)>\s*;\s*rel="next"/.exec(value)?.[1]
}

/** Every page from `first` on, each asked with `get` once the one before it has been handled, until one names no next. */
export async function* linkPages(first: string, get: (url: string) => Promise<JsonResponse>): AsyncGenerator<Page> {
  let url: string | undefined = first
  while (url) {
    const response: JsonResponse = await get(url)
    yield { url, body: response.body }
    url = nextLink(response.headers.link)
  }
}
