/**
 * Which chain source URLs may be used without TLS: only loopback ones. Over
 * plain HTTP anyone on the path can answer in the server's place (forge fee
 * estimates, withhold or invent transactions) and read which addresses are
 * ours; on loopback nobody else is on the path.
 */

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Why `url` may not be used as a chain source, or undefined if it may. */
export function insecureUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol !== 'http:') return `"${url}" is not an http(s) URL`;
  if (isLoopbackHost(u.hostname)) return undefined;
  return `plain http to ${u.hostname} is refused: use https (or a TLS proxy or SSH tunnel to a loopback port); only 127.0.0.1, ::1 and localhost may use http`;
}
