// JSON requests to the pool's HTTP API (/api/v1/…, see the README's API section).
// URLs are relative to the page, so the dashboard also works behind a path prefix.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET api/v1/<path>?<params> → parsed JSON; HTTP errors become ApiError with the API's code */
export async function getJson(path, params = {}, signal) {
  const url = new URL(`api/v1/${path}`, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v != null) url.searchParams.set(k, String(v));
  let res;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `the pool's API did not answer (${err.message})`);
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    throw new ApiError(res.status, body?.error?.code ?? `HTTP_${res.status}`,
      body?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  if (body == null) throw new ApiError(res.status, 'BAD_JSON', `api/v1/${path} did not return JSON`);
  return body;
}

/** path segment for a user or worker name (any characters a miner chose) */
export const seg = (s) => encodeURIComponent(s);
