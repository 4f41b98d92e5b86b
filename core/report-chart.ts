// Draws a report's charts: a vega-lite spec (core/report.ts) compiled and rendered to SVG by vega,
// headless (no canvas, no browser).
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
