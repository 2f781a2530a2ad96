// The demo's picture: answers per second over time in each run, naive beside lameduck, the shutdown
// above the restart. One self-contained SVG (no scripts, fonts or links), readable in any browser.
// bench/report/svg.ts draws the benchmark's picture, but for its own runs (a restart then a shutdown in
// one run per method, its title naming pm2); the demo's runs are one event each, in a grid.
import type { Outcome, Sample } from './load.js';

export interface TimelinePanel {
  title: string;
  samples: readonly Sample[];
  /** Moments of the run (ms since its load started), drawn as labelled vertical lines. */
  marks: readonly { at: number; label: string }[];
  /** Where the run's time axis ends (ms since its load started). */
  endAt: number;
}

export interface TimelineRow {
  title: string;
  panels: readonly TimelinePanel[];
}

const BIN_MS = 200;
const WIDTH = 960;
const LEFT = 52;
const RIGHT = 16;
const COLUMN_GAP = 36;
const PANEL = 130;
const ROW_GAP = 70;
const TOP = 78;

/** Stacked bars, bottom to top; `ok` is the line. */
const BARS: readonly { outcomes: readonly Outcome[]; color: string; label: string }[] = [
  { outcomes: ['retryAfter'], color: '#f0a030', label: '503 + Retry-After /s (clean, retried)' },
  { outcomes: ['refused'], color: '#8c8cc8', label: 'refused /s (a restart: the outage)' },
  { outcomes: ['reset', 'other'], color: '#d62728', label: 'reset or other failure /s' },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const r1 = (v: number) => Math.round(v * 10) / 10;

function perSecond(samples: readonly Sample[], outcomes: readonly Outcome[], count: number): number[] {
  const bins = new Array<number>(count).fill(0);
  for (const s of samples) {
    const i = Math.floor(s.at / BIN_MS);
    if (i >= 0 && i < count && outcomes.includes(s.outcome)) bins[i]!++;
  }
  return bins.map((n) => (n * 1_000) / BIN_MS);
}

/** The whole picture, as SVG text. */
export function timelineSvg(rows: readonly TimelineRow[], title: string): string {
  const columns = Math.max(1, ...rows.map((r) => r.panels.length));
  const panelW = (WIDTH - LEFT - RIGHT - (columns - 1) * COLUMN_GAP) / columns;
  const height = TOP + rows.length * (PANEL + ROW_GAP) - 20;
  // Each row has its own time axis and scale, shared by its panels: the two ways side by side.
  const binned = rows.map((row) => {
    const seconds = Math.max(1, Math.ceil(Math.max(...row.panels.map((p) => p.endAt)) / 1_000));
    const count = Math.ceil((seconds * 1_000) / BIN_MS);
    const panels = row.panels.map((p) => ({
      // The line stops where the run's load stopped, so that its end does not read as an outage.
      ok: perSecond(p.samples, ['ok'], count).slice(0, Math.floor(p.endAt / BIN_MS)),
      bars: BARS.map((b) => perSecond(p.samples, b.outcomes, count)),
    }));
    const peak = Math.max(
      100,
      ...panels.flatMap((p) => [
        ...p.ok,
        ...p.bars[0]!.map((_, i) => p.bars.reduce((sum, bar) => sum + bar[i]!, 0)),
      ]),
    );
    return { seconds, count, panels, yMax: Math.ceil(peak / 200) * 200 };
  });
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="600">${esc(title)}</text>`,
    legend(LEFT, 44),
  ];
  rows.forEach((row, r) => {
    const rowTop = TOP + r * (PANEL + ROW_GAP);
    const { seconds, count, panels, yMax } = binned[r]!;
    out.push(`<text x="${LEFT}" y="${rowTop}" font-size="13" font-weight="600">${esc(row.title)}</text>`);
    row.panels.forEach((panel, c) => {
      const left = LEFT + c * (panelW + COLUMN_GAP);
      const top = rowTop + 22;
      const x = (ms: number) => r1(left + (ms / (seconds * 1_000)) * panelW);
      const y = (v: number) => r1(top + PANEL - (v / yMax) * PANEL);
      const data = panels[c]!;
      out.push(`<text x="${left}" y="${top - 6}">${esc(panel.title)}</text>`);
      for (const v of [0, yMax / 2, yMax]) {
        out.push(
          `<line x1="${left}" x2="${r1(left + panelW)}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
          `<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end" fill="#555" font-size="10">${v}</text>`,
        );
      }
      const step = seconds > 12 ? 2 : 1;
      for (let s = 0; s <= seconds; s += step) {
        out.push(
          `<text x="${x(s * 1_000)}" y="${top + PANEL + 13}" text-anchor="middle" fill="#555" font-size="10">${s} s</text>`,
        );
      }
      const w = Math.max(1, r1(panelW / count - 0.5));
      for (let i = 0; i < count; i++) {
        let base = 0;
        BARS.forEach((bar, b) => {
          const v = data.bars[b]![i]!;
          if (v === 0) return;
          out.push(
            `<rect x="${x(i * BIN_MS)}" y="${y(base + v)}" width="${w}" height="${r1(y(base) - y(base + v))}" fill="${bar.color}"/>`,
          );
          base += v;
        });
      }
      const points = data.ok.map((v, i) => `${x((i + 0.5) * BIN_MS)},${y(v)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="#2ca02c" stroke-width="1.6"/>`);
      panel.marks.forEach((mark, m) => {
        const mx = x(mark.at);
        out.push(
          `<line x1="${mx}" x2="${mx}" y1="${top}" y2="${top + PANEL}" stroke="#1f4e99" stroke-dasharray="4 3"/>`,
          `<text x="${r1(mx + 3)}" y="${top + 11 + m * 12}" fill="#1f4e99" font-size="10">${esc(mark.label)}</text>`,
        );
      });
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function legend(x0: number, y0: number): string {
  const items: [string, string][] = [
    ['#2ca02c', 'answered 200 /s'],
    ...BARS.map((b): [string, string] => [b.color, b.label]),
  ];
  let x = x0;
  return items
    .map(([color, label]) => {
      const s = `<rect x="${x}" y="${y0 - 9}" width="12" height="10" fill="${color}"/><text x="${x + 16}" y="${y0}">${esc(label)}</text>`;
      x += 34 + label.length * 6.2;
      return s;
    })
    .join('\n');
}
