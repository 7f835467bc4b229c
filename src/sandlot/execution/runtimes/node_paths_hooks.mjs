// Module resolution over NODE_PATH for ES modules (see node_paths.mjs): a bare
// specifier that Node.js cannot resolve from the importing file is tried from each
// NODE_PATH directory, in order.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
const notBare = /^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/;

// The first resolution of `specifier` that `attempt(parentURL)` finds, with a parent
// file inside each NODE_PATH directory in turn (Node.js then finds dir/<package> as it
// would a package installed next to that file); null if none does.
export function resolveFrom(specifier, error, attempt) {
  if (notBare.test(specifier) || error?.code !== 'ERR_MODULE_NOT_FOUND') return null;
  for (const dir of dirs) {
    try {
      return attempt(pathToFileURL(path.join(dir, 'noop.js')).href);
    } catch {
      // not in this one
    }
  }
  return null;
}

// The asynchronous hook `module.register` runs in its loader thread.
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (notBare.test(specifier) || error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const dir of dirs) {
      const parentURL = pathToFileURL(path.join(dir, 'noop.js')).href;
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // not in this one
      }
    }
    throw error;
  }
}
