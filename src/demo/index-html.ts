/**
 * The demo site's `index.html`: a static shell (styles inline, no external resource) that loads the
 * page bundle `bdk-demo.js`, which fills it in from the export's manifest.
 */
export const PAGE_SCRIPT = 'bdk-demo.js';

export const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>bdk demo</title>
    <style>
      body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 52rem; padding: 1rem 1.5rem; color: #1b1f24; }
      h1 { font-size: 1.35rem; margin: 0.2rem 0; }
      #status { color: #57606a; }
      .error { color: #b3261e; font-weight: 600; }
      #features { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 0.4rem 1rem; }
      #features label { display: flex; justify-content: space-between; gap: 0.5rem; align-items: center; }
      #features input { width: 6.5rem; }
      dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
      dt { color: #57606a; }
      dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; }
      .pad { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
      #draw { border: 1px solid #8c959f; touch-action: none; cursor: crosshair; width: 280px; height: 280px; }
      #seen { border: 1px solid #8c959f; image-rendering: pixelated; width: 112px; height: 112px; }
      .top { font-size: 1.2rem; }
      #top-class { font-weight: 700; }
      #probs { display: grid; grid-template-columns: max-content 1fr 4rem; gap: 0.15rem 0.6rem; align-items: center; max-width: 32rem; }
      .track { background: #eaeef2; height: 0.9rem; }
      .bar { display: block; height: 100%; background: #8c959f; }
      .bar.best { background: #0969da; }
      .value { font-variant-numeric: tabular-nums; text-align: right; }
    </style>
  </head>
  <body>
    <h1>bdk demo</h1>
    <p id="model">Loading the model…</p>
    <p id="status">starting…</p>
    <main id="app"></main>
    <noscript>This page needs JavaScript.</noscript>
    <script type="module" src="${PAGE_SCRIPT}"></script>
  </body>
</html>
`;
