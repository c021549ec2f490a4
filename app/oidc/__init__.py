"""PURE OAuth 2.0 / OpenID Connect rules for the VNeID-style provider.

No web framework, database or settings imports: every function takes values (frozen dataclasses,
strings) plus ``now``, keys and the issuer as keyword-only arguments and returns values or raises
an :class:`app.oidc.errors.OAuthError` (or a module-specific error documented in the module).

Modules:

* ``errors``         RFC 6749 §4.1.2.1/§5.2, RFC 6750 §3, OIDC Core §3.1.2.6 error family.
* ``pkce``           RFC 7636 (S256 only).
* ``keys``           signing keys, rotation, the public JWK Set (RFC 7517, RFC 7638).
* ``jwt_policy``     strict JWS verification shared by every token kind (RFC 8725).
* ``tokens``         ID tokens (OIDC Core §2), access tokens (RFC 9068), logout tokens.
* ``scopes``         scope syntax and narrowing (RFC 6749 §3.3, §6).
* ``claims``         scope -> claims, pairwise ``sub`` (OIDC Core §5.4, §8.1).
* ``claims_request`` the ``claims`` request parameter (OIDC Core §5.5).
* ``clients``        the ``ClientView`` value the registry hands to these rules.
* ``authorize``      authorization request validation and redirects (OIDC Core §3.1.2, RFC 9207).
* ``interaction``    prompt / max_age / acr decisions after the request is valid.
* ``codes``          authorization codes, refresh-token rotation (RFC 6749 §4.1.3, §6;
                     RFC 9700 §4.14).
* ``client_auth``    client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523).
* ``discovery``      the OpenID Provider metadata document (OIDC Discovery §3, RFC 8414).
* ``introspection``  RFC 7662 responses.
"""
