// Loaded with `node --import` before sandlot's Node.js bootstrap when the handler is
// an ES module: lets `import { S3Client } from '@aws-sdk/client-s3'` find packages in
// the NODE_PATH directories (the layers' node_modules, the AWS SDK the runtime
// provides), which Node.js itself searches only for CommonJS `require`, as Lambda's
// runtimes allow. In-thread hooks where Node.js has them (22.15+); else the loader
// thread of `register` (about 100 ms more at start).
import module from 'node:module';
import { dirs, resolveFrom } from './node_paths_hooks.mjs';

if (typeof module.registerHooks === 'function') {
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        const found = resolveFrom(specifier, error, (parentURL) =>
          nextResolve(specifier, { ...context, parentURL }));
        if (found) return found;
        throw error;
      }
    },
  });
} else if (dirs.length) {
  module.register('./node_paths_hooks.mjs', import.meta.url);
}
