// A real OpenID Connect provider for ioc's tests: node-oidc-provider (npm oidc-provider, OpenID
// Certified), on a free loopback port. It is started by oidctest.Start with its clients and accounts
// in OIDCTEST_CONFIG and prints its issuer URL on the first line of stdout.
//
// Only the sign-in screen is the harness's own: instead of a login form, /interaction/{uid} signs
// in the account set by POST /test/next (or refuses with the OAuth error given there) and grants the
// requested scopes. Authorization, PKCE, codes, tokens, signing keys, discovery, JWKS and userinfo
// are the provider's. With idTokenClaims set, the harness plays a misbehaving provider: it rewrites
// those claims in the ID token the provider issued and signs it again with the provider's own key;
// POST /test/sign signs any claims with that key (a misbehaving provider's logout tokens).
// RP-initiated logout and back-channel logout are the provider's own.
import crypto from "node:crypto";
import http from "node:http";
import Provider from "oidc-provider";

const cfg = JSON.parse(process.env.OIDCTEST_CONFIG);
const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "oidctest-1", alg: "RS256", use: "sig" };
let next = {};
let down = false;

const b64 = (buf) => Buffer.from(buf).toString("base64url");

function sign(h, payload) {
  const input = `${h}.${b64(JSON.stringify(payload))}`;
  return `${input}.${b64(crypto.sign("sha256", Buffer.from(input), privateKey))}`;
}

function resign(jwt, claims) {
  const [h, p] = jwt.split(".");
  return sign(h, { ...JSON.parse(Buffer.from(p, "base64url")), ...claims });
}

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: cfg.clients,
    jwks: { keys: [jwk] },
    async findAccount(ctx, sub) {
      const claims = cfg.accounts[sub];
      return claims && { accountId: sub, claims: async () => ({ ...claims, sub }) };
    },
    claims: {
      openid: ["sub"],
      profile: ["name", "preferred_username"],
      email: ["email", "email_verified"],
      groups: ["groups", "areas", "unit"],
      roles: ["realm_access", "resource_access"],
    },
    scopes: ["openid", "profile", "email", "groups", "roles"],
    conformIdTokenClaims: !cfg.keycloakShaped,
    // As Keycloak: a refresh token at every sign-in of a client allowed the grant, no offline_access needed.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
    // The provider refuses to call special-use addresses (its SSRF guard); ioc runs on loopback in
    // the tests, so back-channel logout calls to 127.0.0.1 go out without that guard.
    fetch: (url, options) => {
      if (new URL(url).hostname === "127.0.0.1") delete options.dispatcher;
      return fetch(url, options);
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
  });
  provider.use(async (ctx, nextMiddleware) => {
    await nextMiddleware();
    if (ctx.path === "/token" && ctx.status === 200 && ctx.body?.id_token && next.idTokenClaims) {
      ctx.body = { ...ctx.body, id_token: resign(ctx.body.id_token, next.idTokenClaims) };
    }
  });
  const callback = provider.callback();
  server.on("request", async (req, res) => {
    try {
      if (req.method === "POST" && req.url === "/test/sign") {
        let body = "";
        for await (const chunk of req) body += chunk;
        const header = b64(JSON.stringify({ alg: "RS256", kid: jwk.kid, typ: "logout+jwt" }));
        res.writeHead(200, { "Content-Type": "application/jwt" }).end(sign(header, JSON.parse(body)));
        return;
      }
      if (req.method === "POST" && (req.url === "/test/account" || req.url === "/test/down")) {
        let body = "";
        for await (const chunk of req) body += chunk;
        const b = JSON.parse(body);
        if (req.url === "/test/down") down = b.down;
        else if (b.disabled) delete cfg.accounts[b.subject];
        else cfg.accounts[b.subject] = b.claims;
        res.writeHead(204).end();
        return;
      }
      if (down && !req.url.startsWith("/test/")) {
        res.writeHead(503, { "Content-Type": "text/plain" }).end("down for the test");
        return;
      }
      if (req.method === "POST" && req.url === "/test/next") {
        let body = "";
        for await (const chunk of req) body += chunk;
        next = JSON.parse(body);
        res.writeHead(204).end();
        return;
      }
      if (req.url.startsWith("/interaction/")) {
        const details = await provider.interactionDetails(req, res);
        if (next.error) {
          await provider.interactionFinished(req, res, { error: next.error, error_description: next.errorDescription || "" }, { mergeWithLastSubmission: false });
          return;
        }
        if (details.prompt.name === "login") {
          await provider.interactionFinished(req, res, { login: { accountId: next.account } }, { mergeWithLastSubmission: false });
          return;
        }
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        const missing = details.prompt.details;
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
        return;
      }
      callback(req, res);
    } catch (err) {
      res.writeHead(500, { "Content-Type": "text/plain" }).end(String(err));
    }
  });
  process.stdout.write(issuer + "\n");
});
process.stdin.on("end", () => process.exit(0)); // the test closed our stdin: it is done
process.stdin.resume();
