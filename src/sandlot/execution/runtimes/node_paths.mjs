// Loaded with `node --import` before sandlot's Node.js bootstrap: lets ES modules
// (`import { S3Client } from '@aws-sdk/client-s3'`) find packages in the NODE_PATH
// directories (the layers' node_modules, the AWS SDK the runtime provides), which
// Node.js itself searches only for CommonJS `require`, as Lambda's runtimes allow.
import { register } from 'node:module';

register('./node_paths_hooks.mjs', import.meta.url);
