/**
 * SVG -> PNG with resvg (@resvg/resvg-js, prebuilt native binary). The one font is loaded from its
 * file and system fonts are not, so the picture's text is the same on every machine; without the
 * file the PNG is refused by name rather than rendered with invisible text.
 */
import * as fs from 'node:fs';
import { Resvg } from '@resvg/resvg-js';

export const FONT_FILE = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
export const FONT_PACKAGE = 'fonts-dejavu-core';

export interface Raster {
  readonly width: number;
  readonly height: number;
  /** RGBA, row by row. */
  readonly pixels: Buffer;
  readonly png: Buffer;
}

/** Renders an SVG to pixels and PNG bytes at its own size. */
export function rasterize(svg: string, opts: { fontFile?: string } = {}): Raster {
  const fontFile = opts.fontFile ?? FONT_FILE;
  if (!fs.existsSync(fontFile)) {
    throw new Error(`cannot render the drill picture as PNG: the font ${fontFile} is missing; install the Debian package ${FONT_PACKAGE} (apt-get install ${FONT_PACKAGE}; scripts/setup.sh does it)`);
  }
  const img = new Resvg(svg, {
    fitTo: { mode: 'original' },
    font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  }).render();
  return { width: img.width, height: img.height, pixels: img.pixels, png: img.asPng() };
}

export function renderPng(svg: string, opts: { fontFile?: string } = {}): Buffer {
  return rasterize(svg, opts).png;
}
