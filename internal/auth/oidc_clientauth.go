package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionTTL is how long a client assertion is valid; one is signed for every token request.
const assertionTTL = time.Minute

// maxTokenRequest bounds the token request body read back to add the assertion to.
const maxTokenRequest = 64 << 10

// clientKey is the private key ioc authenticates to the provider with (private_key_jwt).
type clientKey struct {
	signer jose.Signer
	alg    jose.SignatureAlgorithm
}

// loadClientKey reads the PEM private key at path (PKCS #8, PKCS #1 RSA or SEC 1 EC): RSA keys
// sign RS256, P-256 ES256, P-384 ES384. kid, when set, goes in the assertion's header.
func loadClientKey(path, kid string) (*clientKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oidc client key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("oidc client key %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc client key %s: %w", path, err)
	}
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("oidc client key %s: an RSA key needs 2048 bits at least, it has %d", path, k.N.BitLen())
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		default:
			return nil, fmt.Errorf("oidc client key %s: an EC key must be on P-256 or P-384", path)
		}
	default:
		return nil, fmt.Errorf("oidc client key %s: must be an RSA or EC key, is %T", path, key)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key.(crypto.Signer), KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("oidc client key %s: %w", path, err)
	}
	return &clientKey{signer: signer, alg: alg}, nil
}

// assertionTransport authenticates ioc's requests to the provider's token endpoint with a client
// assertion (private_key_jwt, RFC 7523 §2.2): a JWT signed with the client key, iss and sub the
// client id, aud the issuer, a fresh jti, a minute's validity. It is added to the form of every
// POST to tokenURL (code exchange and refresh alike); other requests pass unchanged.
type assertionTransport struct {
	next     http.RoundTripper
	key      *clientKey
	clientID string
	issuer   string
	tokenURL func() string // the token endpoint, once discovered
	// now is the wall clock: the assertion's times are checked by the provider's clock, not ioc's
	// (an injected clock that tests move would date them in the provider's future).
	now func() time.Time
}

func (t *assertionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || req.URL.String() != t.tokenURL() {
		return t.next.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxTokenRequest))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("oidc token request: %w", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("oidc token request: %w", err)
	}
	jti, err := randomString()
	if err != nil {
		return nil, err
	}
	now := t.now()
	assertion, err := jwt.Signed(t.key.signer).Claims(jwt.Claims{Issuer: t.clientID, Subject: t.clientID,
		Audience: jwt.Audience{t.issuer}, ID: jti, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(assertionTTL))}).Serialize()
	if err != nil {
		return nil, fmt.Errorf("oidc client assertion: %w", err)
	}
	form.Set("client_id", t.clientID)
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", assertion)
	form.Del("client_secret")
	enc := form.Encode()
	r := req.Clone(req.Context())
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(enc)), int64(len(enc))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(enc))), nil }
	r.Header.Del("Authorization") // no client_secret_basic beside the assertion
	return t.next.RoundTrip(r)
}
