// The node's admin dashboard: one module, no build step, no dependencies.
//
// It logs in like any client of the node: a fresh ed25519 client key
// (WebCrypto), registered by a wallet signature over the node's challenge
// (MetaMask `personal_sign`, or an injected NEAR wallet's NEP-413
// `signMessage`), then signs every request with the five auth headers over a
// request stamp (docs/protocol.md, "Signed headers expire, and are used
// once"). Text from the node is only ever inserted as text, never as markup.

const DATABASE = 'calimero-dashboard';
const SESSION = 'current';
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const PROTOBUF_ED25519 = [0x08, 0x01, 0x12, 0x20];
const NEAR_RECIPIENT = 'calimero-node';
const MAX_EVENTS_SHOWN = 200;

// ---- Encodings -------------------------------------------------------------

function base58(bytes) {
  const digits = []; // base 58, least significant first
  for (const byte of bytes) {
    let carry = byte;
    for (let i = 0; i < digits.length; i += 1) {
      carry += digits[i] * 256;
      digits[i] = carry % 58;
      carry = Math.floor(carry / 58);
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = Math.floor(carry / 58);
    }
  }
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros += 1;
  return '1'.repeat(zeros) + digits.reverse().map((digit) => ALPHABET[digit]).join('');
}

const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const utf8 = (text) => new TextEncoder().encode(text);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// ---- The client key and the session ----------------------------------------

/**
 * The logged-in session: the client key (a non-extractable CryptoKey, kept
 * in IndexedDB) and how it was registered.
 */
let session = null;
/** Access tokens for `/ws`, by context: reused until shortly before they expire. */
const tokens = new Map();
/** The node's identity (what request stamps name) and version. */
let node = null;

function needCrypto() {
  if (!globalThis.crypto?.subtle) {
    throw new Error(
      'This page is not a secure context, so the browser offers no WebCrypto: open the dashboard over https, or at http://localhost / http://127.0.0.1 (for example through an SSH tunnel).',
    );
  }
}

async function newClientKey() {
  needCrypto();
  // Not extractable: script can use the key while the page is open, but no
  // script can read it out to use elsewhere.
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return {
    privateKey: pair.privateKey,
    publicKey: base58(Uint8Array.from([...PROTOBUF_ED25519, ...raw])),
  };
}

/** Runs `work` on the dashboard's IndexedDB store; resolves to its request's result. */
function stored(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DATABASE, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('session');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const transaction = db.transaction('session', mode);
      const request = work(transaction.objectStore('session'));
      transaction.oncomplete = () => {
        db.close();
        resolve(request.result);
      };
      transaction.onerror = () => {
        db.close();
        reject(transaction.error);
      };
    };
  });
}

async function loadSession() {
  try {
    return (await stored('readonly', (store) => store.get(SESSION))) ?? null;
  } catch {
    return null;
  }
}

async function saveSession(key, wallet, walletKey, contextId) {
  const saved = { ...key, wallet, walletKey, contextId, since: Date.now() };
  await stored('readwrite', (store) => store.put(saved, SESSION));
  session = saved;
}

async function forgetSession() {
  session = null;
  tokens.clear();
  await stored('readwrite', (store) => store.delete(SESSION));
}

/** The five auth headers for `method path`, over a fresh request stamp. */
async function authHeaders(method, path) {
  if (!session) return {};
  const nonce = new Uint8Array(16);
  crypto.getRandomValues(nonce);
  const stamp = utf8(JSON.stringify({
    node: node.nodeId, method, path, timestamp: Math.floor(Date.now() / 1000), nonce: hex(nonce),
  }));
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, session.privateKey, stamp));
  return {
    wallet_type: JSON.stringify({ type: 'NEAR' }),
    signing_key: session.publicKey,
    signature: base58(signature),
    challenge: base58(stamp),
  };
}

// ---- Talking to the node ---------------------------------------------------

/** An error the node stated (HTTP status and its message), or a local one. */
class NodeError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, { json, bytes, signed = true } = {}) {
  const headers = signed ? await authHeaders(method, path) : {};
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (bytes !== undefined) {
    headers['content-type'] = 'application/wasm';
    body = bytes;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new NodeError(0, `The node did not answer: ${err.message}`);
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON: shown as text below */ }
  if (!response.ok) {
    const message = parsed?.error?.message ?? (text || response.statusText);
    throw new NodeError(response.status, `${response.status}: ${message}`);
  }
  return parsed;
}

const api = async (method, path, options) => (await request(method, `/admin-api${path}`, options))?.data;

/** A JSON-RPC call; resolves to its result, throws with the typed error. */
async function rpc(kind, params) {
  const answer = await request('POST', '/jsonrpc', { json: { jsonrpc: '2.0', id: 1, method: kind, params } });
  if (answer.error) {
    const error = new NodeError(200, `${answer.error.type}: ${JSON.stringify(answer.error.data)}`);
    error.rpc = answer.error;
    throw error;
  }
  return answer.result;
}

// ---- DOM helpers (text only, never markup from the node) --------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const errorBox = (err) => h('div', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err));
const when = (ms) => (ms ? new Date(Number(ms)).toLocaleString() : '–');

function table(headings, rows) {
  if (rows.length === 0) return h('p', { class: 'muted' }, 'None yet.');
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, headings.map((text) => h('th', {}, text)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => (cell instanceof Node && cell.tagName === 'TD' ? cell : h('td', {}, cell))))))));
}

const mono = (text) => h('td', { class: 'mono' }, text);

/** A form whose submit runs `action`, shows what it throws, and re-renders. */
function form(attributes, fields, label, action) {
  const status = h('div');
  const button = h('button', { type: 'submit' }, label);
  const element = h('form', {
    ...attributes,
    onsubmit: async (event) => {
      event.preventDefault();
      status.replaceChildren();
      button.disabled = true;
      try {
        const shown = await action(new FormData(element), status);
        if (shown !== false) await render();
      } catch (err) {
        status.replaceChildren(errorBox(err));
      } finally {
        button.disabled = false;
      }
    },
  }, fields, button, status);
  return element;
}

/** A button that runs `action` after `question` is confirmed. */
function actionButton(label, question, action, where, className = 'danger') {
  return h('button', {
    type: 'button',
    class: className,
    onclick: async (event) => {
      if (question && !window.confirm(question)) return;
      event.target.disabled = true;
      try {
        await action();
        await render();
      } catch (err) {
        where.replaceChildren(errorBox(err));
        event.target.disabled = false;
      }
    },
  }, label);
}

// ---- Pages -----------------------------------------------------------------

const main = () => document.getElementById('main');
let leavePage = () => {};

async function loginPage() {
  const status = h('div');
  const context = h('input', { name: 'context', placeholder: 'optional: a context id, to log in for that context only', autocomplete: 'off' });
  const run = (how) => async (event) => {
    event.target.disabled = true;
    status.replaceChildren(h('p', { class: 'muted' }, 'Waiting for the wallet…'));
    try {
      await how(context.value.trim() || null);
      await go('#/contexts');
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      event.target.disabled = false;
    }
  };
  return [
    h('h1', {}, 'Log in'),
    h('section', {},
      h('p', {}, 'Sign in with a wallet. The first wallet that logs in to this node becomes its root key (its administrator); later logins must come from a root wallet.'),
      h('label', {}, 'Context (optional)', context),
      h('div', { class: 'login' },
        h('button', { type: 'button', id: 'login-metamask', onclick: run(loginWithMetaMask) }, 'Log in with MetaMask'),
        h('button', { type: 'button', id: 'login-near', onclick: run(loginWithNear) }, 'Log in with a NEAR wallet')),
      status),
  ];
}

/** The challenge, the signed text and the login body's message part. */
async function challengeFor(key, contextId) {
  const challenge = await api('POST', '/request-challenge', { json: contextId ? { contextId } : {}, signed: false });
  const text = JSON.stringify({ nodeSignature: challenge.nodeSignature, publicKey: key.publicKey });
  const message = {
    nonce: challenge.nonce, contextId: challenge.contextId, timestamp: challenge.timestamp,
    nodeSignature: challenge.nodeSignature, message: text, publicKey: key.publicKey,
  };
  return { challenge, text, message };
}

async function loginWithMetaMask(contextId) {
  const wallet = window.ethereum;
  if (!wallet?.request) throw new Error('No MetaMask (EIP-1193 provider) in this browser.');
  const key = await newClientKey();
  const [address] = await wallet.request({ method: 'eth_requestAccounts' });
  const chainId = Number.parseInt(await wallet.request({ method: 'eth_chainId' }), 16);
  const { challenge, text, message } = await challengeFor(key, contextId);
  const signature = await wallet.request({ method: 'personal_sign', params: [`0x${hex(utf8(text))}`, address] });
  await api('POST', '/add-client-key', {
    signed: false,
    json: {
      walletSignature: signature,
      payload: { message, metadata: {} },
      walletMetadata: { wallet: { type: 'ETH', chainId }, signingKey: address },
      contextId: challenge.contextId,
    },
  });
  await saveSession(key, 'MetaMask', address, challenge.contextId);
}

async function loginWithNear(contextId) {
  const wallet = window.near;
  if (!wallet?.signMessage) throw new Error('No NEAR wallet with NEP-413 signMessage in this browser.');
  const key = await newClientKey();
  const { challenge, text, message } = await challengeFor(key, contextId);
  const callbackUrl = `${location.origin}${location.pathname}`;
  const signed = await wallet.signMessage({
    message: text, recipient: NEAR_RECIPIENT, nonce: fromBase64(challenge.nonce), callbackUrl,
  });
  await api('POST', '/add-client-key', {
    signed: false,
    json: {
      walletSignature: signed.signature,
      payload: { message, metadata: { recipient: NEAR_RECIPIENT, callbackUrl, nonce: challenge.nonce } },
      walletMetadata: { wallet: { type: 'NEAR' }, signingKey: signed.publicKey },
      contextId: challenge.contextId,
    },
  });
  await saveSession(key, `NEAR ${signed.accountId ?? ''}`.trim(), signed.publicKey, challenge.contextId);
}

async function identityPage() {
  const { did } = await api('GET', '/did');
  const status = h('div');
  return [
    h('h1', {}, 'Identity'),
    h('section', {},
      h('h2', {}, 'This browser'),
      h('dl', {},
        h('dt', {}, 'Client key'), h('dd', { class: 'mono', id: 'own-key' }, session.publicKey),
        h('dt', {}, 'Registered by'), h('dd', {}, `${session.wallet} ${session.walletKey}`),
        h('dt', {}, 'Scope'), h('dd', {}, session.contextId ? `context ${session.contextId}` : 'the node (administrator)'))),
    h('section', {},
      h('h2', {}, 'Root keys'),
      table(['Wallet', 'Key', 'Added'], did.root_keys.map((key) => [key.wallet.type, mono(key.signing_key), when(key.created_at)]))),
    h('section', {},
      h('h2', {}, 'Client keys'),
      status,
      table(['Key', 'For', 'Added', ''], did.client_keys.map((key) => [
        mono(key.signing_key),
        key.contextId ? h('a', { href: `#/contexts/${key.contextId}` }, key.contextId) : 'the node (administrator)',
        when(key.createdAt),
        key.signingKey === session.publicKey
          ? h('span', { class: 'muted' }, 'this browser (log out to delete)')
          : actionButton('Delete', `Delete client key ${key.signingKey}? Its tokens stop working.`,
            () => api('DELETE', `/identity/keys/${encodeURIComponent(key.signingKey)}`), status),
      ]))),
  ];
}

async function applicationsPage() {
  const apps = (await api('GET', '/applications')).apps;
  const status = h('div');
  return [
    h('h1', {}, 'Applications'),
    h('section', {},
      h('h2', {}, 'Installed'),
      status,
      table(['Id', 'Size', 'Source', ''], apps.map((app) => [
        mono(app.id), `${app.size.toLocaleString()} bytes`, mono(app.source),
        actionButton('Uninstall', `Uninstall ${app.id}?`, () => api('DELETE', `/applications/${app.id}`), status),
      ]))),
    h('section', {},
      h('h2', {}, 'Install from a URL'),
      form({ id: 'install-url' }, [
        h('div', { class: 'row' },
          h('label', {}, 'URL of the .wasm file', h('input', { name: 'url', required: true, placeholder: 'https://…/app.wasm' })),
          h('label', {}, 'SHA-256 (base58, checked before installing)', h('input', { name: 'hash', placeholder: 'required for http://' }))),
      ], 'Install', (data) => api('POST', '/install-application', {
        json: { url: data.get('url').trim(), hash: data.get('hash').trim() || null, metadata: [] },
      }))),
    h('section', {},
      h('h2', {}, 'Install a file'),
      form({ id: 'install-file' }, [
        h('label', {}, 'A .wasm file from this computer', h('input', { name: 'file', type: 'file', accept: '.wasm,application/wasm', required: true })),
      ], 'Upload', async (data) => {
        const file = data.get('file');
        await api('POST', '/applications', { bytes: new Uint8Array(await file.arrayBuffer()) });
      })),
  ];
}

async function contextsPage() {
  const [contexts, apps] = await Promise.all([
    api('GET', '/contexts').then((data) => data.contexts),
    api('GET', '/applications').then((data) => data.apps),
  ]);
  const status = h('div');
  return [
    h('h1', {}, 'Contexts'),
    h('section', {},
      status,
      table(['Id', 'Application', 'Root hash', ''], contexts.map((context) => [
        h('td', { class: 'mono' }, h('a', { href: `#/contexts/${context.id}` }, context.id)),
        mono(context.applicationId),
        mono(context.rootHash),
        actionButton('Delete', `Delete context ${context.id} and its state?`, () => api('DELETE', `/contexts/${context.id}`), status),
      ]))),
    h('section', {},
      h('h2', {}, 'Create a context'),
      apps.length === 0
        ? h('p', { class: 'muted' }, 'Install an application first.')
        : form({ id: 'create-context' }, [
          h('div', { class: 'row' },
            h('label', {}, 'Application', h('select', { name: 'application' }, apps.map((app) => h('option', { value: app.id }, `${app.id} (${app.source})`)))),
            h('label', {}, 'Init arguments (JSON)', h('input', { name: 'params', value: '{}' }))),
        ], 'Create', async (data) => {
          const params = data.get('params').trim() || '{}';
          JSON.parse(params);
          const created = await api('POST', '/contexts', {
            json: { applicationId: data.get('application'), initializationParams: Array.from(utf8(params)) },
          });
          await go(`#/contexts/${created.context.id}`);
          return false;
        })),
  ];
}

async function contextPage(id) {
  const context = (await api('GET', `/contexts/${id}`)).context;
  const admin = !session.contextId;
  const [users, keys, storage] = admin
    ? await Promise.all([
      api('GET', `/contexts/${id}/users`).then((data) => data.contextUsers),
      api('GET', `/contexts/${id}/client-keys`).then((data) => data.clientKeys),
      api('GET', `/contexts/${id}/storage`).then((data) => data.sizeInBytes),
    ])
    : [null, null, null];
  const events = eventView(id, users);
  leavePage = events.close;
  return [
    h('h1', {}, 'Context'),
    h('section', {},
      h('dl', {},
        h('dt', {}, 'Id'), h('dd', { class: 'mono', id: 'context-id' }, context.id),
        h('dt', {}, 'Application'), h('dd', { class: 'mono' }, context.applicationId),
        h('dt', {}, 'Root hash'), h('dd', { class: 'mono', id: 'root-hash' }, context.rootHash),
        h('dt', {}, 'Last transaction'), h('dd', { class: 'mono' }, context.lastTransactionHash),
        h('dt', {}, 'Storage'), h('dd', { id: 'storage' }, storage === null ? '–' : `${storage.toLocaleString()} bytes`)),
      h('p', {}, h('a', { href: `#/console/${id}` }, 'Call a method of this context →'))),
    admin && h('section', {},
      h('h2', {}, 'Members'),
      table(['Public key', 'Joined'], users.map((user) => [mono(user.userId), when(user.joinedAt)]))),
    admin && h('section', {},
      h('h2', {}, 'Client keys'),
      table(['Key', 'Wallet', 'Added'], keys.map((key) => [mono(key.signingKey), key.wallet.type, when(key.createdAt)]))),
    h('section', {}, h('h2', {}, 'Live events ', events.status), events.list),
  ];
}

/**
 * The context's events over `/ws`: live, resumed after a reconnect from the
 * last `seq` seen, and any loss the node reports shown as a gap.
 */
function eventView(contextId, users) {
  const list = h('ol', { class: 'events', id: 'events' });
  const status = h('span', { class: 'status', id: 'events-status' }, 'connecting…');
  let socket = null;
  let closed = false;
  let lastSeq = null;
  let attempts = 0;
  let timer = null;

  const show = (className, text) => {
    list.prepend(h('li', { class: className }, text));
    while (list.children.length > MAX_EVENTS_SHOWN) list.lastChild.remove();
  };
  const setStatus = (text, className) => {
    status.textContent = text;
    status.className = `status ${className}`;
  };

  async function token() {
    // Browsers cannot put headers on a WebSocket: a token goes in the URL.
    // A node listening on loopback needs none; elsewhere the administrator
    // mints one for the context's first member.
    const cached = tokens.get(contextId);
    if (cached && cached.until > Date.now()) return cached.token;
    const executor = users?.[0]?.userId;
    if (!executor) return null;
    try {
      const pair = await api('POST', '/generate-jwt-token', { json: { contextId, executorPublicKey: executor } });
      // Access tokens live an hour; use one for 50 minutes.
      tokens.set(contextId, { token: pair.access_token, until: Date.now() + 50 * 60 * 1000 });
      return pair.access_token;
    } catch {
      return null;
    }
  }

  async function connect() {
    const access = await token();
    if (closed) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = access ? `&token=${encodeURIComponent(access)}` : '';
    socket = new WebSocket(`${scheme}//${location.host}/ws?events=current${query}`);
    socket.onopen = () => {
      const params = { contextIds: [contextId] };
      if (lastSeq !== null) params.since = { [contextId]: lastSeq };
      socket.send(JSON.stringify({ id: 1, method: 'subscribe', params }));
    };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.error) {
        setStatus('refused', 'down');
        show('gap', `The node refused the subscription: ${frame.error.type}: ${frame.error.data}`);
        closed = true;
        socket.close();
        return;
      }
      const result = frame.result;
      if (result?.contextIds) {
        setStatus('live', 'live');
        if (attempts > 0) show('note', `Reconnected; resumed after event #${lastSeq ?? 0}.`);
        attempts = 0;
        return;
      }
      if (!result?.type) return;
      if (result.type === 'Gap') {
        show('gap', `Gap: events #${result.data.fromSeq} to #${result.data.toSeq} could not be delivered.`);
        lastSeq = Math.max(lastSeq ?? 0, result.data.toSeq);
        return;
      }
      if (result.seq !== undefined) lastSeq = Math.max(lastSeq ?? 0, result.seq);
      if (result.type === 'StateMutation') {
        const root = document.getElementById('root-hash');
        if (root) root.textContent = result.data.newRoot;
      }
      show('event', `#${result.seq ?? '–'} ${result.type} ${describe(result)}`);
    };
    socket.onclose = () => {
      if (closed) return;
      attempts += 1;
      setStatus(`reconnecting (attempt ${attempts})…`, 'down');
      timer = setTimeout(connect, Math.min(250 * 2 ** attempts, 5000));
    };
  }

  connect();
  return {
    list,
    status,
    close() {
      closed = true;
      clearTimeout(timer);
      socket?.close();
    },
  };
}

/** An event's data for people: app events decoded as UTF-8 text. */
function describe(event) {
  if (event.type === 'StateMutation') return `new root ${event.data.newRoot}`;
  if (event.type === 'ExecutionEvent' || event.type === 'OutcomeEvent') {
    return event.data.events.map((item) => `${item.kind} ${new TextDecoder().decode(Uint8Array.from(item.data))}`).join('; ');
  }
  return JSON.stringify(event.data);
}

async function consolePage(preset) {
  const contexts = session.contextId
    ? [{ id: session.contextId }]
    : (await api('GET', '/contexts')).contexts;
  const output = h('div', { id: 'call-output' });
  return [
    h('h1', {}, 'Call console'),
    h('section', {},
      contexts.length === 0
        ? h('p', { class: 'muted' }, 'Create a context first.')
        : form({ id: 'call' }, [
          h('div', { class: 'row' },
            h('label', {}, 'Context', h('select', { name: 'context' }, contexts.map((context) => h('option', { value: context.id, selected: context.id === preset }, context.id)))),
            h('label', {}, 'Method', h('input', { name: 'method', required: true, placeholder: 'e.g. get' })),
            h('label', {}, 'Kind', h('select', { name: 'kind' },
              h('option', { value: 'query' }, 'query (read only)'),
              h('option', { value: 'mutate' }, 'mutate (commits its writes)')))),
          h('label', {}, 'Arguments (JSON)', h('textarea', { name: 'args' }, '{}')),
          h('label', {}, 'Call as member (optional, base58 public key)', h('input', { name: 'executor', autocomplete: 'off' })),
        ], 'Run', async (data) => {
          output.replaceChildren();
          let args;
          try {
            args = JSON.parse(data.get('args') || '{}');
          } catch (err) {
            throw new Error(`The arguments are not JSON: ${err.message}`);
          }
          const params = { contextId: data.get('context'), method: data.get('method').trim(), argsJson: args };
          const executor = data.get('executor').trim();
          if (executor) params.executorPublicKey = executor;
          try {
            const result = await rpc(data.get('kind'), params);
            output.append(h('h2', {}, 'Output'), h('pre', { id: 'call-result' }, JSON.stringify(result.output, null, 2)));
            if (result.rootHash) output.append(h('p', { class: 'ok' }, `Committed: root ${result.rootHash}, event #${result.eventSeq}`));
          } catch (err) {
            output.append(errorBox(err));
            if (err.rpc?.payload !== undefined) output.append(h('pre', {}, JSON.stringify(err.rpc.payload, null, 2)));
          }
          return false;
        }),
      output),
  ];
}

/** Sums the samples of metric `name` (whose line passes `keep`). */
function metric(lines, name, keep = () => true) {
  let total = 0;
  for (const line of lines) {
    if (line.split(/[{ ]/, 1)[0] !== name || !keep(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

function metricsSummary(lines) {
  const commits = metric(lines, 'calimero_store_commit_duration_seconds_count');
  const commitSeconds = metric(lines, 'calimero_store_commit_duration_seconds_sum');
  return [
    ['HTTP requests', metric(lines, 'calimero_http_requests_total')],
    ['… answered with a 5xx status', metric(lines, 'calimero_http_requests_total', (line) => line.includes('status="5'))],
    ['HTTP connections open', metric(lines, 'calimero_http_connections_open')],
    ['JSON-RPC calls', metric(lines, 'calimero_jsonrpc_calls_total')],
    ['… that failed', metric(lines, 'calimero_jsonrpc_calls_total', (line) => !line.includes('outcome="ok"'))],
    ['WebSocket connections open', metric(lines, 'calimero_ws_connections_open')],
    ['WebSocket events sent', metric(lines, 'calimero_ws_events_sent_total')],
    ['Durable group commits', commits],
    ['Mean group-commit time', commits ? `${((commitSeconds / commits) * 1000).toFixed(2)} ms` : '–'],
  ];
}

async function nodePage() {
  const health = await api('GET', '/health', { signed: false });
  let lines = null;
  try {
    const response = await fetch('/metrics');
    if (response.ok) lines = (await response.text()).split('\n').filter((line) => line.startsWith('calimero_'));
  } catch {
    lines = null;
  }
  return [
    h('h1', {}, 'Node'),
    h('section', {},
      h('dl', {},
        h('dt', {}, 'Status'), h('dd', { id: 'health' }, health.status),
        h('dt', {}, 'Node id'), h('dd', { class: 'mono' }, health.nodeId),
        h('dt', {}, 'Version'), h('dd', { id: 'version' }, health.version ?? 'unknown'),
        h('dt', {}, 'Address'), h('dd', { class: 'mono' }, location.host))),
    h('section', {},
      h('h2', {}, 'Key metrics'),
      lines === null
        ? h('p', { class: 'muted' }, 'This node does not serve /metrics (metrics = false in its config).')
        : [
          table(['Metric', 'Value'], metricsSummary(lines)),
          h('details', {}, h('summary', {}, 'Every sample'), h('pre', { id: 'metrics' }, lines.filter((line) => !line.includes('_bucket')).join('\n'))),
        ],
      h('p', {}, h('a', { href: '/metrics' }, 'All metrics (OpenMetrics text)'))),
  ];
}

// ---- Routing ---------------------------------------------------------------

async function logOut() {
  if (session) {
    try {
      await api('DELETE', `/identity/keys/${encodeURIComponent(session.publicKey)}`);
    } catch {
      // A context-bound key may not delete itself; forgetting it is enough here.
    }
  }
  await forgetSession();
  await go('#/login');
}

/** Shows the page of `hash` (once, whether or not the hash changes). */
async function go(hash) {
  if (location.hash === hash) await render();
  else location.hash = hash; // the `hashchange` listener renders it
}

/** Bumped by each render: a slower, older render does not overwrite a newer one. */
let renders = 0;

async function render() {
  renders += 1;
  const mine = renders;
  leavePage();
  leavePage = () => {};
  const target = main();
  const nav = document.getElementById('nav');
  const [, page = 'contexts', argument] = location.hash.replace(/^#/, '').split('/');
  nav.hidden = !session;
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('current', link.dataset.page === page);
  if (!session && page !== 'login') {
    location.hash = '#/login';
    return;
  }
  if (session && page === 'login') {
    location.hash = '#/contexts';
    return;
  }
  target.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const pages = {
      login: loginPage,
      identity: identityPage,
      applications: applicationsPage,
      contexts: () => (argument ? contextPage(argument) : contextsPage()),
      console: () => consolePage(argument),
      node: nodePage,
    };
    const content = await (pages[page] ?? contextsPage)();
    if (mine !== renders) {
      leavePage();
      return;
    }
    target.replaceChildren(...[content].flat().filter(Boolean));
  } catch (err) {
    if (mine !== renders) return;
    target.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(err));
    if (err.status === 401) {
      target.append(h('p', {}, 'This browser\'s key is no longer accepted. ', h('button', { type: 'button', onclick: logOut }, 'Log in again')));
    }
  }
}

async function start() {
  try {
    node = await api('GET', '/health', { signed: false });
    session = await loadSession();
  } catch (err) {
    main().replaceChildren(errorBox(err));
    return;
  }
  document.getElementById('logout').addEventListener('click', logOut);
  window.addEventListener('hashchange', render);
  await render();
}

start();
