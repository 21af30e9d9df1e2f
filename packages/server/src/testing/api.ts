/**
 * A JSON request to a test server's API with an API key, over plain HTTP: for the endpoints the official SDK has
 * no call for (webhooks, members, the operator API). The answer's status and parsed body (undefined when empty).
 */
export async function apiCall<T = any>(
  server: { apiUrl: string; apiKey: string },
  method: string,
  path: string,
  body?: unknown,
  key = server.apiKey,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
