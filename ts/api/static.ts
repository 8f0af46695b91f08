/**
 * The dashboard's files: <package>/web/ at "/", uPlot from node_modules/uplot/dist at
 * /assets/uplot/. A small handler (a fixed directory, a few files, no directory
 * listings): paths are resolved inside the root and anything else is a 404.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** <package root>/web from both ts/api/ and dist/api/. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticFile {
  body: Buffer;
  type: string;
}

/** uPlot's dist directory (the package's main file lives there). */
export function uplotDir(): string | null {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('uplot'));
  } catch {
    return null;
  }
}

/**
 * The file at url path `rel` under `root` ("" or a directory: its index.html), or null
 * when there is none or the path leaves the root.
 */
export async function readStatic(root: string, rel: string): Promise<StaticFile | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const base = path.resolve(root);
  let file = path.resolve(base, '.' + path.posix.normalize('/' + decoded));
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  if (file === base || decoded.endsWith('/')) file = path.join(file, 'index.html');
  const type = TYPES[path.extname(file).toLowerCase()];
  if (!type) return null;
  try {
    return { body: await readFile(file), type };
  } catch {
    return null;
  }
}
