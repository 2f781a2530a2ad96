// The picture: requests per second and failures over time through a restart and a shutdown, one panel
// per method, on a shared time axis and scale. Plain SVG text, no external resources.
import type { RestartRun } from '../restart/scenario.js';

const BIN_MS = 100;
const WIDTH = 960;
const LEFT = 64;
const RIGHT = 16;
const PANEL = 150;
const GAP = 46;
const TOP = 56;

const TITLE =
  'Requests per second and failures through a restart and a shutdown: lameduck keeper, the naive way, pm2 reload';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Panel {
  title: string;
  run: RestartRun;
}

function bins(run: RestartRun, count: number) {
  const ok = new Array<number>(count).fill(0);
  const rejected = new Array<number>(count).fill(0);
  const failed = new Array<number>(count).fill(0);
  for (const s of run.samples) {
    const i = Math.floor((s.doneAt - run.marks.loadStart) / BIN_MS);
    if (i < 0 || i >= count) continue;
    if (s.outcome === 'ok') ok[i]!++;
    else if (s.outcome === 'rejected') rejected[i]!++;
    else failed[i]!++;
  }
  const perSecond = (v: number[]) => v.map((n) => (n * 1_000) / BIN_MS);
  return { ok: perSecond(ok), rejected: perSecond(rejected), failed: perSecond(failed) };
}

export function timelineSvg(panels: readonly Panel[]): string {
  // Up to a little after the last shutdown finished (a request that timed out later is left out).
  const seconds = Math.ceil(
    (Math.max(...panels.map(({ run }) => run.marks.stopDone - run.marks.loadStart)) + 800) / 1_000,
  );
  const count = (seconds * 1_000) / BIN_MS;
  const data = panels.map((p) => bins(p.run, count));
  const peak = Math.max(
    100,
    ...data.flatMap((d) => d.ok.map((v, i) => Math.max(v, d.rejected[i]! + d.failed[i]!))),
  );
  const yMax = Math.ceil(peak / 200) * 200;
  const plotW = WIDTH - LEFT - RIGHT;
  const height = TOP + panels.length * (PANEL + GAP) + 10;
  const x = (ms: number) => LEFT + (ms / (seconds * 1_000)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${TITLE}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="600">Requests per second through a restart and a shutdown (steady keep-alive load, ${BIN_MS} ms bins)</text>`,
    legend(LEFT, 42),
  ];
  panels.forEach(({ title, run }, p) => {
    const top = TOP + p * (PANEL + GAP) + 18;
    const y = (v: number) => top + PANEL - (v / yMax) * PANEL;
    const d = data[p]!;
    out.push(`<text x="${LEFT}" y="${top - 6}" font-weight="600">${esc(title)}</text>`);
    for (const v of [0, yMax / 2, yMax]) {
      out.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
        `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${v}</text>`,
      );
    }
    for (let s = 0; s <= seconds; s++) {
      out.push(
        `<text x="${x(s * 1_000)}" y="${top + PANEL + 14}" text-anchor="middle" fill="#555">${s} s</text>`,
      );
    }
    const w = Math.max(1, plotW / count - 0.5);
    d.rejected.forEach((v, i) => {
      if (v > 0) {
        out.push(
          `<rect x="${x(i * BIN_MS)}" y="${y(v)}" width="${w}" height="${y(0) - y(v)}" fill="#f0a030"/>`,
        );
      }
    });
    d.failed.forEach((v, i) => {
      if (v > 0) {
        const base = d.rejected[i]!;
        out.push(
          `<rect x="${x(i * BIN_MS)}" y="${y(base + v)}" width="${w}" height="${y(base) - y(base + v)}" fill="#d62728"/>`,
        );
      }
    });
    const points = d.ok.map((v, i) => `${x((i + 0.5) * BIN_MS).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="#2ca02c" stroke-width="1.6"/>`);
    const marks: [number, string, string][] = [
      [run.marks.restart, 'restart', '4 3'],
      [run.marks.restartDone, 'restart done', '1 3'],
      [run.marks.stop, 'shutdown', '6 3'],
    ];
    marks.forEach(([at, label, dash], row) => {
      const mx = x(at - run.marks.loadStart);
      out.push(
        `<line x1="${mx}" x2="${mx}" y1="${top}" y2="${top + PANEL}" stroke="#1f4e99" stroke-dasharray="${dash}"/>`,
        `<text x="${mx + 3}" y="${top + 11 + row * 13}" fill="#1f4e99">${label}</text>`,
      );
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function legend(x0: number, y0: number): string {
  const items: [string, string][] = [
    ['#2ca02c', 'answered 200 per second'],
    ['#f0a030', 'refused or 503 per second (clean: safe to retry)'],
    ['#d62728', 'reset, hang-up or other failure per second'],
  ];
  let x = x0;
  return items
    .map(([color, label]) => {
      const s = `<rect x="${x}" y="${y0 - 9}" width="12" height="10" fill="${color}"/><text x="${x + 16}" y="${y0}">${esc(label)}</text>`;
      x += 36 + label.length * 6.6;
      return s;
    })
    .join('');
}
