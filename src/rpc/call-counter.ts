/**
 * A Connect interceptor that reports every served call's outcome (service,
 * method, status code name) for /metrics: a unary call when it returns or
 * throws, a server stream when it ends, fails or the client goes away
 * ("canceled"). Only routes we serve reach it, so its labels are bounded by
 * the protos, whatever paths a client sends.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';

export type CallObserver = (service: string, method: string, code: string) => void;

/** Code.InvalidArgument -> "invalid_argument", as gRPC status names are written in lower case. */
export const codeName = (code: Code): string => Code[code].replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase());

export function callCounter(observe: CallObserver): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const failed = (e: unknown): never => {
      observe(service, method, codeName(ConnectError.from(e).code));
      throw e;
    };
    const res = await next(req).catch(failed);
    if (!res.stream) {
      observe(service, method, 'ok');
      return res;
    }
    const inner = res.message;
    async function* counted(): AsyncGenerator<Awaited<typeof inner extends AsyncIterable<infer T> ? T : never>> {
      let ended = false;
      try {
        for await (const m of inner) yield m;
        ended = true;
        observe(service, method, 'ok');
      } catch (e) {
        ended = true;
        failed(e);
      } finally {
        if (!ended) observe(service, method, 'canceled');
      }
    }
    return { ...res, message: counted() };
  };
}
