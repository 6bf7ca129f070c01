/**
 * lnd's verrpc.Versioner: lndclient-based programs call GetVersion when they
 * start and compare the version and build tags with what they need. lnnode
 * reports the lnd release whose API its subset follows (proto-lnd/ is taken
 * from lnd v0.21.3-beta), its own version in `version` and `commit`, and as
 * build tags the lnd sub-servers it serves, so a client that needs one it
 * lacks (signrpc, walletrpc, chainrpc) says so at start instead of failing
 * on its first call.
 */
import { type ConnectRouter } from '@connectrpc/connect';
import pkg from '../../../package.json' with { type: 'json' };
import { Versioner } from '../gen/verrpc/verrpc_pb.ts';

/** The lnd release the lnd-compatible protos follow. */
export const LND_API_VERSION = { major: 0, minor: 21, patch: 3, preRelease: 'beta' } as const;
/** The lnd sub-servers served beside lnrpc.Lightning (lnd's build tag names). */
export const LND_BUILD_TAGS = ['routerrpc', 'invoicesrpc'];

export function versionRoutes(): (router: ConnectRouter) => void {
  const v = LND_API_VERSION;
  return (router) =>
    router.service(Versioner, {
      getVersion() {
        return {
          commit: `lnnode-${pkg.version}`,
          commitHash: '',
          version: `${v.major}.${v.minor}.${v.patch}-${v.preRelease} lnnode-${pkg.version}`,
          appMajor: v.major,
          appMinor: v.minor,
          appPatch: v.patch,
          appPreRelease: v.preRelease,
          buildTags: LND_BUILD_TAGS,
          goVersion: '',
        };
      },
    });
}
