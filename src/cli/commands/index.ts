/** Every lnnode-cli command, in the order `lnnode-cli help` lists them. */
import { CHANNEL_COMMANDS } from './channels.ts';
import { type Command, type CommandGroup } from './command.ts';
import { INVOICE_COMMANDS } from './invoices.ts';
import { PEER_COMMANDS } from './peers.ts';
import { WALLET_COMMANDS } from './wallet.ts';

export const GROUPS: readonly CommandGroup[] = [PEER_COMMANDS, CHANNEL_COMMANDS, WALLET_COMMANDS, INVOICE_COMMANDS];
export const COMMANDS: readonly Command[] = GROUPS.flatMap((g) => g.commands);
