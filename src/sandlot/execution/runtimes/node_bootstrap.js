'use strict';
// sandlot's Node.js runtime: the Lambda programming model over the Runtime API.
//
// Started by the engine as `node node_bootstrap.js` inside an execution environment.
// INIT loads the module named by _HANDLER once (CommonJS, or ES modules for .mjs and
// "type": "module" packages); then each invocation is fetched from
// AWS_LAMBDA_RUNTIME_API and answered, as Lambda's own Node.js runtime does:
// - async handlers (a returned promise), callback handlers (event, context, callback),
//   and context.succeed / fail / done;
// - handler strings "index.handler", "dir/index.handler", "index.nested.handler";
// - init errors Runtime.ImportModuleError, Runtime.HandlerNotFound,
//   Runtime.MalformedHandlerName, Runtime.UserCodeSyntaxError;
// - errors answer {errorType, errorMessage, trace}, errorType being the error's name;
// - console.* writes "<timestamp>\t<request id>\t<LEVEL>\t<message>", inner line breaks
//   as "\r" so a multi-line message stays one log event; with AWS_LAMBDA_LOG_FORMAT=JSON
//   (LoggingConfig) it writes Lambda's JSON records {timestamp, level, requestId,
//   message} and drops those below AWS_LAMBDA_LOG_LEVEL (console.fatal added).
// Responses are sent as soon as the handler finishes (callbackWaitsForEmptyEventLoop
// is accepted but not waited on).
// Response streaming: the global `awslambda.streamifyResponse(handler)` marks a handler
// (event, responseStream, context); its stream is the body of a POST /response with
// `Lambda-Runtime-Function-Response-Mode: streaming` and chunked transfer, each write
// one chunk as it happens; an error after the stream began is reported in the trailers
// `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (the
// error document, base64), as Lambda's streaming contract has it.
// `awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies})` writes the
// function URL metadata prelude (JSON, then 8 NUL bytes) with its content type.

const http = require('http');
const path = require('path');
const fs = require('fs');
const util = require('util');
const { pathToFileURL } = require('url');
const { Writable } = require('stream');

const API = '/2018-06-01/runtime';
const address = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const separator = address.lastIndexOf(':');
const HOST = address.slice(0, separator);
const PORT = Number(address.slice(separator + 1));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let currentRequestId; // printed as "undefined" outside invocations, as Lambda does
let currentFinish = null; // settles the running invocation (used by uncaught errors)

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(body);
    const req = http.request(
      {
        host: HOST,
        port: PORT,
        method,
        path: API + route,
        agent,
        headers: Object.assign(
          payload ? { 'Content-Length': payload.length } : {},
          headers || {},
        ),
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload || undefined);
  });
}

const JSON_LOGS = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const LEVEL_RANK = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
const MIN_RANK = JSON_LOGS
  ? (LEVEL_RANK[(process.env.AWS_LAMBDA_LOG_LEVEL || 'INFO').toUpperCase()] ?? 2)
  : 0;

// `fields` (JSON format only): structured members of the record, e.g. an error's.
function logLine(level, message, fields) {
  if (JSON_LOGS) {
    if (LEVEL_RANK[level] < MIN_RANK) return;
    const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
    record.message = message;
    process.stdout.write(`${JSON.stringify(Object.assign(record, fields || {}))}\n`);
    return;
  }
  process.stdout.write(
    `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message.replace(/\n/g, '\r')}\n`,
  );
}

// The fields of a JSON record logging an error (console.error(err) and the like).
function errorFields(args) {
  const error = args.find((arg) => arg instanceof Error);
  if (!JSON_LOGS || !error) return undefined;
  return {
    errorType: errorName(error),
    errorMessage: error.message,
    stackTrace: error.stack ? error.stack.split('\n') : [],
  };
}

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG' };
  if (JSON_LOGS) levels.fatal = 'FATAL';
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => logLine(level, util.format(...args), errorFields(args));
  }
  console.trace = (...args) => {
    const trace = new Error(util.format(...args)).stack.replace(/^Error/, 'Trace');
    logLine('TRACE', trace);
  };
}

function errorName(error) {
  if (error.name && error.name !== 'Error') return error.name;
  return (error.constructor && error.constructor.name) || 'Error';
}

// The error document Lambda's Node.js runtime reports.
function errorDocument(error, stackKey) {
  if (error instanceof Error) {
    return {
      errorType: errorName(error),
      errorMessage: error.message,
      [stackKey]: String(error.stack || '').split('\n'),
    };
  }
  if (typeof error === 'string') {
    return { errorType: 'string', errorMessage: error, [stackKey]: [] };
  }
  let message;
  try {
    message = JSON.stringify(error);
  } catch (_) {
    message = String(error);
  }
  return { errorType: typeof error, errorMessage: message, [stackKey]: [] };
}

class InitError extends Error {
  constructor(type, message, cause) {
    super(message);
    this.name = type;
    if (cause && cause.stack) this.stack = `${type}: ${message}\n${cause.stack}`;
  }
}

async function loadModule(taskRoot, root, moduleName) {
  const base = path.resolve(taskRoot, root, moduleName);
  for (const extension of ['.js', '.mjs', '.cjs']) {
    const file = base + extension;
    if (!fs.existsSync(file)) continue;
    if (extension === '.mjs') return import(pathToFileURL(file).href);
    try {
      return require(file);
    } catch (error) {
      if (error && error.code === 'ERR_REQUIRE_ESM') return import(pathToFileURL(file).href);
      throw error;
    }
  }
  // Not in the task root: a package from NODE_PATH (e.g. a layer), as Lambda allows.
  return require(moduleName);
}

async function loadHandler(taskRoot, handlerString) {
  const slash = handlerString.lastIndexOf('/');
  const root = handlerString.slice(0, slash + 1);
  const rest = handlerString.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) {
    throw new InitError('Runtime.MalformedHandlerName', 'Bad handler');
  }
  const moduleName = rest.slice(0, dot);
  const handlerPath = rest.slice(dot + 1);
  let module;
  try {
    module = await loadModule(taskRoot, root, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new InitError('Runtime.UserCodeSyntaxError', `${error.name}: ${error.message}`, error);
    }
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new InitError(
        'Runtime.ImportModuleError',
        `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${__filename}`,
        error,
      );
    }
    throw error;
  }
  let handler = module;
  for (const part of handlerPath.split('.')) {
    handler = handler === undefined || handler === null ? undefined : handler[part];
  }
  if (handler === undefined) {
    throw new InitError(
      'Runtime.HandlerNotFound',
      `${moduleName}.${handlerPath} is undefined or not exported`,
    );
  }
  if (typeof handler !== 'function') {
    throw new InitError('Runtime.HandlerNotFound', `${moduleName}.${handlerPath} is not a function`);
  }
  return handler;
}

function makeContext(headers, finish) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    succeed: (value) => finish(null, value),
    fail: (error) => finish(error === undefined || error === null ? 'handled' : error),
    done: (error, value) => finish(error, value),
  };
  if (headers['lambda-runtime-client-context']) {
    context.clientContext = JSON.parse(headers['lambda-runtime-client-context']);
  }
  if (headers['lambda-runtime-cognito-identity']) {
    const identity = JSON.parse(headers['lambda-runtime-cognito-identity']);
    context.identity = {
      cognitoIdentityId: identity.cognitoIdentityId,
      cognitoIdentityPoolId: identity.cognitoIdentityPoolId,
    };
  }
  return context;
}

function runHandler(handler, event, headers) {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (error, value) => {
      if (settled) return;
      settled = true;
      currentFinish = null;
      resolve({ error, value });
    };
    currentFinish = finish;
    try {
      const context = makeContext(headers, finish);
      const returned = handler(event, context, (error, value) => finish(error, value));
      if (returned && typeof returned.then === 'function') {
        returned.then(
          (value) => finish(null, value),
          (error) => finish(error === undefined ? new Error('undefined') : error),
        );
      } else if (handler.length < 3) {
        finish(null, returned);
      }
    } catch (error) {
      finish(error);
    }
  });
}

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

// The response body of a streaming invocation: the POST starts at the first write (or
// the end), so the content type can still be set before it.
class ResponseStream extends Writable {
  constructor(route) {
    super();
    this.route = route;
    this.contentType = 'application/octet-stream';
    this.req = null;
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  setContentType(type) {
    this.contentType = type;
  }

  open() {
    if (this.req) return this.req;
    this.req = http.request(
      {
        host: HOST,
        port: PORT,
        method: 'POST',
        path: API + this.route,
        agent,
        headers: {
          'Lambda-Runtime-Function-Response-Mode': 'streaming',
          'Transfer-Encoding': 'chunked',
          'Content-Type': this.contentType,
          Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => this.settle());
        res.on('error', () => this.settle());
      },
    );
    this.req.on('error', () => this.settle());
    return this.req;
  }

  _write(chunk, encoding, callback) {
    // Straight to the request (which buffers), so nothing is pending when it fails.
    this.open().write(chunk);
    callback();
  }

  _final(callback) {
    if (!this.failed) this.open().end();
    callback();
  }

  // An error: the trailers carry it and end the response.
  fail(document) {
    this.failed = true;
    const req = this.open();
    if (req.writableEnded) return;
    req.addTrailers({
      'Lambda-Runtime-Function-Error-Type': document.errorType,
      'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(document)).toString(
        'base64',
      ),
    });
    req.end();
  }
}

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = true;
    return handler;
  },
  HttpResponseStream: {
    from(stream, metadata) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(metadata || {}));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

async function invokeStreaming(handler, headers, event, route) {
  const stream = new ResponseStream(`${route}/response`);
  let error = null;
  try {
    await handler(event, stream, makeContext(headers, () => {}));
  } catch (thrown) {
    error = thrown === undefined || thrown === null ? new Error(String(thrown)) : thrown;
  }
  if (error) {
    const document = errorDocument(error, 'trace');
    logLine('ERROR', `Invoke Error \t${JSON.stringify(document)}`);
    stream.fail(document);
  } else if (!stream.writableEnded) {
    stream.end(); // the handler returned without ending its stream
  }
  await stream.done;
}

async function postError(route, document) {
  await request('POST', route, JSON.stringify(document), {
    'Content-Type': 'application/vnd.aws.lambda.error+json',
    'Lambda-Runtime-Function-Error-Type': document.errorType,
  });
}

async function invoke(handler, headers, body) {
  const requestId = headers['lambda-runtime-aws-request-id'];
  currentRequestId = requestId;
  if (headers['lambda-runtime-trace-id']) {
    process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  const route = `/invocation/${requestId}`;
  let event;
  try {
    event = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch (error) {
    const document = {
      errorType: 'Runtime.UnmarshalError',
      errorMessage: `Unable to unmarshal input: ${error.message}`,
      trace: [],
    };
    return postError(`${route}/error`, document);
  }
  if (handler[STREAMING]) return invokeStreaming(handler, headers, event, route);
  const { error, value } = await runHandler(handler, event, headers);
  if (error !== null && error !== undefined) {
    const document = errorDocument(error, 'trace');
    const summary = {
      errorType: document.errorType,
      errorMessage: document.errorMessage,
      stack: document.trace,
    };
    if (JSON_LOGS) {
      const { errorType, errorMessage, trace } = document;
      logLine('ERROR', 'Invoke Error', { errorType, errorMessage, stackTrace: trace });
    } else {
      logLine('ERROR', `Invoke Error \t${JSON.stringify(summary)}`);
    }
    return postError(`${route}/error`, document);
  }
  let payload;
  try {
    payload = JSON.stringify(value === undefined ? null : value);
  } catch (marshalError) {
    const document = {
      errorType: 'Runtime.MarshalError',
      errorMessage: `Unable to stringify response body: ${marshalError.message}`,
      trace: [],
    };
    return postError(`${route}/error`, document);
  }
  await request('POST', `${route}/response`, payload);
}

// An error nobody caught ends the environment, as in Lambda: it is reported first
// (for the running invocation, or as the init error) and then the process exits.
function installCrashHandlers(state) {
  const crash = (type, error) => {
    let reported = error;
    if (type) {
      // Renamed (Runtime.UnhandledPromiseRejection), keeping the original stack.
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      reported = new Error(message);
      reported.name = type;
      const frames = error instanceof Error && error.stack ? error.stack.split('\n').slice(1) : [];
      reported.stack = [`${type}: ${message}`, ...frames].join('\n');
    }
    const document = errorDocument(reported, 'stack');
    logLine('ERROR', `Uncaught Exception \t${JSON.stringify(document)}`);
    if (currentFinish) {
      state.crashed = true; // main() exits once this error is posted
      currentFinish(reported);
    } else if (!state.ready) {
      postError('/init/error', document).finally(() => process.exit(129));
    } else {
      process.exit(129);
    }
  };
  process.on('uncaughtException', (error) => crash(null, error));
  process.on('unhandledRejection', (reason) => crash('Runtime.UnhandledPromiseRejection', reason));
}

async function main() {
  patchConsole();
  const state = { ready: false, crashed: false };
  installCrashHandlers(state);
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER || '');
  } catch (error) {
    const document = errorDocument(error, 'stack');
    logLine('ERROR', `Uncaught Exception \t${JSON.stringify(document)}`);
    await postError('/init/error', document);
    process.exit(1);
  }
  state.ready = true;
  for (;;) {
    const next = await request('GET', '/invocation/next');
    if (next.status !== 200) {
      process.stderr.write(`sandlot runtime: /invocation/next answered ${next.status}\n`);
      process.exit(1);
    }
    await invoke(handler, next.headers, next.body);
    if (state.crashed) process.exit(129);
  }
}

main().catch((error) => {
  process.stderr.write(`sandlot runtime: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
