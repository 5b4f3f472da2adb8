// Drives the node's admin dashboard in a real headless Chromium (Debian's
// `chromium`, through playwright-core) with injected wallets that sign with
// real keys: an EIP-1193 provider over an ethers wallet (MetaMask's
// `personal_sign`) and a NEP-413 signer over an ed25519 key (a NEAR
// wallet's `signMessage`), so the node verifies real signatures.
//
// Midway it prints `dashboard: restart the node <context id>` and waits for
// `restarted` on stdin (see crates/calimero-node/tests/it/dashboard.rs).
//
// Env: NODE_URL (a fresh node: its first login is MetaMask's), NEAR_NODE_URL
//      (another fresh node: its first login is NEAR's), APP_PATH (kv-store
//      .wasm), CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a directory
//      for one screenshot per page; none when unset).
// Run:  node dashboard.mjs
// Ends with `dashboard: N passed, M failed`; exit 0 only when M is 0.
import { createHash, createPrivateKey, sign as edSign, createPublicKey } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Wallet, encodeBase58, getBytes } from 'ethers';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (!value) {
    console.error(`dashboard: missing env ${name}`);
    console.log('dashboard: 0 passed, 1 failed');
    process.exit(1);
  }
  return value;
};
const NODE_URL = env('NODE_URL').replace(/\/+$/, '');
const NEAR_NODE_URL = env('NEAR_NODE_URL').replace(/\/+$/, '');
const APP_PATH = env('APP_PATH');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const SCREENSHOTS = process.env.SCREENSHOTS;
const TIMEOUT = 10_000;

// The wallets: fixed keys, so runs are reproducible.
const eth = new Wallet(`0x${'44'.repeat(32)}`);
const nearSeed = Buffer.alloc(32, 0x22);
const nearKey = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), nearSeed]),
  format: 'der',
  type: 'pkcs8',
});
const nearPublic = createPublicKey(nearKey).export({ format: 'der', type: 'spki' }).subarray(-32);

/** NEP-413: sha256 of the borsh payload with the 2^31 + 413 tag, signed. */
function nep413({ message, recipient, nonce, callbackUrl }) {
  const string = (text) => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const tag = Buffer.alloc(4);
  tag.writeUInt32LE(2 ** 31 + 413);
  const nonceBytes = Buffer.from(nonce, 'base64');
  const callback = callbackUrl ? Buffer.concat([Buffer.from([1]), string(callbackUrl)]) : Buffer.from([0]);
  const payload = Buffer.concat([tag, string(message), nonceBytes, string(recipient), callback]);
  const digest = createHash('sha256').update(payload).digest();
  return {
    accountId: 'dashboard-test.near',
    publicKey: `ed25519:${encodeBase58(nearPublic)}`,
    signature: edSign(null, digest, nearKey).toString('base64'),
  };
}

let passed = 0;
let failed = 0;
/** Pages whose text a failed step prints. */
const watched = new Set();
async function step(name, run) {
  try {
    await run();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err.stack ?? err}`);
    for (const page of watched) {
      const text = await page.textContent('main', { timeout: 1000 }).catch(() => '(closed)');
      console.log(`     ${page.url()}: ${text}`);
    }
  }
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A browser profile of its own with both wallets injected. */
async function profile(browser, { viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 900 } });
  await context.exposeFunction('__ethSign', (hexMessage) => eth.signMessage(getBytes(hexMessage)));
  await context.exposeFunction('__nearSign', (request) => nep413(request));
  await context.addInitScript((address) => {
    window.ethereum = {
      isMetaMask: true,
      async request({ method, params }) {
        if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [address];
        if (method === 'eth_chainId') return '0x1';
        if (method === 'personal_sign') return window.__ethSign(params[0]);
        throw new Error(`unsupported ${method}`);
      },
    };
    window.near = {
      async signMessage({ message, recipient, nonce, callbackUrl }) {
        return window.__nearSign({ message, recipient, nonce: btoa(String.fromCharCode(...nonce)), callbackUrl });
      },
    };
  }, eth.address);
  const page = await context.newPage();
  watched.add(page);
  page.on('close', () => watched.delete(page));
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', (dialog) => dialog.accept());
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (message) => {
    // The browser logs refusals the page shows on purpose, and the
    // connections the live view retries while the node restarts: neither is
    // a script error.
    const text = message.text();
    const expected = text.startsWith('Failed to load resource')
      || /^WebSocket connection to .* failed/.test(text);
    if (message.type() === 'error' && !expected) problems.push(text);
  });
  return { context, page, problems };
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const admin = await profile(browser);
const { page } = admin;
let contextId = null;

await step('the dashboard is served and asks for a login', async () => {
  const response = await page.goto(`${NODE_URL}/admin-dashboard`);
  check(response.ok(), `status ${response.status()}`);
  const policy = response.headers()['content-security-policy'] ?? '';
  check(policy.includes("script-src 'self'"), `CSP: ${policy}`);
  await page.waitForSelector('#login-metamask');
  check(page.url().endsWith('/admin-dashboard/#/login'), page.url());
  await screenshot(page, 'login');
});

await step('the first login (MetaMask) becomes the root key', async () => {
  await page.click('#login-metamask');
  await page.waitForSelector('#nav:not([hidden])');
  await page.goto(`${NODE_URL}/admin-dashboard/#/identity`);
  await page.waitForSelector('#own-key');
  const text = await page.textContent('main');
  check(text.toLowerCase().includes(eth.address.toLowerCase()), 'the wallet is not listed as a root key');
  check(text.includes('ETH'), 'no ETH root key');
  await screenshot(page, 'identity');
});

await step('install an application by upload', async () => {
  await page.goto(`${NODE_URL}/admin-dashboard/#/applications`);
  await page.setInputFiles('#install-file input[name=file]', APP_PATH);
  await page.click('#install-file button[type=submit]');
  await page.waitForSelector('main td:text-is("upload")');
  await screenshot(page, 'applications');
});

await step('a bad install URL shows the node\'s reason', async () => {
  await page.fill('#install-url input[name=url]', 'http://127.0.0.1:9/app.wasm');
  await page.click('#install-url button[type=submit]');
  const error = await page.waitForSelector('#install-url .error');
  const text = await error.textContent();
  check(text.startsWith('400'), `shown: ${text}`);
});

await step('create a context, and see it live', async () => {
  await page.goto(`${NODE_URL}/admin-dashboard/#/contexts`);
  await page.click('#create-context button[type=submit]');
  await page.waitForSelector('#context-id');
  contextId = (await page.textContent('#context-id')).trim();
  check(contextId.length > 30, `context id ${contextId}`);
  await page.waitForSelector('#events-status:text-is("live")');
});

await step('an event of a call arrives live', async () => {
  const answer = await fetch(`${NODE_URL}/jsonrpc/dev`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'mutate',
      params: { contextId, method: 'set', argsJson: { key: 'greeting', value: 'hello from elsewhere' } },
    }),
  }).then((response) => response.json());
  check(answer.result, JSON.stringify(answer));
  await page.waitForSelector('#events li:has-text("hello from elsewhere")');
  const root = (await page.textContent('#root-hash')).trim();
  check(root === answer.result.rootHash, `root shown ${root}, committed ${answer.result.rootHash}`);
  await screenshot(page, 'context');
});

/** The next line the test harness writes to this script's stdin. */
const harness = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

await step('the live view resumes after the node restarts, and shows what it lost', async () => {
  await page.waitForSelector('#events-status:text-is("live")');
  // The harness stops the node, commits four changes elsewhere, and brings
  // it back on this port with an event log of two records.
  console.log(`dashboard: restart the node ${contextId}`);
  const answer = await harness.next();
  check(answer.value === 'restarted', `the harness said ${JSON.stringify(answer)}`);
  await page.waitForSelector('#events li.note:has-text("Reconnected")', { timeout: 30_000 });
  const gap = await page.waitForSelector('#events li.gap');
  check(/Gap: events #\d+ to #\d+/.test(await gap.textContent()), await gap.textContent());
  await page.waitForSelector('#events li:has-text("change 4")');
  check(!(await page.textContent('#events')).includes('change 1'), 'a record the log no longer held was shown');
  await page.waitForSelector('#events-status:text-is("live")');
  await screenshot(page, 'context-resumed');
});

await step('the call console mutates and queries', async () => {
  await page.goto(`${NODE_URL}/admin-dashboard/#/console/${contextId}`);
  await page.fill('#call input[name=method]', 'set');
  await page.selectOption('#call select[name=kind]', 'mutate');
  await page.fill('#call textarea[name=args]', '{"key": "a", "value": "from the console"}');
  await page.click('#call button[type=submit]');
  await page.waitForSelector('#call-output .ok');
  await page.fill('#call input[name=method]', 'get');
  await page.selectOption('#call select[name=kind]', 'query');
  await page.fill('#call textarea[name=args]', '{"key": "a"}');
  await page.click('#call button[type=submit]');
  await page.waitForSelector('#call-result:has-text("from the console")');
  await screenshot(page, 'console');
  await page.fill('#call input[name=method]', 'no_such_method');
  await page.click('#call button[type=submit]');
  const error = await page.waitForSelector('#call-output .error');
  check((await error.textContent()).includes('FunctionCallError'), await error.textContent());
});

await step('the node page shows health, version and metrics', async () => {
  await page.goto(`${NODE_URL}/admin-dashboard/#/node`);
  await page.waitForSelector('#health:text-is("alive")');
  check(/\d+\.\d+\.\d+/.test(await page.textContent('#version')), 'no version');
  check((await page.textContent('#metrics')).includes('calimero_'), 'no metrics');
  await screenshot(page, 'node');
});

await step('the pages fit a phone-sized screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${NODE_URL}/admin-dashboard/#/contexts/${contextId}`);
  await page.waitForSelector('#events-status:text-is("live")');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await screenshot(page, 'phone-context');
  await page.setViewportSize({ width: 1280, height: 900 });
});

await step('a wallet that is not root is refused, as the API says', async () => {
  const other = await profile(browser);
  await other.page.goto(`${NODE_URL}/admin-dashboard/`);
  await other.page.click('#login-near');
  const error = await other.page.waitForSelector('main .error');
  const text = await error.textContent();
  check(text.startsWith('403'), `shown: ${text}`);
  await other.context.close();
});

await step('a context principal may use its context and nothing else', async () => {
  const member = await profile(browser);
  await member.page.goto(`${NODE_URL}/admin-dashboard/`);
  await member.page.fill('input[name=context]', contextId);
  await member.page.click('#login-metamask');
  await member.page.waitForSelector('#nav:not([hidden])');
  await member.page.goto(`${NODE_URL}/admin-dashboard/#/applications`);
  const error = await member.page.waitForSelector('main .error');
  const text = await error.textContent();
  check(text.startsWith('403') && text.includes('bound to one context'), `shown: ${text}`);
  await screenshot(member.page, 'context-principal-refused');
  await member.page.goto(`${NODE_URL}/admin-dashboard/#/console/${contextId}`);
  await member.page.fill('#call input[name=method]', 'get');
  await member.page.fill('#call textarea[name=args]', '{"key": "greeting"}');
  await member.page.click('#call button[type=submit]');
  await member.page.waitForSelector('#call-result:has-text("hello from elsewhere")');
  await member.context.close();
});

await step('delete the context, then uninstall its application', async () => {
  await page.goto(`${NODE_URL}/admin-dashboard/#/applications`);
  await page.click('main button:text-is("Uninstall")');
  const refused = await page.waitForSelector('main .error');
  check((await refused.textContent()).startsWith('409'), await refused.textContent());
  await page.goto(`${NODE_URL}/admin-dashboard/#/contexts`);
  await page.click(`main tr:has-text("${contextId}") button:text-is("Delete")`);
  await page.waitForSelector('main p:text-is("None yet.")');
  await page.goto(`${NODE_URL}/admin-dashboard/#/applications`);
  await page.click('main button:text-is("Uninstall")');
  await page.waitForSelector('main section:first-of-type p:text-is("None yet.")');
});

/** What the page keeps of its session: the client key and whether it can be read out. */
const kept = (where) => where.evaluate(() => new Promise((resolve, reject) => {
  const open = indexedDB.open('calimero-dashboard', 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction('session').objectStore('session').get('current');
    get.onsuccess = () => resolve(get.result
      ? { publicKey: get.result.publicKey, extractable: get.result.privateKey.extractable }
      : null);
  };
}));

await step('log out: the key is forgotten and deleted on the node', async () => {
  const session = await kept(page);
  check(session?.publicKey.startsWith('4XTTM'), `kept: ${JSON.stringify(session)}`);
  check(session.extractable === false, 'the private key can be read out of the browser');
  const key = session.publicKey;
  await page.click('#logout');
  await page.waitForSelector('#login-metamask');
  check(await kept(page) === null, 'still stored');
  await page.goto(`${NODE_URL}/admin-dashboard/#/contexts`);
  await page.waitForSelector('#login-metamask');
  // Logging in again (same root wallet) and listing the keys: the old one is gone.
  await page.click('#login-metamask');
  await page.waitForSelector('#nav:not([hidden])');
  await page.goto(`${NODE_URL}/admin-dashboard/#/identity`);
  await page.waitForSelector('#own-key');
  check(!(await page.textContent('main')).includes(key), 'the old client key is still registered');
});

await step('the first login of another node (NEAR) becomes its root key', async () => {
  const near = await profile(browser);
  await near.page.goto(`${NEAR_NODE_URL}/admin-dashboard/`);
  await near.page.click('#login-near');
  await near.page.waitForSelector('#nav:not([hidden])');
  await near.page.goto(`${NEAR_NODE_URL}/admin-dashboard/#/identity`);
  await near.page.waitForSelector('#own-key');
  const text = await near.page.textContent('main');
  check(text.includes(`ed25519:${encodeBase58(nearPublic)}`), 'the NEAR key is not a root key');
  check(near.problems.length === 0, `page errors: ${near.problems.join('; ')}`);
  await near.context.close();
});

await step('no script errors on the way', async () => {
  check(admin.problems.length === 0, admin.problems.join('; '));
});

await browser.close();
harness.return?.();
console.log(`dashboard: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
