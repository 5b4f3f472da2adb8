// Writes ../tests/vectors/wallets.json: known-answer vectors for wallet login
// and per-request auth, produced by the real client libraries:
//   - NEAR NEP-413 signatures by @near-js/signers (KeyPairSigner.signNep413Message),
//   - MetaMask EIP-191 personal_sign signatures by ethers (Wallet.signMessage),
//   - client keys (libp2p protobuf ed25519) and their signatures by @libp2p/crypto.
// Keys come from fixed seeds so that the Rust tests can sign further messages
// with the same keys. Run: npm ci && node generate.mjs
import { writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { KeyPair } from "@near-js/crypto";
import { KeyPairSigner } from "@near-js/signers";
import { Wallet } from "ethers";
import { generateKeyPairFromSeed, publicKeyToProtobuf } from "@libp2p/crypto/keys";
import bs58 from "bs58";

const seed = (byte) => new Uint8Array(32).fill(byte);
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const sha256 = (bytes) => new Uint8Array(createHash("sha256").update(bytes).digest());

// The node's identity key: signs challenges.
const NODE_SEED = seed(0x01);
const nodeKey = await generateKeyPairFromSeed("Ed25519", NODE_SEED);

async function clientKey(byte) {
  const key = await generateKeyPairFromSeed("Ed25519", seed(byte));
  return { seed: hex(seed(byte)), key, publicKey: bs58.encode(publicKeyToProtobuf(key.publicKey)) };
}

async function challenge(nonceByte, contextId, timestamp) {
  const nonce = b64(seed(nonceByte));
  const content = JSON.stringify({ nonce, contextId, timestamp });
  const nodeSignature = b64(await nodeKey.sign(new TextEncoder().encode(content)));
  return { nonce, contextId, timestamp, nodeSignature };
}

function signedText(challenge, publicKey) {
  return JSON.stringify({ nodeSignature: challenge.nodeSignature, publicKey });
}

const CONTEXT = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";
const TIMESTAMP = 1721300000;

async function nearCase(name, walletByte, clientByte, nonceByte, contextId, recipient, callbackUrl) {
  const walletKeyPair = await generateKeyPairFromSeed("Ed25519", seed(walletByte));
  const secret = new Uint8Array([...seed(walletByte), ...walletKeyPair.publicKey.raw]);
  const signer = new KeyPairSigner(KeyPair.fromString("ed25519:" + bs58.encode(secret)));
  const walletPublicKey = (await signer.getPublicKey()).toString();
  const client = await clientKey(clientByte);
  const ch = await challenge(nonceByte, contextId, TIMESTAMP);
  const message = signedText(ch, client.publicKey);
  const nonce = Buffer.from(ch.nonce, "base64");
  const signed = await signer.signNep413Message(message, "alice.testnet", recipient, nonce, callbackUrl);
  const walletSignature = b64(signed.signature);
  return {
    name,
    walletSeed: hex(seed(walletByte)),
    walletPublicKey,
    clientSeed: client.seed,
    clientKey: client.publicKey,
    challenge: ch,
    message,
    recipient,
    callbackUrl,
    walletSignature,
    body: {
      walletSignature,
      payload: {
        message: { ...ch, message, publicKey: client.publicKey },
        metadata: { recipient, callbackUrl, nonce: ch.nonce },
      },
      walletMetadata: { wallet: { type: "NEAR" }, signingKey: walletPublicKey },
      contextId,
    },
  };
}

async function ethCase(name, walletByte, clientByte, nonceByte, contextId, chainId) {
  const wallet = new Wallet("0x" + hex(seed(walletByte)));
  const client = await clientKey(clientByte);
  const ch = await challenge(nonceByte, contextId, TIMESTAMP);
  const message = signedText(ch, client.publicKey);
  const walletSignature = await wallet.signMessage(message);
  return {
    name,
    privateKey: hex(seed(walletByte)),
    address: wallet.address,
    clientSeed: client.seed,
    clientKey: client.publicKey,
    challenge: ch,
    message,
    walletSignature,
    body: {
      walletSignature,
      payload: { message: { ...ch, message, publicKey: client.publicKey }, metadata: {} },
      walletMetadata: { wallet: { type: "ETH", chainId }, signingKey: wallet.address },
      contextId,
    },
  };
}

async function headerCase(name, clientByte, payload, contextId) {
  const client = await clientKey(clientByte);
  const digest = sha256(new TextEncoder().encode(payload));
  const signature = await client.key.sign(digest);
  const headers = {
    wallet_type: JSON.stringify({ type: "NEAR" }),
    signing_key: client.publicKey,
    signature: bs58.encode(signature),
    challenge: bs58.encode(digest),
  };
  if (contextId) headers.context_id = contextId;
  return { name, clientSeed: client.seed, clientKey: client.publicKey, payload, headers };
}

const vectors = {
  generator: "crates/server-auth/vectors/generate.mjs",
  timestamp: TIMESTAMP,
  node: { seed: hex(NODE_SEED), publicKey: bs58.encode(nodeKey.publicKey.raw) },
  near: [
    await nearCase("near-no-context", 0x02, 0x03, 0x10, null, "my-app", "http://localhost:3000/login"),
    await nearCase("near-with-context", 0x02, 0x05, 0x11, CONTEXT, "calimero-node", "http://127.0.0.1:2528/admin/confirm-wallet"),
  ],
  eth: [
    await ethCase("eth-no-context", 0x04, 0x06, 0x12, null, 1),
    await ethCase("eth-with-context", 0x04, 0x07, 0x13, CONTEXT, 56),
  ],
  headers: [
    await headerCase("headers-request-body", 0x03, '{"jsonrpc":"2.0","id":1,"method":"query"}', null),
    await headerCase("headers-with-context", 0x05, CONTEXT, CONTEXT),
  ],
};

writeFileSync(new URL("../tests/vectors/wallets.json", import.meta.url), JSON.stringify(vectors, null, 2) + "\n");
console.log("wrote tests/vectors/wallets.json");
