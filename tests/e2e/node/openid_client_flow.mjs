// openid-client v6 and jose, with their defaults, as a relying party of dancu-sandbox: discovery,
// login (code flow, PKCE S256, state, nonce), ID-token validation, userinfo, refresh,
// introspection, revocation, end-session URL. The one forced choice: allowInsecureRequests,
// because the test server's issuer is http on loopback (openid-client refuses http otherwise).
// Prints one JSON line of what each step gave, for the pytest that runs it.
import * as client from 'openid-client';
import * as jose from 'jose';

const [issuer, clientId, clientSecret, redirectUri, pin] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
  { execute: [client.allowInsecureRequests] });

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile offline_access', prompt: 'consent',
  code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
});
// The user: X-Sandbox-Login stands for the citizen's login in a browser.
const answer = await fetch(url, { headers: { 'X-Sandbox-Login': pin }, redirect: 'manual' });
const callback = new URL(answer.headers.get('location'));
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
});
const claims = tokens.claims();
const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
const verified = await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience: clientId });
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const introspected = await client.tokenIntrospection(config, refreshed.access_token);
await client.tokenRevocation(config, refreshed.access_token);
const revoked = await client.tokenIntrospection(config, refreshed.access_token);
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: redirectUri,
});
const loggedOut = await fetch(endSession, { redirect: 'manual' });

console.log(JSON.stringify({
  sub: claims.sub, alg: verified.protectedHeader.alg, joseSub: verified.payload.sub,
  userinfoSub: info.sub, name: info.name, refreshed: Boolean(refreshed.access_token),
  active: introspected.active, activeAfterRevocation: revoked.active,
  logoutStatus: loggedOut.status, logoutLocation: loggedOut.headers.get('location'),
}));
