/**
 * invoicesrpc.Invoices SubscribeSingleInvoice: the invoice's state now, then
 * its final state (settled, or canceled when it expires), then the end of
 * the stream, as lnd sends them.
 */
import { type ConnectRouter } from '@connectrpc/connect';
import { type LightningNode } from '../../node/node.ts';
import { notFound, requireBytes } from '../errors.ts';
import { Invoices } from '../gen/invoicesrpc/invoices_pb.ts';
import { Invoice_InvoiceState } from '../gen/lnrpc/lightning_pb.ts';
import { waitInvoice } from '../lnnode-service.ts';
import { invoiceMessage, invoiceState } from './convert.ts';
import { nowSeconds } from '../node-parts.ts';

export function invoicesRoutes(node: LightningNode): (router: ConnectRouter) => void {
  return (router) =>
    router.service(Invoices, {
      async *subscribeSingleInvoice(req, ctx) {
        const hash = requireBytes('r_hash', req.rHash, 32);
        const inv = node.invoices.get(hash);
        if (!inv) throw notFound('unable to locate invoice');
        yield invoiceMessage(inv, nowSeconds());
        if (invoiceState(inv, nowSeconds()) !== Invoice_InvoiceState.OPEN) return;
        const final = await waitInvoice(node, hash, undefined, ctx.signal);
        // An invoice that expired unpaid is canceled from then on.
        if (final.state === 'open') node.invoices.cancel(hash);
        yield invoiceMessage(node.invoices.get(hash)!, nowSeconds());
      },
    });
}
