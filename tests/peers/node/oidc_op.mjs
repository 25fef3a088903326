// An independent OpenID Connect provider for Gatehouse's integration tests, built on
// panva's `oidc-provider` (the version pinned in package.json beside this file).
//
// Started by tests/it/peers.rs as `node oidc_op.mjs` from a cache folder that holds this
// file next to the node_modules `npm ci` installed there. It listens on 127.0.0.1 port 0,
// prints one JSON line `{"port": PORT, "issuer": "http://127.0.0.1:PORT"}` and exits when
// its standard input closes (the test binary died or finished).
//
// What a test can do with it:
// - register its own client: open dynamic client registration (RFC 7591) at the
//   registration_endpoint of /.well-known/openid-configuration;
// - add an account: POST /test/accounts {"id": "...", "claims": {...}} (204);
// - log in without a browser: the authorization endpoint redirects to /interaction/UID,
//   whose form posts `login=ACCOUNT_ID` (and optionally `amr=a,b` and `acr=…`, which the
//   ID token then carries) to /interaction/UID/login; consent is skipped
//   (every requested scope and claim is granted), so the OP redirects straight back to
//   the client's redirect_uri with code and state. Keep the OP's cookies on the way.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const accounts = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res, status, body = '', type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let provider;
let handle;

// The test-only routes; false when the request is the provider's.
async function testRoute(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  let m;
  if (req.method === 'POST' && url.pathname === '/test/accounts') {
    const { id, claims = {} } = JSON.parse(await readBody(req));
    if (typeof id !== 'string' || !id) return reply(res, 400, 'id required\n');
    accounts.set(id, claims);
    return reply(res, 204);
  }
  if (req.method === 'GET' && (m = url.pathname.match(/^\/interaction\/([^/]+)$/))) {
    const uid = escapeHtml(m[1]);
    const page = `<!DOCTYPE html>
<html><head><title>Sign in</title></head><body>
<form method="post" action="/interaction/${uid}/login">
<input name="login" placeholder="account id" autofocus>
<button type="submit">Sign in</button>
</form>
</body></html>
`;
    return reply(res, 200, page, 'text/html; charset=utf-8');
  }
  if (req.method === 'POST' && (m = url.pathname.match(/^\/interaction\/([^/]+)\/login$/))) {
    const form = new URLSearchParams(await readBody(req));
    const accountId = form.get('login');
    if (!accountId || !accounts.has(accountId)) return reply(res, 400, 'unknown account\n');
    const login = { accountId };
    if (form.get('amr')) login.amr = form.get('amr').split(',');
    if (form.get('acr')) login.acr = form.get('acr');
    await provider.interactionFinished(req, res, { login }, {
      mergeWithLastSubmission: false,
    });
    return undefined;
  }
  return false;
}

const server = createServer((req, res) => {
  testRoute(req, res)
    .then((handled) => {
      if (handled === false) handle(req, res);
    })
    .catch((err) => {
      if (!res.headersSent) reply(res, 400, `${err.name}: ${err.message}\n`);
      else res.destroy();
    });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      registration: { enabled: true },
      devInteractions: { enabled: false },
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      // The login's `acr` and `amr` (from the login form) and an account's `session_expiry`
      // (IPSIE) go into its ID tokens.
      openid: ['sub', 'acr', 'amr', 'session_expiry'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'locale', 'zoneinfo'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      if (!accounts.has(id)) return undefined;
      return { accountId: id, claims: () => ({ ...accounts.get(id), sub: id }) };
    },
    // No consent step: whatever the client asks for is granted.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      const grant = (grantId && (await provider.Grant.find(grantId)))
        || new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      grant.addOIDCClaims([...ctx.oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      ClientCredentials: 600,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 3600,
      Session: 3600,
    },
  });
  handle = provider.callback();
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
