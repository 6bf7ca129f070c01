/**
 * A command: its declaration (what `help <cmd>` prints and the parser
 * checks) and what it does with the parsed values.
 */
import { type DescMessage } from '@bufbuild/protobuf';
import { type LnnodeClient } from '../../rpc/client.ts';
import { type CommandSpec } from '../spec.ts';
import { type Values } from '../values.ts';

/** An answer to print: a proto message (rendered from its schema), or a summary of a call whose response is empty. */
export type Answer = { schema: DescMessage; msg: unknown } | { json: Record<string, unknown>; text: string };

export interface RunContext {
  client: LnnodeClient;
  values: Values;
  /** The variadic argument's values. */
  rest: readonly string[];
  /** Prints one answer now (streams print each event as it comes). */
  print(a: Answer): void;
}

export interface Command extends CommandSpec {
  /** Returns the answer to print, or undefined when it printed as it went (a stream). */
  run(ctx: RunContext): Promise<Answer | undefined>;
}

export interface CommandGroup {
  title: string;
  commands: readonly Command[];
}
