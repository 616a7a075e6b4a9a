/** The drill's report writers (issue 11): Markdown, JSON, SVG and PNG per scenario, and a summary for `--scenario all`. */
export { renderMarkdown, renderSummary, lagSummary } from './markdown';
export { renderSvg, timeScale } from './svg';
export { renderPng, rasterize, FONT_FILE, FONT_PACKAGE } from './png';
export { checkReportDir, writeReports, writeAtomic } from './files';
export { escapeXml, escapeMd } from './format';
