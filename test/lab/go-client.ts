/**
 * The Go gRPC test client (test/go-client, built by test/lab/build/go-client.sh
 * into the cache under a hash of its sources) as a typed driver of lnnode.v1:
 * requests go out as protobuf JSON made from the TypeScript schemas, responses
 * come back through the same schemas, so a test reads the same messages
 * whichever client made the call.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { create, fromJsonString, toJsonString, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { LightningNodeService } from '../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { labCache } from './binaries.ts';
import { startProcess } from './processes.ts';

const SRC = resolve(import.meta.dir, '../go-client');

type Methods = typeof LightningNodeService.method;
export type MethodName = keyof Methods;
export type In<K extends MethodName> = MessageInitShape<Methods[K]['input']>;
export type Out<K extends MethodName> = MessageShape<Methods[K]['output']>;

/** The same key as go-client.sh: sha256 over the sources in byte order of their paths. */
function sourceKey(): string {
  const files: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(join(dir, e.name), r);
      else if (e.name.endsWith('.go') || e.name === 'go.mod' || e.name === 'go.sum') files.push(r);
    }
  };
  walk(SRC, '.');
  files.sort(); // ASCII paths: code-unit order is C-locale byte order
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(SRC, f)));
  return h.digest('hex').slice(0, 16);
}

export function goClientBinary(): string {
  const path = join(labCache(), `go-client-${sourceKey()}`, 'bin', 'lnnode-goclient');
  if (!existsSync(path)) throw new Error(`Go test client not built at ${path}: run bash test/lab/build/go-client.sh`);
  return path;
}

/** A gRPC status from the Go client: its code name (e.g. "InvalidArgument") and message. */
export class GoRpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export class GoClient {
  private readonly bin = goClientBinary();

  constructor(
    private readonly port: number,
    private readonly tokenFile: string | undefined,
  ) {}

  private args(): string[] {
    return ['-addr', `127.0.0.1:${this.port}`, ...(this.tokenFile ? ['-token-file', this.tokenFile] : [])];
  }

  async call<K extends MethodName>(method: K, req: In<K>): Promise<Out<K>> {
    const m = LightningNodeService.method[method];
    const p = Bun.spawn([this.bin, ...this.args(), 'call', m.name, toJsonString(m.input, create(m.input, req as never))], { stdout: 'pipe', stderr: 'pipe' });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code === 1) {
      const e = JSON.parse(stderr) as { code: string; message: string };
      throw new GoRpcError(e.code, e.message);
    }
    if (code !== 0) throw new Error(`lnnode-goclient ${m.name} exited ${code}: ${stderr}`);
    return fromJsonString(m.output, stdout) as Out<K>;
  }

  /** Reads `count` messages of a server stream in a child process (killed by the lab if the test dies). */
  stream<K extends MethodName>(method: K, req: In<K>, count: number, logDir: string): Promise<Out<K>[]> {
    const m = LightningNodeService.method[method];
    const logFile = join(logDir, `goclient-${m.name}-${Date.now()}.log`);
    const proc = startProcess({ name: `goclient ${m.name}`, cmd: this.bin, args: [...this.args(), 'stream', m.name, toJsonString(m.input, create(m.input, req as never)), String(count)], logFile });
    return proc.exited.then((code) => {
      const out = readFileSync(logFile, 'utf8');
      if (code !== 0) throw new Error(`lnnode-goclient stream ${m.name} exited ${code}: ${out}`);
      return out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => fromJsonString(m.output, l) as Out<K>);
    });
  }
}
