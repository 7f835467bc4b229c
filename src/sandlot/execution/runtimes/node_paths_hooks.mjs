// Module resolution hooks (see node_paths.mjs): a bare specifier that Node.js cannot
// resolve from the importing file is tried from each NODE_PATH directory, in order.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
const notBare = /^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (notBare.test(specifier) || error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const dir of dirs) {
      // A parent file inside dir: Node.js then finds dir/<package> as it would a
      // package installed next to that file.
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
