// Drives a running node with the public JS client SDK
// @calimero-network/calimero-client 1.1.0, using only the SDK's own classes
// for the node calls. Deep imports (the package has no "exports" field), so
// the React parts of the SDK are never loaded.
//
// Env: NODE_URL (http://127.0.0.1:PORT), CONTEXT_ID, EXECUTOR, ACCESS_TOKEN,
//      REFRESH_TOKEN; optional RPC_TIMEOUT_MS (default 10000, see below).
// Run:  node sdk.mjs (Node.js 18 or newer)
// Ends with `sdk: N passed, M failed`; exit 0 only when M is 0.
import axios from 'axios';
import { JsonRpcClient } from '@calimero-network/calimero-client/lib/rpc/jsonrpc.js';
import { AxiosHttpClient } from '@calimero-network/calimero-client/lib/api/httpClient.js';
import { NodeApiDataSource } from '@calimero-network/calimero-client/lib/api/dataSource/NodeApiDataSource.js';
import { WsSubscriptionsClient } from '@calimero-network/calimero-client/lib/subscriptions/ws.js';

// The SDK's WebSocket client uses the browser's global `WebSocket`. Node.js 22
// has one; older versions get the `ws` package's, which has the same API.
if (typeof globalThis.WebSocket !== 'function') {
  globalThis.WebSocket = (await import('ws')).WebSocket;
}

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`sdk: missing env ${name}`);
    console.log('sdk: 0 passed, 1 failed');
    process.exit(1);
  }
  return value;
};
const NODE_URL = env('NODE_URL').replace(/\/+$/, '');
const CONTEXT_ID = env('CONTEXT_ID');
const EXECUTOR = env('EXECUTOR');
const ACCESS_TOKEN = env('ACCESS_TOKEN');
const REFRESH_TOKEN = env('REFRESH_TOKEN');
// JsonRpcClient's axios instance defaults to a 1000 ms timeout; every call
// below passes this larger one in its RequestConfig instead.
const RPC_TIMEOUT_MS = Number(process.env.RPC_TIMEOUT_MS ?? 10_000);
const STEP_TIMEOUT_MS = 15_000;
const EVENT_TIMEOUT_MS = 10_000;

// --- harness -------------------------------------------------------------------
let passed = 0;
let failed = 0;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function step(name, fn, ms = STEP_TIMEOUT_MS) {
  try {
    const detail = await withTimeout(Promise.resolve().then(fn), ms, name);
    passed += 1;
    console.log(`ok   ${name}${detail ? ` — ${detail}` : ''}`);
    return true;
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error?.message ?? error}`);
    return false;
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const show = (value) => JSON.stringify(value);

// --- SDK clients -------------------------------------------------------------------
// AxiosHttpClient accepts any axios instance: give it one with a timeout so
// health / refresh cannot hang.
const nodeApi = new NodeApiDataSource(new AxiosHttpClient(axios.create({ timeout: RPC_TIMEOUT_MS })));
const rpc = new JsonRpcClient(NODE_URL, '/jsonrpc');
const rpcConfig = (token) => ({ timeout: RPC_TIMEOUT_MS, headers: { Authorization: `Bearer ${token}` } });

// JsonRpcClient.execute returns {result} or {error}; on a transport failure
// with no HTTP response (timeout, refused) 1.1.0 throws a TypeError instead
// (its catch reads error.response.code). Both are turned into a thrown Error here.
async function execute(method, argsJson, token) {
  let response;
  try {
    response = await rpc.execute(
      { contextId: CONTEXT_ID, method, argsJson, executorPublicKey: EXECUTOR },
      rpcConfig(token),
    );
  } catch (error) {
    throw new Error(`execute ${method} threw (no HTTP response?): ${error?.message ?? error}`);
  }
  if (response?.error) throw new Error(`execute ${method} returned error ${show(response.error)}`);
  check(response && 'result' in response, `execute ${method}: no result in ${show(response)}`);
  return response.result;
}

// --- a. health -------------------------------------------------------------------
await step('a. NodeApiDataSource.health returns data', async () => {
  const response = await nodeApi.health({ url: NODE_URL });
  check(!response?.error, `error ${show(response?.error)}`);
  check(response?.data?.status === 'alive', `unexpected ${show(response)}`);
  return `status=${response.data.status} nodeId=${response.data.nodeId}`;
});

// --- b. execute set ------------------------------------------------------------------
await step("b. JsonRpcClient.execute set {key:'sdk', value:'works'}", async () => {
  const result = await execute('set', { key: 'sdk', value: 'works' }, ACCESS_TOKEN);
  return `result=${show(result)}`;
});

// --- c. websocket event ----------------------------------------------------------------
const wsUrl = NODE_URL.replace(/^http/, 'ws');
const ws = new WsSubscriptionsClient(wsUrl, `/ws?token=${encodeURIComponent(ACCESS_TOKEN)}`);
await step('c. WsSubscriptionsClient subscribe + event for CONTEXT_ID after execute set', async () => {
  check(typeof WebSocket === 'function', 'no WebSocket implementation');
  try {
    await withTimeout(ws.connect(), 5_000, 'ws connect');
  } catch (error) {
    // connect() rejects with the raw WebSocket error Event, not an Error.
    throw new Error(`ws connect failed: ${error?.message ?? error?.type ?? show(error)}`);
  }
  // The SDK's subscribe() sends and forgets: it neither returns the request
  // id nor waits for the reply, and its onmessage drops every message whose
  // id is not null. To avoid racing the subscription against the next
  // execute, watch the raw socket (read only) for the reply first.
  const socket = ws.connections.get('DEFAULT');
  const replied = new Promise((resolve) => {
    socket.addEventListener('message', function onReply(event) {
      const message = JSON.parse(String(event.data));
      if (message.id !== null) {
        socket.removeEventListener('message', onReply);
        resolve(message);
      }
    });
  });
  let onEvent;
  const got = new Promise((resolve) => {
    onEvent = (nodeEvent) => {
      if (nodeEvent?.contextId === CONTEXT_ID) resolve(nodeEvent);
    };
  });
  ws.addCallback(onEvent);
  ws.subscribe([CONTEXT_ID]);
  const reply = await withTimeout(replied, 5_000, 'subscribe reply');
  check(!reply.error, `subscribe refused: ${show(reply)}`);
  await execute('set', { key: 'sdk-ws', value: 'event' }, ACCESS_TOKEN);
  const nodeEvent = await withTimeout(got, EVENT_TIMEOUT_MS, `event (id === null) for ${CONTEXT_ID}`);
  ws.removeCallback(onEvent);
  return `subscribe reply=${show(reply)} event type=${nodeEvent.type} data=${show(nodeEvent.data).slice(0, 200)}`;
});
ws.disconnect();

// --- d. refresh -------------------------------------------------------------------------
let fresh;
await step('d1. NodeApiDataSource.refreshToken returns a new pair', async () => {
  const response = await nodeApi.refreshToken(REFRESH_TOKEN, NODE_URL);
  check(!response?.error, `error ${show(response?.error)}`);
  fresh = response?.data;
  check(typeof fresh?.access_token === 'string' && typeof fresh?.refresh_token === 'string', `unexpected ${show(response)}`);
  check(fresh.access_token !== ACCESS_TOKEN, 'access token unchanged');
  check(fresh.refresh_token !== REFRESH_TOKEN, 'refresh token unchanged');
  return 'access and refresh tokens both rotated';
});

await step("d2. execute get {key:'sdk'} with the NEW access token returns \"works\"", async () => {
  check(fresh, 'no new access token (d1 failed)');
  const result = await execute('get', { key: 'sdk' }, fresh.access_token);
  check(result?.output === 'works', `output ${show(result?.output)}, want "works"`);
  return `output=${show(result.output)}`;
});

await step('d3. refreshToken with the OLD refresh token returns an error object (code 403)', async () => {
  let response;
  try {
    response = await nodeApi.refreshToken(REFRESH_TOKEN, NODE_URL);
  } catch (error) {
    throw new Error(`threw instead of returning an error: ${error?.message ?? error}`);
  }
  check(response?.error && !response?.data, `not refused: ${show(response)}`);
  // 403 is the node's refusal; the SDK's generic {code:500} would mean no answer.
  check(response.error.code === 403, `refused with ${show(response.error)}, want code 403`);
  return `error=${show(response.error)}`;
});

console.log(`sdk: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
