/**
 * The receiving-node requirements of BOLT 2 and the node obligations of
 * BOLT 5, read out of the specification text itself (../shared/bolts), so
 * the receiver-rule table can be checked against it: every row quotes a
 * real requirement, and every requirement has a row.
 *
 * A requirement is a leaf of a requirement list: a bullet with no bullets
 * under it, with the chain of lines above it (the list's opening line, such
 * as "The receiving node MUST fail the channel if:", then each enclosing
 * condition). Lines are compared with whitespace collapsed and the "- "
 * bullet marker removed.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const BOLTS_DIR = resolve(import.meta.dir, '../vectors/spec');

export interface SpecRequirement {
  bolt: 2 | 5;
  /** The heading the list is under, e.g. "The `open_channel` Message". */
  section: string;
  /** From the list's opening line down to the leaf, normalized. */
  path: string[];
}

export const normalize = (line: string): string => line.replace(/^\s*-\s+/, '').replace(/\s+/g, ' ').trim();

/** BOLT 2 sections whose receiver lists the table covers, and which opening lines start such a list there. */
export const BOLT2_SECTIONS: Record<string, RegExp> = {
  'The `open_channel` Message': /^The receiving node (MUST|MAY|MUST NOT)/,
  'The `accept_channel` Message': /^The receiver:/,
  'The `funding_created` Message': /^The recipient:/,
  'The `funding_signed` Message': /^The recipient:/,
  'The `channel_ready` Message': /^(A non-funding node|The receiver:)/,
  '`cltv_expiry_delta` Selection': /^(An offering node|A fulfilling node)/,
  'Closing Initiation: `shutdown`': /^A receiving node:/,
  'Legacy Closing Negotiation: `closing_signed`': /^The receiving node:/,
  'Adding an HTLC: `update_add_htlc`': /^A receiving node:/,
  'Removing an HTLC: `update_fulfill_htlc`, `update_fail_htlc`, and `update_fail_malformed_htlc`': /^A receiving node:/,
  'Committing Updates So Far: `commitment_signed`': /^A receiving node:/,
  'Completing the Transition to the Updated State: `revoke_and_ack`': /^(A receiving node|A node):/,
  'Updating Fees: `update_fee`': /^A receiving node:/,
  'Message Retransmission': /^(A funding node|A non-funding node|A node|A receiving node):/,
};

interface Line {
  indent: number;
  text: string;
}

/** The leaves of the bullet list after `start` (the opening line), each with its chain. */
function leavesOf(lines: string[], start: number, opening: string): string[][] {
  const items: Line[] = [];
  let note = false;
  for (let i = start + 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') {
      // A blank line ends the list unless more bullets follow.
      const next = lines.slice(i + 1).find((l) => l.trim() !== '');
      if (!next || !/^\s*-\s/.test(next)) break;
      continue;
    }
    const m = /^(\s*)-\s+(.*)$/.exec(raw);
    if (m) {
      // "Note:" bullets explain their parent; they are not requirements.
      note = /^Note:/.test(m[2]!);
      if (!note) items.push({ indent: m[1]!.replace(/\t/g, '      ').length, text: normalize(m[2]!) });
    } else if (note) continue;
    else if (items.length) items[items.length - 1]!.text += ` ${normalize(raw)}`; // a bullet wrapped over lines
    else break;
  }
  const out: string[][] = [];
  const stack: Line[] = [];
  items.forEach((it, i) => {
    while (stack.length && stack[stack.length - 1]!.indent >= it.indent) stack.pop();
    stack.push(it);
    const next = items[i + 1];
    if (!next || next.indent <= it.indent) out.push([normalize(opening), ...stack.map((s) => s.text)]);
  });
  return out;
}

/** Paragraphs ending in ':' right before a bullet list: each list's opening line, joined if wrapped, and where it ends. */
function openings(lines: string[]): { text: string; end: number }[] {
  const out: { text: string; end: number }[] = [];
  let para: string[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '' || /^\s*-\s/.test(l)) {
      para = [];
      return;
    }
    para.push(l.trim());
    const next = lines[i + 1] ?? '';
    if (/^\s*-\s/.test(next)) out.push({ text: normalize(para.join(' ')), end: i });
  });
  return out;
}

/** Splits a BOLT file into (heading, lines) sections at every heading. */
function sections(text: string): { heading: string; level: number; lines: string[] }[] {
  const out: { heading: string; level: number; lines: string[] }[] = [];
  for (const line of text.split('\n')) {
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) out.push({ heading: h[2]!.trim(), level: h[1]!.length, lines: [] });
    else out[out.length - 1]?.lines.push(line);
  }
  return out;
}

/** Every requirement the table must cover. */
export function specRequirements(dir = BOLTS_DIR): SpecRequirement[] {
  const out: SpecRequirement[] = [];
  // BOLT 2: the named sections and, inside them, their "Requirements" subsections.
  const b2 = sections(readFileSync(join(dir, '02-peer-protocol.md'), 'utf8'));
  let current: { heading: string; level: number } | undefined;
  for (const s of b2) {
    if (s.heading in BOLT2_SECTIONS) current = { heading: s.heading, level: s.level };
    else if (current && s.level <= current.level) current = undefined;
    // Subsections of a named section count (Requirements), except the rationale.
    if (!current || s.heading === 'Rationale') continue;
    const section = current.heading;
    const opening = BOLT2_SECTIONS[section]!;
    for (const o of openings(s.lines)) if (opening.test(o.text)) for (const path of leavesOf(s.lines, o.end, o.text)) out.push({ bolt: 2, section, path });
  }
  // BOLT 5: every requirement list (opened by "A node ...:", "A local node:", ...) under any heading.
  const b5 = sections(readFileSync(join(dir, '05-onchain.md'), 'utf8'));
  let parent = '';
  for (const s of b5) {
    if (s.heading !== 'Requirements') parent = s.heading;
    for (const o of openings(s.lines)) if (/^(A|An) [^.]*node[^.]*:$/.test(o.text)) for (const path of leavesOf(s.lines, o.end, o.text)) out.push({ bolt: 5, section: parent, path });
  }
  return out;
}

/** A requirement's identity: its section and its whole chain. */
export const requirementKey = (r: { bolt: number; section: string; path: readonly string[] }): string => `BOLT ${r.bolt} / ${r.section} / ${r.path.join(' > ')}`;
