/**
 * Runs every bench/*.bench.ts and prints its figures. Nothing is asserted:
 * targets are read by people, not enforced by timed tests.
 */
import { Glob } from 'bun';

export interface Figure {
  name: string;
  value: number;
  unit: string;
}

const only = process.argv[2];
console.log(`lnnode benchmarks — bun ${Bun.version}, ${process.platform}/${process.arch}`);
const files = [...new Glob('*.bench.ts').scanSync({ cwd: import.meta.dir })].sort();
for (const file of files) {
  if (only && !file.includes(only)) continue;
  const mod = (await import(`./${file}`)) as { default: () => Promise<Figure[]> };
  console.log(`\n## ${file.replace('.bench.ts', '')}`);
  for (const f of await mod.default()) {
    const v = f.value >= 100 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2);
    console.log(`  ${f.name.padEnd(52)} ${v.padStart(14)} ${f.unit}`);
  }
}
